from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from campaigns import Campaigns
from campaigns.contacts import is_suppressed, iter_contacts, list_suppressions, suppress, unsuppress
from campaigns.tables import contacts
from contact_center.errors import ContactImportError
from tests.campaigns.helpers import resident, write_csv


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
