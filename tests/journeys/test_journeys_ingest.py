from __future__ import annotations

from pathlib import Path

from contact_center.journeys import JourneyStore, load_procedures, read_events
from tests.journeys.journeys_helpers import Journeys


def test_replaying_a_file_adds_nothing(store: JourneyStore, journeys: Journeys, tmp_path: Path) -> None:
    journeys.through("j1", ["identity", "civil-status"])
    path = journeys.write_jsonl(tmp_path / "e.jsonl")
    first = store.ingest(read_events(path))
    again = store.ingest(read_events(path))
    assert (first.read, first.added, first.duplicates) == (5, 5, 0)
    assert (again.read, again.added, again.duplicates) == (5, 0, 5)
    assert store.count_events() == 5


def test_a_bad_line_is_rejected_and_the_rest_stored(store: JourneyStore, tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"event_id": "a", "journey_id": "j", "procedure": "marriage-declaration", "type": "started", "ts": "2026-10-05T10:00:00Z"}\n'
        '{"event_id": "b", "journey_id": "j", "procedure": "marriage-declaration", "type": "started", "ts": "2026-10-05 10:00"}\n'
        '{"event_id": "c", "journey_id": "j", "procedure": "marriage-declaration", "type": "completed", "ts": "2026-10-05T11:00:00Z"}\n',
        encoding="utf-8",
    )
    result = store.ingest(read_events(path))
    assert (result.added, result.rejected_count) == (2, 1)
    assert result.rejected[0]["line"] == 2
    assert "no timezone" in result.rejected[0]["reason"]
    assert not result.ok


def test_unknown_procedure_and_step_are_stored_flagged_and_reported(
    store: JourneyStore, journeys: Journeys, tmp_path: Path
) -> None:
    journeys.add("j1", "step_viewed", minutes=0, step="selfie")
    journeys.add("j2", "started", minutes=0, procedure="dog-licence")
    result = store.ingest(journeys.parsed())
    assert result.added == 2
    flagged = {(f.flag, f.procedure, f.step, f.events) for f in result.flagged}
    assert flagged == {
        ("unknown_step", "marriage-declaration", "selfie", 1),
        ("unknown_procedure", "dog-licence", None, 1),
    }
    assert {(f.flag, f.procedure) for f in store.flagged()} == {
        ("unknown_step", "marriage-declaration"),
        ("unknown_procedure", "dog-licence"),
    }
    # Registering the missing procedure clears its flag; the stored events were kept.
    extra = tmp_path / "dog.yaml"
    extra.write_text(
        "procedures:\n  dog-licence:\n    steps: [owner]\n    idle_window: 1d\n"
        '    resume_url: "https://x.brussels/{journey_id}"\n',
        encoding="utf-8",
    )
    update = store.register_procedures(load_procedures(extra))
    assert update.added == ["dog-licence"]
    assert [(f.flag, f.procedure) for f in store.flagged()] == [("unknown_step", "marriage-declaration")]


def test_registering_the_same_file_twice_changes_nothing(store: JourneyStore, procedures_file: Path) -> None:
    update = store.register_procedures(load_procedures(procedures_file))
    assert update.unchanged == ["marriage-declaration", "horeca-terrace-permit"]
    assert store.catalog()["horeca-terrace-permit"].steps == ("business", "location", "plan", "payment")


def test_a_timestamp_outside_the_calendar_in_utc_is_rejected_not_stored(
    store: JourneyStore, tmp_path: Path
) -> None:
    """Year 1 at +01:00 is year 0 in UTC (and 9999-12-31 at -01:00 is year 10000): stored, such an event
    made every abandoned list fail with "year 0 is out of range"."""
    from datetime import UTC, datetime

    from contact_center.journeys import find_abandoned

    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"event_id": "a", "journey_id": "j1", "procedure": "marriage-declaration", "type": "started", "ts": "2026-10-05T10:00:00Z"}\n'
        '{"event_id": "b", "journey_id": "j2", "procedure": "marriage-declaration", "type": "started", "ts": "0001-01-01T00:00:00+01:00"}\n'
        '{"event_id": "c", "journey_id": "j3", "procedure": "marriage-declaration", "type": "started", "ts": "9999-12-31T23:30:00-01:00"}\n',
        encoding="utf-8",
    )
    result = store.ingest_file(path)
    assert (result.added, result.rejected_count) == (1, 2)
    assert [r["line"] for r in result.rejected] == [2, 3]
    assert all("outside the years 1 to 9999" in r["reason"] for r in result.rejected)
    found = find_abandoned(store, as_of=datetime(2026, 10, 10, tzinfo=UTC))
    assert [j.journey_id for j in found] == ["j1"]


def test_a_line_nested_too_deeply_is_rejected_and_the_rest_stored(
    store: JourneyStore, tmp_path: Path
) -> None:
    """Python's json gives up on deep nesting with a RecursionError: it ended the whole ingestion."""
    good = '{{"event_id": "{}", "journey_id": "j", "procedure": "marriage-declaration", "type": "started", "ts": "2026-10-05T10:00:00Z"}}\n'
    path = tmp_path / "e.jsonl"
    path.write_text(good.format("a") + "[" * 50_000 + "\n" + good.format("b"), encoding="utf-8")
    result = store.ingest_file(path)
    assert (result.added, result.rejected_count) == (2, 1)
    assert result.rejected[0]["line"] == 2
    assert "nested too deeply" in result.rejected[0]["reason"]


def test_an_identifier_with_a_control_character_is_rejected(store: JourneyStore, tmp_path: Path) -> None:
    """A journey_id holding a line break was stored; every later nudge run then stopped on it with
    "Header values may not contain linefeed or carriage return characters", nudging nobody."""
    line = '{{"event_id": "{}", "journey_id": "{}", "procedure": "marriage-declaration", "type": "started", "ts": "2026-10-05T10:00:00Z"}}\n'
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text(
        line.format("a", "j1") + line.format("b", "j2\\nX") + line.format("c", "j3\\u0007"), encoding="utf-8"
    )
    result = store.ingest_file(jsonl)
    assert (result.added, result.rejected_count) == (1, 2)
    assert [r["line"] for r in result.rejected] == [2, 3]
    assert "'journey_id' holds a control character" in result.rejected[0]["reason"]

    csv_file = tmp_path / "e.csv"
    csv_file.write_text(
        'event_id,journey_id,procedure,type,ts\nd,"j4\nY",marriage-declaration,started,2026-10-05T10:00:00Z\n'
        "e,j5,marriage-declaration,started,2026-10-05T10:00:00Z\n",
        encoding="utf-8",
    )
    result = store.ingest_file(csv_file)
    assert (result.added, result.rejected_count) == (1, 1)
    assert "'journey_id' holds a control character" in result.rejected[0]["reason"]


def test_a_line_longer_than_the_engine_reads_is_rejected_and_the_rest_stored(
    store: JourneyStore, tmp_path: Path
) -> None:
    """A JSON array written as one 3 MB line (an export, not JSON Lines): DuckDB's reader stops at 2 MB a
    line, and the whole ingestion ended in an InvalidInputException traceback with nothing stored."""
    import json

    event = {"procedure": "marriage-declaration", "type": "started", "ts": "2026-10-05T10:00:00Z"}
    array = [
        {**event, "event_id": f"a{i}", "journey_id": f"j{i}", "channel": "web" * 50} for i in range(15_000)
    ]
    path = tmp_path / "e.jsonl"
    path.write_text(
        json.dumps(array) + "\n" + json.dumps({**event, "event_id": "b", "journey_id": "jb"}) + "\n",
        encoding="utf-8",
    )
    assert path.stat().st_size > 2_500_000
    result = store.ingest_file(path)
    assert (result.read, result.added, result.rejected_count) == (2, 1, 1)
    assert result.rejected[0]["line"] == 1
    assert "expected a JSON object, got an array" in result.rejected[0]["reason"]
