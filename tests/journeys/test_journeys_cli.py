from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contact_center.journeys import cli
from tests.journeys.journeys_helpers import Journeys, TinyKnowledgeBase

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kb: TinyKnowledgeBase) -> Path:
    data = tmp_path / "data"
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CC_DATA_DIR", str(data))
    monkeypatch.setenv("CC_SECRET_KEY", "cli-test-key")
    monkeypatch.setenv("CC_JOURNEYS__HOLDOUT_SHARE", "0")
    monkeypatch.setattr(cli, "_search_factory", lambda settings: kb)
    return data


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, list(args))
    return result.exit_code, result.stdout, result.output


def test_the_whole_flow_from_the_command_line(
    env: Path, procedures_file: Path, journeys: Journeys, tmp_path: Path
) -> None:
    code, out, _ = invoke("procedures", str(procedures_file))
    assert code == 0 and "marriage-declaration: 5 steps, idle window 48h (added)" in out

    end = journeys.through("j1", ["identity", "civil-status", "documents", "appointment", "payment"])
    journeys.add("j1", "completed", minutes=end + 1)
    journeys.through("j2", ["identity", "civil-status"], citizen_ref="c2", language="en")
    events = journeys.write_jsonl(tmp_path / "events.jsonl")
    code, out, _ = invoke("ingest", str(events))
    assert code == 0 and f"read {len(journeys.events)} events: {len(journeys.events)} added" in out
    code, out, _ = invoke("ingest", str(events), "--json")
    assert code == 0 and json.loads(out)["duplicates"] == len(journeys.events)

    code, out, _ = invoke("funnel", "marriage-declaration", "--as-of", "2026-10-10T12:00", "--json")
    funnel = json.loads(out)
    assert (funnel["journeys"], funnel["completed"], funnel["completion_rate"]) == (2, 1, 0.5)
    assert [s["dropped"] for s in funnel["steps"]] == [0, 0, 1, 0, 0]

    code, out, _ = invoke("funnel", "--as-of", "2026-10-10T12:00", "--json")
    assert code == 0
    assert [(f["procedure"], f["journeys"]) for f in json.loads(out)] == [
        ("horeca-terrace-permit", 0),
        ("marriage-declaration", 2),
    ]
    code, out, _ = invoke("funnel", "--as-of", "2026-10-10T12:00")
    assert code == 0 and "horeca-terrace-permit" in out and "marriage-declaration" in out
    code, out, _ = invoke(
        "funnel", "marriage-declaration", "--as-of", "2026-10-10T12:00", "--within", "20m", "--json"
    )
    assert code == 0 and (json.loads(out)["within_seconds"], json.loads(out)["completed"]) == (1200, 0)

    chart = tmp_path / "funnel.svg"
    code, out, _ = invoke("funnel", "marriage-declaration", "--by", "language", "--chart", str(chart))
    assert code == 0 and "marriage-declaration · language = en" in out and "documents" in out
    assert chart.read_text(encoding="utf-8").lstrip().startswith("<?xml")

    code, out, _ = invoke("abandoned", "--as-of", "2026-10-10T12:00", "--json")
    [row] = json.loads(out)
    assert (row["journey_id"], row["procedure"], row["step"]) == ("j2", "marriage-declaration", "documents")
    assert row["help"][0]["source_url"] == "https://www.brussels.be/marriage"
    assert "citizen_ref" not in row

    contacts = tmp_path / "contacts.csv"
    contacts.write_text("citizen_ref,email,language,consent\nc2,bea@example.org,en,yes\n", encoding="utf-8")
    code, out, _ = invoke("nudge", "--dry-run", "--as-of", "2026-10-10T12:00", "--contacts", str(contacts))
    assert code == 0 and "1 would send" in out
    assert not (env / "outbox").exists()
    code, out, _ = invoke("nudge", "--as-of", "2026-10-10T12:00", "--contacts", str(contacts), "--json")
    assert [o["outcome"] for o in json.loads(out)["outcomes"]] == ["sent"]
    assert len(list((env / "outbox" / "new").iterdir())) == 1

    code, out, _ = invoke("uplift", "marriage-declaration", "--json")
    assert code == 0 and json.loads(out)["verdict"] == "insufficient_data"


def test_bad_input_exits_2_with_a_message(env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "procedures:\n  p:\n    steps: [a, a]\n    idle_window: 1h\n    resume_url: 'https://x/{journey_id}'\n"
    )
    code, _, output = invoke("procedures", str(bad))
    assert code == 2 and "procedures.p.steps[1]" in output and "cycle" in output

    code, _, output = invoke("funnel", "nothing-registered")
    assert code == 2 and "unknown procedure 'nothing-registered'" in output

    code, _, output = invoke("funnel", "x", "--by", "age")
    assert code == 2 and "use channel or language" in output

    code, _, output = invoke("funnel", "x", "--within", "soon")
    assert code == 2 and "--within" in output and "not a duration" in output

    code, _, output = invoke("funnel", "--chart", str(tmp_path / "all.svg"))
    assert code == 2 and "name the procedure" in output

    code, _, output = invoke("nudge", "--dry-run")
    assert code == 2 and "--contacts" in output


def test_rejected_lines_exit_1_and_are_listed(env: Path, procedures_file: Path, tmp_path: Path) -> None:
    invoke("procedures", str(procedures_file))
    events = tmp_path / "e.csv"
    events.write_text(
        "event_id,journey_id,procedure,type,ts\n"
        "e1,j1,marriage-declaration,started,2026-10-05T10:00:00+02:00\n"
        "e2,j1,marriage-declaration,started,2026-10-05T10:00:00\n",
        encoding="utf-8",
    )
    code, _, output = invoke("ingest", str(events))
    assert code == 1
    assert "1 added" in output and "line 3: 'ts' '2026-10-05T10:00:00' has no timezone" in output


def test_nudges_can_use_the_campaign_contacts(
    env: Path, procedures_file: Path, journeys: Journeys, tmp_path: Path
) -> None:
    from campaigns.contacts import import_contacts, suppress
    from campaigns.tables import open_engine

    invoke("procedures", str(procedures_file))
    journeys.through("j2", ["identity", "civil-status"], citizen_ref="c2", language="en")
    journeys.through("j3", ["identity"], citizen_ref="c3")
    invoke("ingest", str(journeys.write_jsonl(tmp_path / "events.jsonl")))
    engine = open_engine(f"sqlite:///{env / 'contact_center.sqlite3'}")
    residents = tmp_path / "residents.csv"
    residents.write_text(
        "email,language,consent,citizen_ref\nbea@example.org,en,yes,c2\ncarl@example.org,fr,yes,c3\n",
        encoding="utf-8",
    )
    import_contacts(engine, residents)
    suppress(engine, "carl@example.org", "hard_bounce")
    engine.dispose()

    code, out, _ = invoke(
        "nudge", "--dry-run", "--as-of", "2026-10-10T12:00", "--campaign-contacts", "--json"
    )
    assert code == 0
    outcomes = {o["journey_id"]: (o["outcome"], o["reason"]) for o in json.loads(out)["outcomes"]}
    assert outcomes["j2"][0] == "would_send"
    assert outcomes["j3"] == ("held", "no consent to be contacted")  # hard-bounced in the campaigns

    code, _, output = invoke("nudge", "--campaign-contacts", "--contacts", str(residents))
    assert code == 2 and "not both" in output


def test_procedures_shows_an_idle_window_that_is_not_whole_hours(env: Path, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "procedures:\n"
        "  quick:\n    steps: [a]\n    idle_window: 90m\n    resume_url: 'https://x.brussels/{journey_id}'\n"
        "  quicker:\n    steps: [a]\n    idle_window: 30m\n    resume_url: 'https://x.brussels/{journey_id}'\n",
        encoding="utf-8",
    )
    code, out, _ = invoke("procedures", str(path))
    assert code == 0
    assert "quick: 1 steps, idle window 1h30m (added)" in out
    assert "quicker: 1 steps, idle window 30m (added)" in out


def test_an_absurdly_long_conversion_window_is_a_clear_error(env: Path, procedures_file: Path) -> None:
    """A mistyped --within (a few digits too many) ended in an OverflowError traceback."""
    invoke("procedures", str(procedures_file))
    code, _, output = invoke("funnel", "marriage-declaration", "--within", "999999999999999d")
    assert code == 2
    assert "--within" in output and "longer than ten years" in output
    assert "Traceback" not in output


def test_square_brackets_in_the_data_are_shown_not_read_as_styles(
    env: Path, procedures_file: Path, journeys: Journeys, tmp_path: Path
) -> None:
    """The tables are drawn with rich, whose markup reads "[/...]" as a closing tag: a channel or a
    journey id holding one stopped `funnel --by channel` and `abandoned` with a MarkupError."""
    invoke("procedures", str(procedures_file))
    journeys.through("j[/]1", ["identity", "civil-status"], channel="kiosk[/]", language="en")
    code, _, _ = invoke("ingest", str(journeys.write_jsonl(tmp_path / "events.jsonl")))
    assert code == 0

    code, out, output = invoke(
        "funnel", "marriage-declaration", "--by", "channel", "--as-of", "2026-10-10T12:00"
    )
    assert code == 0, output
    assert "channel = kiosk[/]" in out

    code, out, output = invoke("abandoned", "--as-of", "2026-10-10T12:00")
    assert code == 0, output
    assert "j[/]1" in out


def test_a_chart_path_that_cannot_be_written_is_a_clear_error(
    env: Path, procedures_file: Path, tmp_path: Path
) -> None:
    invoke("procedures", str(procedures_file))
    not_a_dir = tmp_path / "notes.txt"
    not_a_dir.write_text("", encoding="utf-8")
    (tmp_path / "taken.png").mkdir()
    for chart in (not_a_dir / "funnel.png", tmp_path / "taken.png"):
        code, _, output = invoke("funnel", "marriage-declaration", "--chart", str(chart))
        assert code == 2, output
        assert f"cannot write the chart to {chart}" in output


def test_uplift_without_registered_procedures_says_so(env: Path) -> None:
    """It printed nothing at all, as if the command had not run."""
    code, out, _ = invoke("uplift")
    assert code == 0
    assert "no procedures registered yet" in out and "journeys procedures FILE" in out


def test_a_nudge_run_with_a_failed_send_exits_1_after_its_report(
    env: Path,
    procedures_file: Path,
    journeys: Journeys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cron job saw exit code 0 although the relay had refused a nudge for good."""
    from tests.channels.smtp_peer import RecordingHandler, SMTPPeer

    invoke("procedures", str(procedures_file))
    journeys.through("j1", ["identity", "civil-status"], citizen_ref="c1")
    journeys.through("j2", ["identity"], citizen_ref="c2")
    journeys.through("t3", ["business"], citizen_ref="c3", procedure="horeca-terrace-permit")
    invoke("ingest", str(journeys.write_jsonl(tmp_path / "events.jsonl")))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "citizen_ref,email,language,consent\n"
        "c1,ana@example.org,fr,yes\nc2,ghost@example.org,fr,yes\nc3,ghost.too@example.org,fr,yes\n",
        encoding="utf-8",
    )
    handler = RecordingHandler()
    handler.rcpt_reply = lambda addr: "550 5.1.1 no such user" if addr.startswith("ghost") else None
    peer = SMTPPeer(handler)
    peer.start()
    try:
        monkeypatch.setenv("CC_SMTP__HOST", "127.0.0.1")
        monkeypatch.setenv("CC_SMTP__PORT", str(peer.port))
        monkeypatch.setenv("CC_SMTP__TLS", "none")
        args = ("nudge", "--as-of", "2026-10-10T12:00", "--contacts", str(contacts))
        code, out, _ = invoke(*args, "--dry-run")
        assert code == 0 and "3 would send" in out  # a dry run sends nothing, so nothing fails

        code, out, _ = invoke(*args, "--procedure", "marriage-declaration")
        assert code == 1
        assert "1 sent" in out and "1 failed" in out
        assert "failed     j2 marriage-declaration/civil-status [fr] 550" in out

        code, out, _ = invoke(*args, "--json")
        assert code == 1
        outcomes = {o["journey_id"]: o["outcome"] for o in json.loads(out)["outcomes"]}
        assert outcomes == {"j1": "skipped", "j2": "skipped", "t3": "failed"}
        assert handler.count() == 1
    finally:
        peer.stop()

    # Nothing is left to send (a failure is the journey's one decision), and nothing failed this time.
    code, out, _ = invoke(*args)
    assert code == 0 and "3 skipped" in out and "0 failed" in out


def test_a_csv_header_ending_with_a_delimiter_is_refused_with_what_to_do(
    env: Path, procedures_file: Path, journeys: Journeys, tmp_path: Path
) -> None:
    invoke("procedures", str(procedures_file))
    journeys.through("j1", ["identity"])
    code, _, _ = invoke("ingest", str(journeys.write_jsonl(tmp_path / "events.jsonl")))
    assert code == 0
    events = tmp_path / "more.csv"
    events.write_text(
        "Event_ID,Journey_ID,Procedure,Type,TS,\r\ne9,j2,marriage-declaration,started,2026-10-05T10:00:00Z,\r\n",
        encoding="utf-8",
    )
    code, _, output = invoke("ingest", str(events))
    assert code == 2
    assert "line 1: column 6 of the CSV header has no name: the header line ends with ','" in output
    assert "unknown CSV column ''" not in output

    events.write_text(
        "Event_ID,Journey_ID,Procedure,Type,TS\r\ne9,j2,marriage-declaration,started,2026-10-05T10:00:00Z\r\n",
        encoding="utf-8",
    )
    code, out, _ = invoke("ingest", str(events))
    assert code == 0 and "read 1 events: 1 added" in out
    code, out, _ = invoke("funnel", "marriage-declaration", "--as-of", "2026-10-10T12:00", "--json")
    assert json.loads(out)["journeys"] == 2  # what was stored before the refused file is all there


def test_a_contacts_file_giving_a_citizen_ref_twice_stops_the_nudge_run(
    env: Path, procedures_file: Path, journeys: Journeys, tmp_path: Path
) -> None:
    invoke("procedures", str(procedures_file))
    journeys.through("j1", ["identity", "civil-status"], citizen_ref="c1")
    invoke("ingest", str(journeys.write_jsonl(tmp_path / "events.jsonl")))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "citizen_ref,email,consent\nc1,ana@example.org,yes\nc1,eve@example.org,yes\n", encoding="utf-8"
    )
    for dry in ((), ("--dry-run",)):
        code, _, output = invoke("nudge", *dry, "--as-of", "2026-10-10T12:00", "--contacts", str(contacts))
        assert code == 2
        assert "line 3: citizen_ref 'c1' again, first at line 2" in output and "keep one of them" in output
    assert not (env / "outbox").exists()

    contacts.write_text("citizen_ref,email,consent\nc1,ana@example.org,yes\n", encoding="utf-8")
    code, out, _ = invoke("nudge", "--as-of", "2026-10-10T12:00", "--contacts", str(contacts), "--json")
    assert code == 0
    assert [o["outcome"] for o in json.loads(out)["outcomes"]] == ["sent"]  # the refused run recorded nothing
