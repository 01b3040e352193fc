from __future__ import annotations

from pathlib import Path

import pytest

from contact_center.errors import ContactsFileError
from contact_center.journeys import Contact, FileContactLookup


def test_csv_and_yaml_contacts(tmp_path: Path) -> None:
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("citizen_ref,email,language,consent\nc1,Ana@Example.org,FR,oui\nc2,b@example.org,,\n")
    lookup = FileContactLookup(csv_file)
    assert lookup.lookup("c1") == Contact("Ana@example.org", "fr", True)
    assert lookup.lookup("c2") == Contact("b@example.org", None, False)  # no answer is no consent
    assert lookup.lookup("c3") is None

    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("contacts:\n  c1: {email: a@example.org, language: nl, consent: true}\n")
    assert FileContactLookup(yaml_file).lookup("c1") == Contact("a@example.org", "nl", True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "citizen_ref,email,consent\nc1,not-an-address,yes\n",
            r"line 2: e-mail 'not-an-address' is not valid",
        ),
        ("citizen_ref,email,consent\nc1,a@example.org,maybe\n", r"line 2: consent 'maybe' is not yes/no"),
        ("citizen_ref,mail,consent\n", r"line 1: the header lacks the column 'email'"),
        ("citizen_ref,email,consent,phone\nc1,a@example.org,yes,0470\n", r"line 2: unknown field 'phone'"),
    ],
)
def test_bad_contacts_files(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(body)
    with pytest.raises(ContactsFileError, match=message):
        FileContactLookup(path)
