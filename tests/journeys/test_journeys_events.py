from __future__ import annotations

from pathlib import Path

import pytest

from contact_center.errors import EventValidationError
from contact_center.journeys import JourneyEvent, RejectedEvent, parse_event, read_events
from contact_center.journeys.events import read_events_from_lines
from tests.journeys.journeys_helpers import GOOD_EVENT

GOOD = {**GOOD_EVENT, "language": "FR"}


def test_a_valid_event() -> None:
    event = parse_event(GOOD)
    assert event.ts_epoch == 1791187200.0
    assert event.language == "fr"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ts": "2026-10-05T10:00:00"}, "has no timezone"),
        ({"ts": "yesterday"}, "not an ISO 8601 timestamp"),
        ({"type": "finished"}, "unknown type 'finished'"),
        ({"event_id": ""}, "missing 'event_id'"),
        ({"journey_id": 12}, "'journey_id' must be a string"),
        ({"step": None}, "a step_viewed event needs a 'step'"),
        ({"email": "ana@example.org"}, "unknown field 'email': events carry no personal data"),
    ],
)
def test_bad_events_say_why(change: dict[str, object], reason: str) -> None:
    raw = {**GOOD, **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ValueError, match=reason):
        parse_event(raw)


def test_jsonl_rejections_carry_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"event_id": "a", "journey_id": "j", "procedure": "p", "type": "started", "ts": "2026-10-05T10:00:00Z"}\n'
        "\n"
        "{not json\n"
        '{"event_id": "b", "journey_id": "j", "procedure": "p", "type": "started", "ts": "2026-10-05T10:00:00"}\n',
        encoding="utf-8",
    )
    items = list(read_events(path))
    assert isinstance(items[0], JourneyEvent)
    rejected = [i for i in items if isinstance(i, RejectedEvent)]
    assert [(r.line, r.event_id) for r in rejected] == [(3, None), (4, "b")]
    assert "not valid JSON" in rejected[0].reason
    assert "line 4 (event_id b): 'ts'" in str(rejected[1])


def test_csv_with_empty_optional_cells(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,journey_id,citizen_ref,procedure,step,type,ts,channel,language\n"
        "e1,j1,c1,marriage-declaration,,started,2026-10-05T10:00:00+02:00,web,fr\n"
        "e2,j1,c1,marriage-declaration,identity,step_viewed,2026-10-05T10:01:00+02:00\n",
        encoding="utf-8",
    )
    items = list(read_events(path))
    assert isinstance(items[0], JourneyEvent) and items[0].step is None
    assert (
        isinstance(items[1], RejectedEvent) and items[1].line == 3 and "expected 9 columns" in items[1].reason
    )


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path: Path) -> None:
    # Spreadsheets ("CSV UTF-8" in Excel) and some Windows tools start a UTF-8 file with a BOM.
    csv_file = tmp_path / "events.csv"
    csv_file.write_text(
        "\ufeffevent_id,journey_id,procedure,type,ts\ne1,j1,marriage-declaration,started,2026-10-05T10:00:00Z\n",
        encoding="utf-8",
    )
    jsonl_file = tmp_path / "events.jsonl"
    jsonl_file.write_text(
        '\ufeff{"event_id": "e1", "journey_id": "j1", "procedure": "p", "type": "started", '
        '"ts": "2026-10-05T10:00:00Z"}\n',
        encoding="utf-8",
    )
    for path in (csv_file, jsonl_file):
        items = list(read_events(path))
        assert [type(i).__name__ for i in items] == ["JourneyEvent"], items
        assert isinstance(items[0], JourneyEvent) and items[0].event_id == "e1"


def test_csv_with_an_unknown_column_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("event_id,journey_id,procedure,type,ts,phone\n", encoding="utf-8")
    with pytest.raises(EventValidationError, match="line 1: unknown CSV column 'phone'"):
        list(read_events(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EventValidationError, match="cannot read the events file"):
        list(read_events(tmp_path / "none.jsonl"))


def test_a_csv_saved_by_a_belgian_excel_with_semicolons_is_read(tmp_path: Path) -> None:
    # Excel in French, Dutch or German (decimal comma) separates "CSV" fields with ';'.
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id;journey_id;procedure;step;type;ts\r\n"
        "e1;j1;marriage-declaration;identity;started;2026-10-05T10:00:00+02:00\r\n"
        'e2;j1;marriage-declaration;"civil;status";step_viewed;2026-10-05T10:01:00+02:00\r\n',
        encoding="utf-8-sig",
    )
    items = list(read_events(path))
    assert [(i.event_id, i.step) for i in items if isinstance(i, JourneyEvent)] == [
        ("e1", "identity"),
        ("e2", "civil;status"),
    ]


def test_a_csv_header_naming_a_column_twice_is_refused_whole(tmp_path: Path) -> None:
    # Otherwise the last 'ts' cell silently wins over the first.
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,journey_id,procedure,type,ts,ts\n"
        "e1,j1,marriage-declaration,started,2026-10-05T10:00:00Z,2030-01-01T00:00:00Z\n",
        encoding="utf-8",
    )
    with pytest.raises(EventValidationError, match="line 1: the CSV header names the column 'ts' twice"):
        list(read_events(path))


@pytest.mark.parametrize(
    ("line", "kind"),
    [("null", "null"), ("[1, 2]", "an array"), ('"e1"', "a string"), ("3.5", "a number"), ("true", "true")],
)
def test_a_line_that_is_not_an_object_is_named_in_json_terms(line: str, kind: str) -> None:
    # The producer writes JSON: "got NoneType" or "got list" is Python talk.
    [rejected] = list(read_events_from_lines([line]))
    assert isinstance(rejected, RejectedEvent)
    assert rejected.reason == f"expected a JSON object, got {kind}"


def test_csv_column_names_are_read_in_any_case_and_without_surrounding_spaces(tmp_path: Path) -> None:
    # `Event_ID` was refused as an unknown column.
    path = tmp_path / "events.csv"
    for header, delimiter in (
        ("Event_ID, Journey_ID ,PROCEDURE,Type,TS", ","),
        ("Event_ID;Journey_ID;Procedure;Type;Ts", ";"),
    ):
        path.write_text(
            f"{header}\n"
            + delimiter.join(["e1", "j1", "marriage-declaration", "started", "2026-10-05T10:00:00Z"])
            + "\n",
            encoding="utf-8",
        )
        [event] = list(read_events(path))
        assert isinstance(event, JourneyEvent), event
        assert (event.event_id, event.journey_id, event.type) == ("e1", "j1", "started")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "event_id,journey_id,procedure,type,ts,\ne1,j1,p,started,2026-10-05T10:00:00Z,\n",
            "line 1: column 6 of the CSV header has no name: the header line ends with ','; remove the ',' "
            "at the end of the header (and of every line that has one), or name the column",
        ),
        (
            "event_id;journey_id;procedure;type;ts;\r\ne1;j1;p;started;2026-10-05T10:00:00Z;\r\n",
            "line 1: column 6 of the CSV header has no name: the header line ends with ';'",
        ),
        (
            "event_id,journey_id,,procedure,type,ts\n",
            "line 1: column 3 of the CSV header has no name; name it, or delete that column (its ',' on every line)",
        ),
        (
            "event_id,journey_id,procedure,type,TS,ts\n",
            "line 1: the CSV header names the column 'ts' twice (as 'TS' and 'ts'); keep one of the two columns",
        ),
        ("event_id,journey_id,procedure,type,ts,Phone\n", "line 1: unknown CSV column 'Phone'"),
    ],
)
def test_a_csv_header_with_a_nameless_or_repeated_column_says_which_and_what_to_do(
    tmp_path: Path, body: str, message: str
) -> None:
    # A trailing delimiter gave "unknown CSV column ''".
    path = tmp_path / "events.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(EventValidationError) as raised:
        list(read_events(path))
    assert str(raised.value).startswith(message)
