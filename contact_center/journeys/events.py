"""Journey events: what the portal reports, validated at the boundary, read from JSON Lines or CSV.

An event is ``{"event_id", "journey_id", "citizen_ref", "procedure", "step", "type", "ts", "channel",
"language"}``. Events carry no personal data: any other field is refused (an ``email`` slipped into an
event would otherwise end up in the store). ``citizen_ref`` is a pseudonymous reference that the
contact lookup turns into an address only when a nudge is sent.

Validation is a hand-written function rather than a pydantic model because it runs once per event on
files of millions of lines; the reasons it gives are meant for the person who produced the file.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, cast, get_args

from contact_center.errors import EventValidationError

__all__ = [
    "EVENT_FIELDS",
    "EVENT_TYPES",
    "MAX_EPOCH",
    "MIN_EPOCH",
    "EventFormat",
    "EventType",
    "JourneyEvent",
    "RejectedEvent",
    "check_unicode",
    "csv_column_names",
    "csv_delimiter",
    "parse_event",
    "read_events",
    "read_events_from_lines",
]

EventType = Literal[
    "started", "step_viewed", "step_completed", "submitted", "paid", "completed", "ineligible", "cancelled"
]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))
EVENT_FIELDS: tuple[str, ...] = (
    "event_id",
    "journey_id",
    "citizen_ref",
    "procedure",
    "step",
    "type",
    "ts",
    "channel",
    "language",
)
EventFormat = Literal["jsonl", "csv"]

_REQUIRED = ("event_id", "journey_id", "procedure", "type", "ts")
_REQUIRED_SET = frozenset(_REQUIRED)
_STEP_REQUIRED = frozenset({"step_viewed", "step_completed"})
_ALLOWED = frozenset(EVENT_FIELDS)
_MAX_LEN = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOO_DEEP = "not an event: JSON nested too deeply; an event is one flat JSON object"
# The instants a datetime can show in UTC: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_EPOCH = -62135596800.0
MAX_EPOCH = 253402300799.0


@dataclass(frozen=True, slots=True)
class JourneyEvent:
    """One validated event. ``ts`` is timezone-aware; ``ts_epoch`` is the same instant in UTC seconds."""

    event_id: str
    journey_id: str
    citizen_ref: str | None
    procedure: str
    step: str | None
    type: str
    ts: datetime
    channel: str | None
    language: str | None

    @property
    def ts_epoch(self) -> float:
        """Seconds since the epoch (UTC), as stored."""
        return self.ts.timestamp()


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event that was not stored: where it was (1-based line or batch index) and why."""

    line: int
    reason: str
    event_id: str | None = None

    def __str__(self) -> str:
        ident = f" (event_id {self.event_id})" if self.event_id else ""
        return f"line {self.line}{ident}: {self.reason}"


def parse_event(raw: object) -> JourneyEvent:
    """Validate one event given as a mapping; raise ValueError with the reason when it is unusable.

    >>> parse_event({"event_id": "e1", "journey_id": "j1", "procedure": "p", "type": "started",
    ...              "ts": "2026-10-01T09:00:00+02:00"}).type
    'started'
    """
    if not isinstance(raw, dict):
        raise ValueError(f"expected a JSON object, got {_json_kind(raw)}")
    if not _ALLOWED.issuperset(raw):
        key = next(k for k in raw if k not in _ALLOWED)
        raise ValueError(
            f"unknown field {key!r}: events carry no personal data; allowed fields are {', '.join(EVENT_FIELDS)}"
        )
    get = raw.get
    event_id, journey_id, procedure, kind, ts_text = (
        get("event_id"),
        get("journey_id"),
        get("procedure"),
        get("type"),
        get("ts"),
    )
    citizen_ref, step, channel, language = (
        get("citizen_ref") or None,
        get("step") or None,
        get("channel") or None,
        get("language") or None,
    )
    # One pass over the values: this function runs once per event on million-line files.
    for key, value in (
        ("event_id", event_id),
        ("journey_id", journey_id),
        ("procedure", procedure),
        ("type", kind),
        ("ts", ts_text),
        ("citizen_ref", citizen_ref),
        ("step", step),
        ("channel", channel),
        ("language", language),
    ):
        if value.__class__ is not str:
            if value is None or value == "":
                if key in _REQUIRED_SET:
                    raise ValueError(f"missing {key!r}")
                continue
            if not isinstance(value, str):
                raise ValueError(f"{key!r} must be a string, got {json.dumps(value)[:40]}")
        if not value:
            raise ValueError(f"missing {key!r}")
        if len(value) > _MAX_LEN:
            raise ValueError(f"{key!r} is longer than {_MAX_LEN} characters")
        # isprintable() first: it is quick, and rarely False. A line break in a journey_id would reach
        # the nudge's mail headers and stop the nudge run.
        control = None if value.isprintable() else _CONTROL.search(value)
        if control is not None:
            raise ValueError(
                f"{key!r} holds a control character ({control[0]!r}); identifiers and labels are one line of text"
            )
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown type {kind!r}; expected one of {', '.join(sorted(EVENT_TYPES))}")
    if step is None and kind in _STEP_REQUIRED:
        raise ValueError(f"a {kind} event needs a 'step'")
    try:
        ts = datetime.fromisoformat(cast(str, ts_text))
    except ValueError:
        raise ValueError(
            f"'ts' {ts_text!r} is not an ISO 8601 timestamp (like 2026-10-01T09:30:00+02:00)"
        ) from None
    if ts.tzinfo is None:
        raise ValueError(
            f"'ts' {ts_text!r} has no timezone, so the instant is ambiguous; add 'Z' or an offset such as +02:00"
        )
    if not MIN_EPOCH <= ts.timestamp() <= MAX_EPOCH:
        # Year 1 at +01:00 is year 0 in UTC: stored, it would break every report that shows the instant.
        raise ValueError(
            f"'ts' {ts_text!r} is outside the years 1 to 9999 once in UTC; check the producer's clock"
        )
    return JourneyEvent(
        cast(str, event_id),
        cast(str, journey_id),
        citizen_ref,
        cast(str, procedure),
        step,
        kind,
        ts,
        channel,
        language.lower() if language else None,
    )


def _json_kind(value: object) -> str:
    """What a decoded JSON value was, in the producer's terms (not Python's NoneType or list)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__


def check_unicode(raw: object) -> None:
    """Raise ValueError when a decoded JSON value holds a lone surrogate (``"\\ud800"`` escaped alone).

    Python's ``json`` decodes such an escape, but it is not Unicode text: no database stores it. Callers
    run this only when the JSON text holds a ``\\u`` escape, the one way to write a surrogate.
    """
    try:
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "a \\u escape in the event is half of a surrogate pair, not a character; fix the producer's "
            "JSON encoding"
        ) from None


def _numbered(raw: object, line: int, escapes: bool = False) -> JourneyEvent | RejectedEvent:
    try:
        if escapes:
            check_unicode(raw)
        return parse_event(raw)
    except ValueError as exc:
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        return RejectedEvent(line, str(exc), event_id if isinstance(event_id, str) else None)


def _jsonl(lines: Iterable[str]) -> Iterator[JourneyEvent | RejectedEvent]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RejectedEvent(number, f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        except RecursionError:
            # Python's json gives up on deep nesting this way; an event is one flat object.
            yield RejectedEvent(number, _TOO_DEEP)
            continue
        yield _numbered(raw, number, "\\u" in line)


def _csv(lines: Iterable[str]) -> Iterator[JourneyEvent | RejectedEvent]:
    rest = iter(lines)
    first = next(rest, None)
    if first is None:
        return
    delimiter = csv_delimiter(first, _event_columns)
    reader = csv.reader(itertools.chain([first], rest), delimiter=delimiter)
    cells = next(reader)
    try:
        header = csv_column_names(cells, delimiter)
    except ValueError as exc:
        raise EventValidationError(f"line 1: {exc}") from None
    unknown = [cell.strip() for cell, h in zip(cells, header, strict=True) if h not in _ALLOWED]
    if unknown:
        raise EventValidationError(
            f"line 1: unknown CSV column {unknown[0]!r}; allowed columns are {', '.join(EVENT_FIELDS)}"
        )
    missing = [h for h in _REQUIRED if h not in header]
    if missing:
        raise EventValidationError(f"line 1: the CSV header lacks the required column {missing[0]!r}")
    width = len(header)
    for row in reader:
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:
            yield RejectedEvent(line, f"expected {width} columns as in the header, got {len(row)}")
            continue
        yield _numbered(dict(zip(header, row, strict=True)), line)


def csv_delimiter(header_line: str, is_header: Callable[[list[str]], bool]) -> str:
    """',' or ';' (Excel's "CSV" in French or Dutch): ';' when commas leave the header one column and
    the cells ';' splits it into pass ``is_header``."""
    by_comma = next(csv.reader([header_line]), [])
    if len(by_comma) == 1 and is_header(next(csv.reader([header_line], delimiter=";"), [])):
        return ";"
    return ","


def csv_column_names(cells: list[str], delimiter: str = ",") -> list[str]:
    """The column names of a CSV header as the readers match them: without surrounding spaces and in
    lower case, so that ``Event_ID`` or `` ts `` name ``event_id`` and ``ts``.

    Raises ValueError, saying which column and what to do, for a column without a name (often a
    delimiter at the end of the header line) and for a name given twice (a reader would keep the last
    cell of the two without a word).

    >>> csv_column_names(["Event_ID", " ts "])
    ['event_id', 'ts']
    """
    names = [cell.strip().lower() for cell in cells]
    for position, name in enumerate(names, start=1):
        if name:
            continue
        if position == len(names) and position > 1:
            raise ValueError(
                f"column {position} of the CSV header has no name: the header line ends with "
                f"{delimiter!r}; remove the {delimiter!r} at the end of the header (and of every line "
                "that has one), or name the column"
            )
        raise ValueError(
            f"column {position} of the CSV header has no name; name it, or delete that column "
            f"(its {delimiter!r} on every line)"
        )
    for position, name in enumerate(names):
        if name in names[:position]:
            first = cells[names.index(name)].strip()
            again = cells[position].strip()
            spelt = f" (as {first!r} and {again!r})" if first != again else ""
            raise ValueError(
                f"the CSV header names the column {name!r} twice{spelt}; keep one of the two columns"
            )
    return names


def _event_columns(cells: list[str]) -> bool:
    names = {h.strip().lower() for h in cells} - {""}
    return len(cells) > 1 and bool(names) and _ALLOWED.issuperset(names)


def read_events_from_lines(lines: Iterable[str]) -> Iterator[JourneyEvent | RejectedEvent]:
    """The events of JSON Lines text given line by line (numbered from 1), each valid or rejected."""
    return _jsonl(lines)


def read_events(path: str | Path, fmt: EventFormat | None = None) -> Iterator[JourneyEvent | RejectedEvent]:
    """Stream the events of a JSON Lines or CSV file, each valid or rejected with its line number.

    The format follows the suffix (``.csv``, else JSON Lines) unless ``fmt`` is given. Raises
    EventValidationError only when the file as a whole is unusable (missing, or a CSV header that
    names unknown columns, a column twice or a column without a name); column names are matched
    without surrounding spaces and in any case (``Event_ID`` is ``event_id``). A bad line is yielded
    as a :class:`RejectedEvent` and reading goes on.
    """
    p = Path(path)
    chosen: EventFormat = fmt or ("csv" if p.suffix.lower() == ".csv" else "jsonl")
    try:
        handle = p.open(encoding="utf-8-sig", newline="" if chosen == "csv" else None)
    except OSError as exc:
        raise EventValidationError(f"{p}: cannot read the events file: {exc.strerror or exc}") from exc
    with handle:
        try:
            yield from (_csv(handle) if chosen == "csv" else _jsonl(handle))
        except UnicodeDecodeError as exc:
            raise EventValidationError(f"{p}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from exc
