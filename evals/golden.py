"""The golden set: questions with the documents and facts a good answer rests on.

One JSON object a line::

    {"id": "fr-001", "question": "Combien coûte une carte d'identité ?", "language": "fr",
     "gold_doc_ids": ["carte-identite"], "answer_facts": ["25 €"], "kind": "factual"}

``expected_decision`` defaults to ``abstain`` when ``gold_doc_ids`` is empty, else ``answer``; ``turns``
(the earlier questions of a conversation) and ``tags`` are optional; unknown fields are kept in
:attr:`GoldenItem.extra`. A set with any malformed line is refused as a whole, every bad line reported
with its number, so that nobody evaluates a partial set without noticing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from contact_center.errors import EvaluationError
from contact_center.models import Decision

__all__ = [
    "DEFAULT_GOLDEN",
    "KINDS",
    "GoldenItem",
    "GoldenSet",
    "GoldenSetError",
    "Kind",
    "load_golden",
    "parse_golden",
]

Kind = Literal["factual", "procedural", "multi_doc", "cross_lingual", "out_of_scope", "follow_up"]
KINDS: tuple[str, ...] = get_args(Kind)
_DECISIONS: tuple[str, ...] = get_args(Decision)

DEFAULT_GOLDEN = Path(__file__).parent / "golden" / "sample.jsonl"
"""The golden set of the bundled sample knowledge base."""

_KNOWN_FIELDS = frozenset(
    {
        "id",
        "question",
        "language",
        "gold_doc_ids",
        "answer_facts",
        "kind",
        "expected_decision",
        "turns",
        "tags",
    }
)


class GoldenSetError(EvaluationError):
    """A golden set that cannot be used; ``problems`` lists ``(line, message)`` for every bad line.

    Line 0 stands for the file as a whole (missing, unreadable, empty).
    """

    def __init__(self, path: str, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        shown = "\n".join(
            f"  {path}:{line}: {msg}" if line else f"  {path}: {msg}" for line, msg in problems[:20]
        )
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(
            f"golden set {path} has {len(problems)} problem(s); fix them and run again "
            f"(no item was evaluated):\n{shown}{more}"
        )


@dataclass(frozen=True)
class GoldenItem:
    """One evaluation question and what a good reply to it contains."""

    id: str
    question: str
    language: str
    kind: Kind
    gold_doc_ids: tuple[str, ...] = ()
    answer_facts: tuple[str, ...] = ()
    expected_decision: Decision = "answer"
    turns: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The item as it would be written back to a golden file (unknown fields included)."""
        out: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "language": self.language,
            "gold_doc_ids": list(self.gold_doc_ids),
            "answer_facts": list(self.answer_facts),
            "kind": self.kind,
            "expected_decision": self.expected_decision,
        }
        if self.turns:
            out["turns"] = list(self.turns)
        if self.tags:
            out["tags"] = list(self.tags)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class GoldenSet:
    """A validated golden set, with the hash of the exact bytes it was read from."""

    path: str
    sha256: str
    items: tuple[GoldenItem, ...]

    def __len__(self) -> int:
        return len(self.items)


def _str_list(obj: dict[str, Any], name: str, problems: list[str]) -> tuple[str, ...]:
    value = obj.get(name, [])
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"'{name}' must be a list of non-empty strings, got {json.dumps(value)[:80]}")
        return ()
    return tuple(v.strip() for v in value)


def _parse_item(obj: Any, line: int) -> tuple[GoldenItem | None, list[str]]:
    problems: list[str] = []
    if not isinstance(obj, dict):
        return None, [f"expected a JSON object, got {type(obj).__name__}"]
    for name in ("id", "question", "language", "kind"):
        value = obj.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"'{name}' is missing or not a non-empty string")
    if "gold_doc_ids" not in obj:
        problems.append("'gold_doc_ids' is missing (use [] for a question the knowledge base does not cover)")
    if "answer_facts" not in obj:
        problems.append("'answer_facts' is missing (use [] when no fact is expected)")
    gold = _str_list(obj, "gold_doc_ids", problems)
    facts = _str_list(obj, "answer_facts", problems)
    turns = _str_list(obj, "turns", problems)
    tags = _str_list(obj, "tags", problems)
    kind = obj.get("kind")
    if isinstance(kind, str) and kind.strip() and kind not in KINDS:
        problems.append(f"unknown kind '{kind}'; use one of {', '.join(KINDS)}")
    decision = obj.get("expected_decision")
    if decision is None:
        decision = "answer" if gold else "abstain"
    elif decision not in _DECISIONS:
        problems.append(f"unknown expected_decision '{decision}'; use one of {', '.join(_DECISIONS)}")
    if problems:
        return None, problems
    item = GoldenItem(
        id=obj["id"].strip(),
        question=obj["question"].strip(),
        language=obj["language"].strip().lower(),
        kind=kind,  # type: ignore[arg-type]  # checked against KINDS above
        gold_doc_ids=gold,
        answer_facts=facts,
        expected_decision=decision,  # type: ignore[arg-type]  # checked against _DECISIONS above
        turns=turns,
        tags=tags,
        line=line,
        extra={k: v for k, v in obj.items() if k not in _KNOWN_FIELDS},
    )
    return item, []


def parse_golden(text: str, *, path: str = "<golden>") -> GoldenSet:
    """Validate a golden set given as JSONL text; raise :class:`GoldenSetError` listing every bad line.

    Blank lines and lines starting with ``#`` or ``//`` are ignored.

    >>> s = parse_golden('{"id": "a", "question": "Q?", "language": "fr", "gold_doc_ids": [], '
    ...                  '"answer_facts": [], "kind": "out_of_scope"}')
    >>> s.items[0].expected_decision
    'abstain'
    """
    problems: list[tuple[int, str]] = []
    items: list[GoldenItem] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(("#", "//")):
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            problems.append((number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        item, item_problems = _parse_item(obj, number)
        problems.extend((number, p) for p in item_problems)
        if item is None:
            continue
        if item.id in seen:
            problems.append((number, f"duplicate id '{item.id}' (first on line {seen[item.id]})"))
            continue
        seen[item.id] = number
        items.append(item)
    if not items and not problems:
        problems.append((0, "contains no item"))
    if problems:
        raise GoldenSetError(path, problems)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return GoldenSet(path=path, sha256=digest, items=tuple(items))


def load_golden(path: str | Path = DEFAULT_GOLDEN) -> GoldenSet:
    """Read and validate a golden set file (default: the sample knowledge base's set)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise GoldenSetError(str(p), [(0, "file not found; give the path of a .jsonl golden set")]) from None
    except OSError as exc:
        raise GoldenSetError(str(p), [(0, f"cannot be read: {exc.strerror}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise GoldenSetError(str(p), [(line, "not UTF-8 text; save the file as UTF-8")]) from None
    golden = parse_golden(text, path=str(p))
    # Hash the bytes, not the decoded text, so that the manifest names exactly the file that was read.
    return GoldenSet(path=golden.path, sha256=hashlib.sha256(data).hexdigest(), items=golden.items)
