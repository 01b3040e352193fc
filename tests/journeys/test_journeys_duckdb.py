"""The DuckDB store's own paths: JSON Lines checked inside the engine must give exactly what the Python
parser gives, line numbers and reasons included; the file lock shared between processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from contact_center.errors import EventValidationError, JourneyError
from contact_center.journeys import IngestResult, JourneyStore, compute_funnel, load_procedures, read_events
from contact_center.journeys import store as store_module
from contact_center.settings import Settings
from tests.journeys.journeys_helpers import GOOD_EVENT, PROCEDURES_YAML, T0, random_journeys

GOOD = GOOD_EVENT


def _line(**changes: Any) -> str:
    event = {**GOOD, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not ...}, ensure_ascii=False)


# Each line is something a producer could send; the comment says what the Python parser makes of it.
NASTY_LINES = [
    _line(event_id="ok-compact").replace(", ", ",").replace(": ", ":"),  # stored
    _line(event_id="ok-spaced"),  # stored
    "",  # skipped, not counted
    "   ",  # skipped
    "  " + _line(event_id="ok-leading-space"),  # stored
    _line(event_id="ok-space-in-ts", ts="2026-10-05 10:00:00+02:00"),  # stored
    _line(event_id="ok-z-and-fraction", ts="2026-10-05T08:00:00.123456Z"),  # stored
    _line(event_id="ok-basic-offset", ts="2026-10-05T10:00:00+0200"),  # stored (Python 3.11 accepts it)
    _line(event_id="ok-escaped", journey_id="j\u00e9", channel="k\\"),  # stored
    _line(event_id="ok-ascii-escapes").replace("identity", "\\u0069dentity"),  # stored as "identity"
    _line(event_id="ok-upper-language", language="NL"),  # stored, language "nl"
    _line(event_id="ok-empty-optionals", citizen_ref="", channel=""),  # stored, both None
    _line(event_id="ok-null-optionals", citizen_ref=None, language=None),  # stored
    _line(event_id="ok-no-optionals", citizen_ref=..., channel=..., language=..., step=..., type="started"),
    _line(event_id="ok-quote-colon-digit", channel='say ":5 to me'),  # stored (escaped quote then colon)
    _line(event_id="ok-unknown-step", step="selfie"),  # stored, flagged
    _line(event_id="ok-unknown-procedure", procedure="dog-licence"),  # stored, flagged
    _line(event_id="ok-max-length", journey_id="j" * 200),  # stored
    _line(event_id="ok-max-chars", journey_id="é" * 200),  # stored: 200 characters, 400 bytes
    _line(event_id="dup-in-file"),  # stored once
    _line(event_id="dup-in-file"),  # a duplicate
    "{not json",  # rejected: not valid JSON
    "[1, 2]",  # rejected: not an object
    '"just a string"',  # rejected
    _line(event_id="bad-unknown-field").replace("{", '{"email": "x@example.org", ', 1),  # rejected
    _line(event_id="bad-number", journey_id=42),  # rejected: must be a string
    _line(event_id="bad-bool-optional", channel=True),  # rejected
    _line(event_id="bad-object", step={"name": "identity"}),  # rejected
    _line(event_id="bad-null-required", journey_id=None),  # rejected: missing
    _line(event_id="bad-empty-required", procedure=""),  # rejected: missing
    _line(event_id="bad-type", type="abandoned"),  # rejected: unknown type
    _line(event_id="bad-no-step", step=...),  # rejected: step_viewed needs a step
    _line(event_id="bad-naive-ts", ts="2026-10-05T10:00:00"),  # rejected: no timezone
    _line(event_id="bad-date", ts="2026-02-30T10:00:00Z"),  # rejected: not ISO 8601
    _line(event_id="bad-hour", ts="2026-10-05T24:00:00Z"),  # rejected
    _line(event_id="bad-too-long", journey_id="j" * 201),  # rejected
    _line(event_id="bad-control") + "\x01",  # rejected: a raw control character
    # DuckDB's JSON reader accepts these two; Python's json does not read them as valid events.
    _line(event_id="bad-trailing-comma")[:-1] + ", }",  # rejected: not valid JSON
    _line(event_id="bad-nan").replace('"j1"', "NaN", 1),  # rejected: NaN is a number, not a string
    _line(event_id="bad-infinity", step="identity").replace('"identity"', "-Infinity", 1),  # rejected
    _line(event_id="bad-lowercase-nan", channel="web").replace('"web"', "nan", 1),  # rejected
    _line(event_id="bad-spaced-trailing-comma")[:-1] + ",\t }",  # rejected
    _line(event_id="bad-nul-escape", channel="a\u0000b"),  # rejected: a control character
    _line(event_id="ok-surrogate-pair", channel="\U0001f600"),  # stored as one character
    # Python's json decodes it, but it is not text: rejected instead of failing the whole file.
    _line(event_id="bad-lone-surrogate").replace('"web"', '"\\ud800"', 1),
    _line(event_id="bad-duplicate-key").replace('"journey_id": "j1"', '"journey_id": "j1", "journey_id": 7'),
    # Stored with the last value, as Python's json reads it (DuckDB's reader would keep the first).
    _line(event_id="ok-duplicate-key").replace(
        '"journey_id": "j1"', '"journey_id": "j1", "journey_id": "j2"'
    ),
]


def _stores(tmp_path: Path) -> tuple[JourneyStore, JourneyStore]:
    procedures = tmp_path / "procedures.yaml"
    procedures.write_text(PROCEDURES_YAML, encoding="utf-8")
    duck = JourneyStore(f"duckdb:///{tmp_path / 'j.duckdb'}")
    lite = JourneyStore(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    for s in (duck, lite):
        s.register_procedures(load_procedures(procedures))
    return duck, lite


def _summary(result: IngestResult) -> dict[str, Any]:
    return result.model_dump()


def _stored(store: JourneyStore) -> list[tuple[Any, ...]]:
    with store.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT event_id, journey_id, citizen_ref, procedure, step, type, ts, channel, language, flag "
                "FROM journey_events ORDER BY event_id"
            )
        ).all()
    return [tuple(r) for r in rows]


def test_engine_check_and_python_parser_agree_on_every_kind_of_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(NASTY_LINES) + "\n", encoding="utf-8")
    duck, lite = _stores(tmp_path)
    in_engine = duck.ingest_file(path)
    in_python = lite.ingest(read_events(path))
    assert _summary(in_engine) == _summary(in_python)
    assert _stored(duck) == _stored(lite)
    # What a user sees: counts, and each rejected line with its number and reason.
    assert in_engine.read == len([line for line in NASTY_LINES if line.strip()])
    assert in_engine.duplicates == 1
    rejected = {r["line"]: r["reason"] for r in in_engine.rejected}
    expected = {n for n, line in enumerate(NASTY_LINES, start=1) if '"bad-' in line or line[:1] in ("[", '"')}
    expected.add(NASTY_LINES.index("{not json") + 1)
    assert set(rejected) == expected
    assert (
        "unknown field 'email'"
        in rejected[
            NASTY_LINES.index(
                _line(event_id="bad-unknown-field").replace("{", '{"email": "x@example.org", ', 1)
            )
            + 1
        ]
    )
    assert (
        "no timezone"
        in rejected[NASTY_LINES.index(_line(event_id="bad-naive-ts", ts="2026-10-05T10:00:00")) + 1]
    )
    flagged = {(f.flag, f.procedure, f.step) for f in in_engine.flagged}
    assert flagged == {
        ("unknown_step", "marriage-declaration", "selfie"),
        ("unknown_procedure", "dog-licence", None),
    }


def test_a_byte_order_mark_leaves_the_first_line_to_the_same_verdict(tmp_path: Path) -> None:
    # The engine's reader drops a leading BOM; the first line must still be judged, and reported when bad.
    path = tmp_path / "events.jsonl"
    path.write_text(
        "\ufeff" + _line(event_id="bad-naive", ts="2026-10-05T10:00:00") + "\n" + _line(event_id="ok") + "\n",
        encoding="utf-8",
    )
    duck, lite = _stores(tmp_path)
    in_engine = duck.ingest_file(path)
    assert _summary(in_engine) == _summary(lite.ingest_file(path))
    assert (in_engine.added, in_engine.rejected_count) == (1, 1)
    assert in_engine.rejected[0]["line"] == 1 and "no timezone" in in_engine.rejected[0]["reason"]
    assert _stored(duck) == _stored(lite)


def test_replay_and_overlap_add_only_new_events(tmp_path: Path) -> None:
    duck, _ = _stores(tmp_path)
    first = tmp_path / "a.jsonl"
    first.write_text(
        "\n".join(_line(event_id=f"e{i}", journey_id=f"j{i % 7}") for i in range(50)), encoding="utf-8"
    )
    second = tmp_path / "b.jsonl"
    second.write_text(
        "\n".join(_line(event_id=f"e{i}", journey_id=f"j{i % 7}") for i in range(40, 60)), encoding="utf-8"
    )
    assert (duck.ingest_file(first).added, duck.ingest_file(first).added) == (50, 0)
    overlap = duck.ingest_file(second)
    assert (overlap.read, overlap.added, overlap.duplicates) == (20, 10, 10)
    assert duck.count_events() == 60
    funnel = compute_funnel(duck, "marriage-declaration", as_of=T0.replace(year=2027))
    assert funnel.journeys == 7


def test_a_file_that_is_not_utf8_is_refused_as_the_python_reader_says(tmp_path: Path) -> None:
    duck, _ = _stores(tmp_path)
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(_line(journey_id="caf\u00e9").encode("latin-1"))
    with pytest.raises(EventValidationError, match="not UTF-8"):
        duck.ingest_file(path)
    with pytest.raises(EventValidationError, match="cannot read"):
        duck.ingest_file(tmp_path / "missing.jsonl")
    assert duck.count_events() == 0


_value = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        ["", "identity", "documents", "marriage-declaration", "started", "step_viewed", "completed"]
    ),
    st.sampled_from(
        ["2026-10-05T10:00:00Z", "2026-10-05T10:00:00+02:00", "2026-10-05 10:00", "2026-13-01T00:00Z"]
    ),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),  # json writes NaN and Infinity, which DuckDB reads
    st.booleans(),
    st.none(),
)
_event = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.sampled_from(["e1", "e2", "e3", "e4"]),
        "journey_id": st.sampled_from(["j1", "j2"]) | _value,
        "citizen_ref": _value,
        "procedure": st.sampled_from(["marriage-declaration", "horeca-terrace-permit", "x"]) | _value,
        "step": st.sampled_from(["identity", "documents", "plan"]) | _value,
        "type": st.sampled_from(["started", "step_viewed", "step_completed", "completed"]) | _value,
        "ts": st.sampled_from(["2026-10-05T10:00:00Z", "2026-10-06T11:30:00.5+01:00"]) | _value,
        "channel": _value,
        "language": _value,
        "extra": _value,
    },
)
# A valid event with up to two fields changed or dropped: most lines come close to valid, where a
# difference between the two checks would show.
_near_valid = st.builds(
    lambda event_id, changes, dropped: {
        k: v for k, v in {**GOOD, "event_id": event_id, **changes}.items() if k not in dropped
    },
    st.sampled_from(["e1", "e2", "e3", "e4"]),
    st.dictionaries(st.sampled_from([*GOOD, "extra"]), _value, max_size=2),
    st.sets(st.sampled_from(["citizen_ref", "channel", "language", "step", "ts"]), max_size=1),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(_event | _near_valid, max_size=8),
    compact=st.booleans(),
    ascii_only=st.booleans(),
    trailing_comma=st.booleans(),
)
def test_fuzzed_files_give_the_same_result_both_ways(
    tmp_path_factory: pytest.TempPathFactory,
    events: list[dict[str, Any]],
    compact: bool,
    ascii_only: bool,
    trailing_comma: bool,
) -> None:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    path = tmp_path / "events.jsonl"
    separators = (",", ":") if compact else (", ", ": ")
    # One event per event_id: which of two different events with one id is kept may differ (documented).
    seen: set[Any] = set()
    unique = [e for e in events if not (e.get("event_id") in seen or seen.add(e.get("event_id")))]
    lines = [json.dumps(e, separators=separators, ensure_ascii=ascii_only) for e in unique]
    if trailing_comma:  # DuckDB reads {"a": "b",}; Python's json does not
        lines = [line[:-1] + ",}" if len(line) > 2 else line for line in lines]
    path.write_text("\n".join(lines), encoding="utf-8")
    duck, lite = _stores(tmp_path)
    try:
        assert _summary(duck.ingest_file(path)) == _summary(lite.ingest(read_events(path)))
        assert _stored(duck) == _stored(lite)
    finally:
        duck.engine.dispose()
        lite.engine.dispose()


def test_another_process_holding_the_file_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    duck, _ = _stores(tmp_path)
    db = tmp_path / "j.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time, duckdb
                c = duckdb.connect({str(db)!r})
                print("holding", flush=True)
                time.sleep(float(sys.argv[1]))
                c.close()
                """
            ),
            "1.5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    start = time.monotonic()
    assert duck.count_events() == 0  # waits for the other process, then reads
    assert time.monotonic() - start > 0.5
    holder.wait(timeout=30)

    monkeypatch.setattr(store_module, "_LOCK_WAIT_SECONDS", 0.3)
    holder = subprocess.Popen(holder.args, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    try:
        with pytest.raises(JourneyError, match="held by another process"):
            duck.count_events()
    finally:
        holder.wait(timeout=30)


def test_the_embedded_default_is_a_duckdb_file_in_the_data_directory(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).journeys_url == f"duckdb:///{tmp_path / 'journeys.duckdb'}"
    shared = "postgresql+psycopg://cc@db/cc"
    assert Settings(data_dir=tmp_path, database_url=shared).journeys_url == shared
    own = Settings(data_dir=tmp_path, database_url=shared, journeys={"database_url": "sqlite:///j.db"})
    assert own.journeys_url == "sqlite:///j.db"


def test_duckdb_and_sqlite_funnels_agree_to_the_second(tmp_path: Path, at: Any) -> None:
    """Percentiles are computed differently (percentile_disc on DuckDB, ROW_NUMBER on SQLite)."""
    journeys = random_journeys(11)
    outputs = []
    for store in _stores(tmp_path):
        store.ingest(journeys.parsed())
        out = []
        for minutes in (8 * 24 * 60, 3 * 24 * 60):  # the summaries, then the events up to an earlier time
            for by in (None, "channel", "language"):
                funnel = compute_funnel(store, "marriage-declaration", as_of=at(minutes), by=by)
                out.append(funnel.model_dump(exclude={"as_of"}))
        outputs.append(out)
    assert outputs[0][0]["steps"][1]["median_seconds"] is not None
    assert outputs[0] == outputs[1]
