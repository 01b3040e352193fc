from __future__ import annotations

from pathlib import Path

import pytest

from contact_center.errors import ProceduresFileError
from contact_center.journeys import load_procedures, parse_duration


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_issue_example_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
procedures:
  marriage-declaration:
    steps: [identity, civil-status, documents, appointment, payment]
    idle_window: 48h
    resume_url: "https://example.brussels/procedures/marriage/{journey_id}/{step}"
""",
    )
    proc = load_procedures(path)["marriage-declaration"]
    assert proc.steps == ("identity", "civil-status", "documents", "appointment", "payment")
    assert proc.idle_seconds == 48 * 3600
    assert proc.position("documents") == 3
    assert proc.title("fr") == "marriage declaration"


def test_unknown_field_names_the_path_and_suggests(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
procedures:
  marriage-declaration:
    steps: [identity]
    idel_window: 48h
    resume_url: "https://x.brussels/{journey_id}"
""",
    )
    with pytest.raises(ProceduresFileError) as err:
        load_procedures(path)
    message = str(err.value)
    assert str(path) in message
    assert "procedures.marriage-declaration.idel_window" in message
    assert "did you mean 'idle_window'" in message


def test_a_step_listed_twice_is_reported_as_a_cycle(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
procedures:
  p:
    steps: [identity, documents, payment, documents]
    idle_window: 1d
    resume_url: "https://x.brussels/{journey_id}/{step}"
""",
    )
    with pytest.raises(ProceduresFileError, match=r"procedures\.p\.steps\[3\]: step 'documents' .*cycle"):
        load_procedures(path)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            'steps: [a]\n    idle_window: soon\n    resume_url: "https://x/{journey_id}"',
            r"p\.idle_window: 'soon'",
        ),
        ('steps: [a]\n    idle_window: 0h\n    resume_url: "https://x/{journey_id}"', r"longer than zero"),
        ("steps: [a]\n    idle_window: 1h", r"p\.resume_url: missing"),
        (
            'steps: [a]\n    idle_window: 1h\n    resume_url: "https://x/{step}"',
            r"must contain \{journey_id\}",
        ),
        (
            'steps: [a]\n    idle_window: 1h\n    resume_url: "https://x/{journey_id}/{user}"',
            r"unknown placeholder \{user\}",
        ),
        (
            'steps: []\n    idle_window: 1h\n    resume_url: "https://x/{journey_id}"',
            r"p\.steps: expected a non-empty list",
        ),
        ('steps: [a]\n    idle_window: 1h\n    resume_url: "ftp://x/{journey_id}"', r"http\(s\) URL"),
        (
            'steps: [a]\n    step_titles: {b: x}\n    idle_window: 1h\n    resume_url: "https://x/{journey_id}"',
            r"p\.step_titles\.b: not one of",
        ),
    ],
)
def test_bad_fields_are_reported_with_their_path(tmp_path: Path, spec: str, expected: str) -> None:
    path = write(tmp_path, f"procedures:\n  p:\n    {spec}\n")
    with pytest.raises(ProceduresFileError, match=expected):
        load_procedures(path)


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "procedures:\n  p:\n    steps: [a\n    idle_window: 1h\n")
    with pytest.raises(ProceduresFileError, match=r"not valid YAML at line \d+"):
        load_procedures(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProceduresFileError, match="cannot read the procedures file"):
        load_procedures(tmp_path / "nope.yaml")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(ProceduresFileError, match="unknown top-level field 'procedure'"):
        load_procedures(write(tmp_path, "procedure:\n  p: {}\n"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("48h", 172800), ("90m", 5400), ("2d", 172800), ("1d12h", 129600), (3600, 3600), ("3600", 3600)],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_a_procedure_or_field_written_twice_is_an_error_not_silently_dropped(tmp_path: Path) -> None:
    # A block copied to start a new procedure and not renamed used to replace the first one silently.
    path = write(
        tmp_path,
        """
procedures:
  marriage-declaration:
    steps: [identity, documents]
    idle_window: 48h
    resume_url: "https://x.brussels/{journey_id}"
  marriage-declaration:
    steps: [business, payment]
    idle_window: 24h
    resume_url: "https://x.brussels/{journey_id}"
""",
    )
    with pytest.raises(ProceduresFileError) as err:
        load_procedures(path)
    message = str(err.value)
    assert str(path) in message
    assert "procedures.marriage-declaration" in message
    assert "line 7" in message and "first at line 3" in message

    path = write(
        tmp_path,
        """
procedures:
  p:
    steps: [identity]
    idle_window: 48h
    resume_url: "https://x.brussels/{journey_id}"
    idle_window: 2h
""",
    )
    with pytest.raises(ProceduresFileError, match=r"procedures\.p\.idle_window: .*twice"):
        load_procedures(path)


def test_an_idle_window_written_as_a_clock_time_is_refused_not_read_as_seconds(tmp_path: Path) -> None:
    # YAML 1.1 reads 1:30 as the base-60 number 90: a window meant as 1h30 became 90 seconds, and
    # every journey was abandoned (and nudged) a minute and a half after its last click.
    path = write(
        tmp_path,
        'procedures:\n  p:\n    steps: [a]\n    idle_window: 1:30\n    resume_url: "https://x/{journey_id}"\n',
    )
    with pytest.raises(ProceduresFileError, match=r"p\.idle_window: '1:30' is not a duration"):
        load_procedures(path)


def test_a_window_of_plain_seconds_given_as_text_is_read_like_the_number() -> None:
    # What `--within 86400` and `within=86400` pass, and what a quoted idle_window holds.
    assert parse_duration("86400") == 86400
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration("0")


def test_an_idle_window_of_centuries_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "procedures:\n  p:\n    steps: [a]\n    idle_window: 99999999999999d\n"
        "    resume_url: 'https://x/{journey_id}'\n",
        encoding="utf-8",
    )
    with pytest.raises(ProceduresFileError, match=r"procedures\.p\.idle_window: .*longer than ten years"):
        load_procedures(path)


def test_a_procedures_file_that_is_not_utf8_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "procedures.yaml"
    path.write_bytes(
        "procedures:\n  p:\n    title: Déclaration\n    steps: [a]\n    idle_window: 1h\n"
        "    resume_url: 'https://x/{journey_id}'\n".encode("cp1252")
    )
    with pytest.raises(
        ProceduresFileError, match=r"procedures\.yaml: not UTF-8 text .*save the file as UTF-8"
    ):
        load_procedures(path)
