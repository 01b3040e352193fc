from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from campaigns import Campaigns
from campaigns.cli import app
from campaigns.contacts import is_suppressed, iter_contacts, list_suppressions, suppress, unsuppress
from campaigns.tables import contacts
from contact_center.errors import ContactImportError
from tests.campaigns.helpers import FIELDS, make_settings, resident, write_csv


def test_bad_rows_are_reported_by_line_and_good_rows_imported(service: Campaigns, tmp_path: Path) -> None:
    rows = [
        resident(1),
        resident(2, email="not-an-address"),
        resident(3, permit_expires="2026-13-01"),
        resident(4, language="french"),
        resident(5, consent="maybe"),
        resident(6),
    ]
    report = service.import_contacts(write_csv(tmp_path / "r.csv", rows))
    assert report.inserted == 2
    assert [(e.line, e.reason.split(" ")[0]) for e in report.errors] == [
        (3, "email"),
        (4, "permit_expires"),
        (5, "language"),
        (6, "consent"),
    ]
    assert "@-sign" in report.errors[0].reason
    assert "ISO date" in str(report.errors[1])
    emails = [c.email for c in iter_contacts(service.engine)]
    assert emails == ["resident1@example.org", "resident6@example.org"]


def test_reimport_updates_by_email_and_keeps_extra_columns(service: Campaigns, tmp_path: Path) -> None:
    service.import_contacts(write_csv(tmp_path / "a.csv", [resident(1, language="nl"), resident(2)]))
    report = service.import_contacts(
        write_csv(
            tmp_path / "b.csv",
            [resident(1, language="fr", email="Resident1@Example.ORG", district="ixelles")],
        )
    )
    assert (report.inserted, report.updated) == (0, 1)
    with service.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(contacts)) == 2
    first = next(iter_contacts(service.engine))
    assert (first.email, first.language, first.attributes["district"]) == (
        "resident1@example.org",
        "fr",
        "ixelles",
    )


def test_semicolon_csv_and_missing_columns(service: Campaigns, tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("email;language;badge\nx@example.org;nl;42\n", encoding="utf-8")
    report = service.import_contacts(path)
    assert report.inserted == 1 and not report.errors
    contact = next(iter_contacts(service.engine))
    assert (contact.language, contact.attributes, contact.permit_expires) == ("nl", {"badge": "42"}, None)


def test_unreadable_files_raise_a_clear_error(service: Campaigns, tmp_path: Path) -> None:
    with pytest.raises(ContactImportError, match="cannot read"):
        service.import_contacts(tmp_path / "missing.csv")
    (tmp_path / "noemail.csv").write_text("name,language\nA,fr\n", encoding="utf-8")
    with pytest.raises(ContactImportError, match="no 'email' column"):
        service.import_contacts(tmp_path / "noemail.csv")


def test_suppression_list_is_idempotent(service: Campaigns) -> None:
    assert suppress(service.engine, "Someone@Example.org", "manual", "asked by phone")
    assert not suppress(service.engine, "someone@example.org", "unsubscribed")
    assert is_suppressed(service.engine, "someone@example.org")
    assert list_suppressions(service.engine) == [("someone@example.org", "manual", "asked by phone")]
    assert unsuppress(service.engine, "someone@example.org")
    assert not unsuppress(service.engine, "someone@example.org")


@pytest.mark.parametrize("filler", [0, 300], ids=["accent-on-line-2", "accent-past-the-first-4-KiB"])
def test_a_windows_1252_file_is_refused_whole_with_the_line_and_how_to_save_it(
    tmp_path: Path, filler: int
) -> None:
    # Excel's "CSV (separated by semicolon)" on a Belgian Windows writes Windows-1252, not UTF-8.
    lines = ["email;first_name;last_name"]
    lines += [f"filler{i}@example.org;Jan;Peeters" for i in range(filler)]
    lines += ["elodie@example.org;Élodie;Dupont", "last@example.org;Anne;Martin"]
    path = tmp_path / "residents.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1252") + b"\r\n")
    env = {"CC_DATA_DIR": str(tmp_path / "data"), "CC_SECRET_KEY": "k"}
    result = CliRunner().invoke(app, ["contacts", "import", str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert f"line {filler + 2} is not UTF-8" in result.output
    assert "CSV UTF-8" in result.output
    assert "nothing was imported" in result.output
    service = Campaigns(make_settings(tmp_path / "data"))
    try:
        assert list(iter_contacts(service.engine)) == []
    finally:
        service.engine.dispose()


def test_a_rejected_row_with_a_quoted_line_break_is_reported_at_the_line_where_it_starts(
    service: Campaigns, tmp_path: Path
) -> None:
    path = tmp_path / "residents.csv"
    path.write_text(
        "email,first_name,note\n"
        'ok@example.org,A,"two\nlines"\n'  # lines 2-3
        "\n"  # line 4, empty
        'not-an-address,B,"three\nmore\nlines"\n'  # lines 5-7
        "also-bad,C,x\n",  # line 8
        encoding="utf-8",
    )
    report = service.import_contacts(path)
    assert report.inserted == 1
    assert [(e.line, e.reason.split(" ")[1]) for e in report.errors] == [
        (5, "'not-an-address':"),
        (8, "'also-bad':"),
    ]
    (tmp_path / "short.csv").write_text("email,first_name,district\nshort@example.org\n", encoding="utf-8")
    assert not service.import_contacts(tmp_path / "short.csv").errors
    short = next(iter_contacts(service.engine, emails=["short@example.org"]))
    assert (short.first_name, short.attributes) == ("", {"district": ""})


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        ("email;first_name;language\r\nok@example.org;Anne;fr\r\n\r\nnext@example.org;Bob;nl\r\n", ";"),
        ("email\tfirst_name\tlanguage\nok@example.org\tAnne\tfr\n\nnext@example.org\tBob\tnl\n", "tab"),
        ('"email";"name, first";"language"\nok@example.org;"Anne, B.";fr\n\nnext@example.org;Bob;nl\n', ";"),
        ("email\nok@example.org\n\nnext@example.org\n", "none"),
    ],
)
def test_the_separator_is_found_when_the_file_has_an_empty_line(
    service: Campaigns, tmp_path: Path, text: str, separator: str
) -> None:
    # Belgian Excel writes semicolons; an empty line near the top used to defeat the detection, and the
    # import stopped with "no 'email' column in the header ['email;first_name;language']".
    path = tmp_path / "residents.csv"
    path.write_text(text, encoding="utf-8")
    report = service.import_contacts(path)
    assert (report.inserted, report.errors) == (2, [])
    assert [c.email for c in iter_contacts(service.engine)] == ["ok@example.org", "next@example.org"]


def test_spaces_after_commas_and_quoted_commas(service: Campaigns, tmp_path: Path) -> None:
    path = tmp_path / "spaced.csv"
    path.write_text('email, last_name, language\na@example.org, "Dupont, ép. Martin", fr\n', encoding="utf-8")
    assert not service.import_contacts(path).errors
    assert next(iter_contacts(service.engine)).last_name == "Dupont, ép. Martin"


def test_rows_of_empty_cells_that_excel_leaves_at_the_end_are_skipped_like_empty_lines(
    service: Campaigns, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        b"email;first_name;language\r\nok@example.org;Anne;fr\r\n;;\r\n ; ;\r\n\r\nbad;Bob;nl\r\n;;\r\n"
    )
    report = service.import_contacts(path)
    assert report.inserted == 1
    assert [str(e).split(":")[0] for e in report.errors] == ["line 6"]


def test_a_file_with_fewer_columns_updates_only_those_columns(service: Campaigns, tmp_path: Path) -> None:
    # Staff correcting languages import "email;language": the contacts' consent, permit dates, names and
    # extra columns must stay as they were, not be wiped by the columns the file does not have.
    service.import_contacts(
        write_csv(tmp_path / "all.csv", [resident(1, "fr", dossier="D1")], [*FIELDS, "dossier"])
    )
    before = next(iter_contacts(service.engine))
    (tmp_path / "languages.csv").write_text(
        "email;language;office\nresident1@example.org;nl;Ixelles\n", encoding="utf-8"
    )
    report = service.import_contacts(tmp_path / "languages.csv")
    assert (report.inserted, report.updated, report.errors) == (0, 1, [])
    after = next(iter_contacts(service.engine))
    assert after.language == "nl"
    assert (after.consent, after.permit_expires, after.first_name, after.postcode) == (
        True,
        before.permit_expires,
        "First1",
        "1000",
    )
    assert after.attributes == {"district": "centre", "dossier": "D1", "office": "Ixelles"}


def test_a_header_naming_a_column_twice_is_refused_and_nothing_imported(
    service: Campaigns, tmp_path: Path
) -> None:
    # Two 'language' columns (a pasted block): the second cell silently won and overwrote the first.
    path = tmp_path / "twice.csv"
    path.write_text("email,language,consent,Language\na@example.org,fr,yes,nl\n", encoding="utf-8")
    with pytest.raises(ContactImportError, match="line 1: the column 'language' appears twice"):
        service.import_contacts(path)
    assert list(iter_contacts(service.engine)) == []


def test_counts_of_a_large_import_with_an_address_listed_twice_batches_apart(tmp_path: Path) -> None:
    # The import writes 1,000 contacts per transaction. An address listed twice more than a batch apart
    # used to be counted twice: new (or updated) in its first batch, then updated again in a later one.
    env = {"CC_DATA_DIR": str(tmp_path / "data"), "CC_SECRET_KEY": "k"}
    runner = CliRunner()
    first = runner.invoke(
        app,
        ["contacts", "import", str(write_csv(tmp_path / "a.csv", [resident(i) for i in range(500)]))],
        env=env,
    )
    assert first.exit_code == 0 and "500 new, 0 updated, 0 rejected" in first.output
    rows = [resident(i) for i in range(3000)]
    # resident10 existed before, resident2000 did not; each comes back in the last batch, whose row wins.
    rows += [resident(10, language="nl"), resident(2000, language="nl")]
    result = runner.invoke(app, ["contacts", "import", str(write_csv(tmp_path / "b.csv", rows))], env=env)
    assert result.exit_code == 0, result.output
    assert "2500 new, 500 updated, 0 rejected" in result.output
    service = Campaigns(make_settings(tmp_path / "data"))
    languages = {c.email: c.language for c in iter_contacts(service.engine)}
    service.engine.dispose()
    assert len(languages) == 3000
    assert languages["resident10@example.org"] == languages["resident2000@example.org"] == "nl"
    # A second import of the same file finds every contact there already.
    again = runner.invoke(app, ["contacts", "import", str(write_csv(tmp_path / "b.csv", rows))], env=env)
    assert "0 new, 3000 updated, 0 rejected" in again.output
