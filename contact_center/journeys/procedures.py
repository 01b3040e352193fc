"""The procedures file: each online procedure's ordered steps, idle window and resume URL.

Example file::

    procedures:
      marriage-declaration:
        title: {fr: "Déclaration de mariage", nl: "Huwelijksaangifte", en: "Marriage declaration"}
        topic: etat-civil
        steps: [identity, civil-status, documents, appointment, payment]
        idle_window: 48h
        resume_url: "https://example.brussels/procedures/marriage/{journey_id}/{step}"

Every problem is reported as a :class:`~contact_center.errors.ProceduresFileError` naming the file and the
path to the bad field (``procedures.marriage-declaration.steps[3]``), so a service owner can fix it
without reading code.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contact_center.errors import ProceduresFileError

__all__ = ["Procedure", "ProcedureCatalog", "load_procedures", "parse_duration", "parse_procedures"]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_FIELDS = ("title", "topic", "steps", "step_titles", "idle_window", "resume_url")
_REQUIRED = ("steps", "idle_window", "resume_url")
_URL_FIELDS = frozenset({"journey_id", "step", "procedure"})
_MAX_DURATION = 3650 * 24 * 3600


class _Loader(yaml.SafeLoader):
    """YAML's safe loader without base-60 numbers: YAML 1.1 reads ``idle_window: 1:30`` as 90 (seconds)."""


_INT = "tag:yaml.org,2002:int"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _INT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)


def parse_duration(value: object) -> int:
    """Seconds in a duration such as ``48h``, ``90m``, ``2d``, ``1d12h`` or a plain number of seconds.

    Raises ValueError with the reason for anything else (a negative, zero or unitless string, or more
    than ten years).

    >>> parse_duration("1d12h")
    129600
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write it like 48h, 90m or 2d")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        seconds = int(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not value.strip() or match is None or not any(match.groups()):
            raise ValueError(f"{value!r} is not a duration; write it like 48h, 90m, 2d or 1d12h")
        d, h, m, s = (int(g) if g else 0 for g in match.groups())
        seconds = ((d * 24 + h) * 60 + m) * 60 + s
    else:
        raise ValueError(f"{value!r} is not a duration; write it like 48h, 90m or 2d")
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    if seconds > _MAX_DURATION:
        # A few digits too many: no idle or conversion window lasts that long, and date arithmetic
        # on it would overflow far from here.
        raise ValueError(f"{value!r} is longer than ten years (3650d); check the number")
    return seconds


@dataclass(frozen=True, slots=True)
class Procedure:
    """One online procedure: its steps in order, how long a journey may idle, and where to resume it.

    Attributes:
        slug: the procedure's id, as events name it (``marriage-declaration``).
        steps: step names in the order a citizen meets them.
        idle_seconds: a journey idle longer than this, without a terminal event, is abandoned.
        resume_url: template with ``{journey_id}``, ``{step}`` and optionally ``{procedure}``.
        titles: the procedure's title by language (used in nudges and knowledge-base queries).
        topic: knowledge-base topic used to filter help passages (``etat-civil``), or None.
        step_titles: per step, a label by language (``{"documents": {"en": "documents to bring"}}``).
    """

    slug: str
    steps: tuple[str, ...]
    idle_seconds: int
    resume_url: str
    titles: Mapping[str, str] = field(default_factory=dict)
    topic: str | None = None
    step_titles: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def title(self, language: str | None) -> str:
        """The title in ``language``, else in English, French or Dutch, else a readable slug."""
        for lang in (language, "en", "fr", "nl"):
            if lang and lang in self.titles:
                return self.titles[lang]
        if self.titles:
            return next(iter(self.titles.values()))
        return self.slug.replace("-", " ").replace("_", " ")

    def step_title(self, step: str, language: str | None) -> str:
        """The step's label in ``language`` (same fallback as :meth:`title`), else the step name."""
        labels = self.step_titles.get(step, {})
        for lang in (language, "en", "fr", "nl"):
            if lang and lang in labels:
                return labels[lang]
        return step.replace("-", " ").replace("_", " ")

    def position(self, step: str) -> int:
        """1-based position of ``step``; raises KeyError for a step this procedure does not have."""
        try:
            return self.steps.index(step) + 1
        except ValueError:
            raise KeyError(step) from None

    def to_dict(self) -> dict[str, Any]:
        """The definition as it would be written in the procedures file (for storage and display)."""
        out: dict[str, Any] = {
            "steps": list(self.steps),
            "idle_window": f"{self.idle_seconds}s",
            "resume_url": self.resume_url,
        }
        if self.titles:
            out["title"] = dict(self.titles)
        if self.topic:
            out["topic"] = self.topic
        if self.step_titles:
            out["step_titles"] = {k: dict(v) for k, v in self.step_titles.items()}
        return out


class ProcedureCatalog(Mapping[str, Procedure]):
    """The procedures known to the store, by slug (a read-only mapping)."""

    def __init__(self, procedures: Mapping[str, Procedure] | None = None) -> None:
        self._by_slug: dict[str, Procedure] = dict(procedures or {})

    def __getitem__(self, slug: str) -> Procedure:
        return self._by_slug[slug]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_slug)

    def __len__(self) -> int:
        return len(self._by_slug)

    def require(self, slug: str) -> Procedure:
        """The procedure ``slug``, or a :class:`ProceduresFileError` listing the known ones."""
        try:
            return self._by_slug[slug]
        except KeyError:
            known = ", ".join(sorted(self._by_slug)) or "none yet"
            hint = _did_you_mean(slug, self._by_slug)
            raise ProceduresFileError(
                f"unknown procedure {slug!r}{hint}. Known procedures: {known}. "
                "Register procedures with `contact-center journeys procedures FILE`."
            ) from None


def _did_you_mean(word: str, choices: object) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)  # type: ignore[attr-defined]
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_procedures(path: str | Path) -> ProcedureCatalog:
    """Read and validate a procedures YAML file.

    Raises ProceduresFileError naming the file and the path to the bad field: a missing file, YAML that
    does not parse, an unknown field, a step listed twice (the steps would form a cycle), a bad idle
    window or a resume URL without ``{journey_id}``.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProceduresFileError(f"{p}: cannot read the procedures file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ProceduresFileError(
            f"{p}: not UTF-8 text (byte {exc.start + 1}: {exc.reason}); save the file as UTF-8"
        ) from exc
    try:
        # YAML keeps the last of two equal keys without a word: a procedure block copied and not
        # renamed would replace the first one. Refuse duplicates, with both lines.
        duplicate = _duplicate_key(yaml.compose(text, Loader=_Loader), "")
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ProceduresFileError(f"{p}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if duplicate is not None:
        where, line, first = duplicate
        raise ProceduresFileError(
            f"{p}: {where}: written twice, at line {line} (first at line {first}); "
            "keep one, or give the copy its own name"
        )
    return parse_procedures(data, source=str(p))


def _duplicate_key(node: yaml.Node | None, path: str) -> tuple[str, int, int] | None:
    """The first key written twice in one mapping: (path to it, its line, the first one's line)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            where = f"{path}.{name}" if path else str(name)
            if name is not None and name != "<<":
                if name in seen:
                    return where, key.start_mark.line + 1, seen[name]
                seen[name] = key.start_mark.line + 1
            found = _duplicate_key(value, where)
            if found is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _duplicate_key(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def parse_procedures(data: object, *, source: str = "<procedures>") -> ProcedureCatalog:
    """Validate an already-parsed procedures document (the mapping under a ``procedures:`` key)."""

    def fail(where: str, message: str) -> ProceduresFileError:
        return ProceduresFileError(f"{source}: {where}: {message}")

    if not isinstance(data, dict) or set(data) != {"procedures"}:
        extra = sorted(set(data) - {"procedures"}) if isinstance(data, dict) else []
        detail = f" (unknown top-level field {extra[0]!r})" if extra else ""
        raise fail("(top level)", f"expected a mapping with a single key 'procedures'{detail}")
    procs = data["procedures"]
    if not isinstance(procs, dict) or not procs:
        raise fail("procedures", "expected a non-empty mapping of procedure slug to definition")
    out: dict[str, Procedure] = {}
    for slug, spec in procs.items():
        base = f"procedures.{slug}"
        if not isinstance(slug, str) or not _SLUG.match(slug):
            raise fail(
                base, "a procedure slug is lowercase letters, digits, '-' or '_' (like marriage-declaration)"
            )
        if not isinstance(spec, dict):
            raise fail(base, "expected a mapping with steps, idle_window and resume_url")
        for key in spec:
            if key not in _FIELDS:
                raise fail(
                    f"{base}.{key}",
                    f"unknown field{_did_you_mean(str(key), _FIELDS)}; allowed: {', '.join(_FIELDS)}",
                )
        for key in _REQUIRED:
            if key not in spec:
                raise fail(
                    f"{base}.{key}", "missing; every procedure needs steps, idle_window and resume_url"
                )
        steps = _parse_steps(spec["steps"], f"{base}.steps", fail)
        try:
            idle = parse_duration(spec["idle_window"])
        except ValueError as exc:
            raise fail(f"{base}.idle_window", str(exc)) from None
        resume_url = _parse_url(spec["resume_url"], f"{base}.resume_url", fail)
        titles = _parse_labels(spec.get("title"), f"{base}.title", fail)
        topic = spec.get("topic")
        if topic is not None and (not isinstance(topic, str) or not topic.strip()):
            raise fail(f"{base}.topic", "expected a knowledge-base topic name such as etat-civil")
        step_titles_raw = spec.get("step_titles") or {}
        if not isinstance(step_titles_raw, dict):
            raise fail(f"{base}.step_titles", "expected a mapping of step name to label")
        step_titles: dict[str, dict[str, str]] = {}
        for step, label in step_titles_raw.items():
            if step not in steps:
                raise fail(
                    f"{base}.step_titles.{step}",
                    f"not one of this procedure's steps{_did_you_mean(str(step), steps)}",
                )
            step_titles[step] = _parse_labels(label, f"{base}.step_titles.{step}", fail)
        out[slug] = Procedure(slug, steps, idle, resume_url, titles, topic, step_titles)
    return ProcedureCatalog(out)


def _parse_steps(raw: object, where: str, fail: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail(where, "expected a non-empty list of step names in the order citizens meet them")
    seen: dict[str, int] = {}
    for i, step in enumerate(raw):
        if not isinstance(step, str) or not _SLUG.match(step):
            raise fail(
                f"{where}[{i}]", f"{step!r} is not a step name (lowercase letters, digits, '-' or '_')"
            )
        if step in seen:
            raise fail(
                f"{where}[{i}]",
                f"step {step!r} comes back after {raw[i - 1]!r} (first at [{seen[step]}]): the steps would form "
                "a cycle. List each step once, in order; a citizen going back is recorded by the events.",
            )
        seen[step] = i
    return tuple(raw)


def _parse_url(raw: object, where: str, fail: Any) -> str:
    if not isinstance(raw, str) or not raw.startswith(("https://", "http://")):
        raise fail(
            where, "expected an http(s) URL template such as https://example.brussels/p/{journey_id}/{step}"
        )
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(raw) if name is not None}
    except ValueError as exc:
        raise fail(where, f"bad placeholder: {exc}") from None
    unknown = names - _URL_FIELDS
    if unknown:
        raise fail(
            where,
            f"unknown placeholder {{{sorted(unknown)[0]}}}; allowed: {{journey_id}}, {{step}}, {{procedure}}",
        )
    if "journey_id" not in names:
        raise fail(where, "the URL must contain {journey_id} so the link resumes the citizen's own journey")
    return raw


def _parse_labels(raw: object, where: str, fail: Any) -> dict[str, str]:
    # A label is one line (an e-mail subject carries it): a YAML block scalar (``fr: >``) ends with a
    # newline, and no mail header may hold one.
    if raw is None:
        return {}
    if isinstance(raw, str):
        return {"en": " ".join(raw.split())}
    if isinstance(raw, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        return {k: " ".join(v.split()) for k, v in raw.items()}
    raise fail(where, "expected a string or a mapping of language to text ({fr: ..., nl: ..., en: ...})")
