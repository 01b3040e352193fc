from __future__ import annotations

from pathlib import Path

import pytest

from contact_center.errors import ContactsFileError
from contact_center.journeys import CampaignContactLookup, Contact, FileContactLookup


def test_csv_and_yaml_contacts(tmp_path: Path) -> None:
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("citizen_ref,email,language,consent\nc1,Ana@Example.org,FR,oui\nc2,b@example.org,,\n")
    lookup = FileContactLookup(csv_file)
    assert lookup.lookup("c1") == Contact("Ana@example.org", "fr", True)
    assert lookup.lookup("c2") == Contact("b@example.org", None, False)  # no answer is no consent
    assert lookup.lookup("c3") is None
    # A spreadsheet's byte order mark is not part of the first column's name.
    csv_file.write_text(
        "\ufeffcitizen_ref,email,language,consent\nc1,a@example.org,nl,yes\n", encoding="utf-8"
    )
    assert FileContactLookup(csv_file).lookup("c1") == Contact("a@example.org", "nl", True)

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
        ("citizen_ref,email,consent,phone\nc1,a@example.org,yes,0470\n", r"line 1: unknown column 'phone'"),
        # Checked at the header: a file with no contact yet was accepted with a misspelt column.
        ("citizen_ref,email,consent,langauge\n", r"line 1: unknown column 'langauge'"),
        # A comma inside an unquoted value gave the row more cells than the header; they were dropped.
        (
            "citizen_ref,email,consent\nc1,a@example.org,yes\nc2,Doe, Ana <b@example.org>,yes\n",
            r"line 3: 1 more cell\(s\) than the header's 3 columns",
        ),
    ],
)
def test_bad_contacts_files(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(body)
    with pytest.raises(ContactsFileError, match=message):
        FileContactLookup(path)


def test_campaign_contacts_are_found_by_citizen_ref_and_keep_their_suppressions(tmp_path: Path) -> None:
    from campaigns.contacts import import_contacts, suppress
    from campaigns.tables import open_engine

    engine = open_engine(f"sqlite:///{tmp_path / 'campaigns.sqlite3'}")
    residents = tmp_path / "residents.csv"
    residents.write_text(
        "email,first_name,language,consent,citizen_ref\n"
        "ana@example.org,Ana,NL,yes,c1\n"
        "bea@example.org,Bea,,yes,c2\n"
        "carl@example.org,Carl,fr,no,c3\n"
        "dan@example.org,Dan,fr,yes,\n"  # no citizen_ref: not a journeys contact
        "eve@example.org,Eve,fr,yes,c5\n"
        "eva@example.org,Eva,fr,yes,c5\n",  # two residents claim c5
        encoding="utf-8",
    )
    assert import_contacts(engine, residents).imported == 6
    suppress(engine, "bea@example.org", "unsubscribed")

    lookup = CampaignContactLookup(engine)
    assert lookup.lookup("c1") == Contact("ana@example.org", "nl", True)
    assert lookup.lookup("c2") == Contact("bea@example.org", None, False)  # unsubscribed from campaigns
    assert lookup.lookup("c3") == Contact("carl@example.org", "fr", False)
    assert lookup.lookup("c5") is None and lookup.ambiguous == {"c5"}
    assert len(lookup) == 3
    engine.dispose()


def test_a_numeric_citizen_ref_in_yaml_is_kept_as_written(tmp_path: Path) -> None:
    """YAML 1.1 reads 00012345 as the octal number 5349 (and 1_000 as 1000): the contact was stored
    under another reference, and the citizen silently got no nudge ("no contact for this citizen")."""
    path = tmp_path / "contacts.yaml"
    path.write_text(
        "contacts:\n"
        "  00012345: {email: ana@example.org, language: fr, consent: true}\n"
        "  1_000: {email: bob@example.org, consent: yes}\n"
        "  2026-10-05: {email: eve@example.org, consent: no}\n",
        encoding="utf-8",
    )
    lookup = FileContactLookup(path)
    assert lookup.lookup("00012345") == Contact("ana@example.org", "fr", True)
    assert lookup.lookup("1_000") == Contact("bob@example.org", None, True)
    assert lookup.lookup("2026-10-05") == Contact("eve@example.org", None, False)


def test_a_citizen_ref_that_yaml_1_1_reads_as_a_boolean_is_kept_as_written(tmp_path: Path) -> None:
    """YAML 1.1 reads yes, no, on and off as booleans: the contact was stored under 'True' or 'False'."""
    path = tmp_path / "contacts.yaml"
    path.write_text(
        "contacts:\n"
        "  no: {email: ana@example.org, consent: yes}\n"
        "  On: {email: bob@example.org, consent: off}\n",
        encoding="utf-8",
    )
    lookup = FileContactLookup(path)
    assert lookup.lookup("no") == Contact("ana@example.org", None, True)
    assert lookup.lookup("On") == Contact("bob@example.org", None, False)
    assert lookup.lookup("False") is None and lookup.lookup("True") is None


def test_a_contacts_csv_saved_by_a_belgian_excel_with_semicolons_is_read(tmp_path: Path) -> None:
    # Excel in French or Dutch separates "CSV" fields with ';': the file was refused whole.
    path = tmp_path / "contacts.csv"
    path.write_text(
        "citizen_ref;email;language;consent\r\nc1;ana@example.org;nl;ja\r\nc2;bob@example.org;fr;non\r\n",
        encoding="utf-8-sig",
    )
    lookup = FileContactLookup(path)
    assert lookup.lookup("c1") == Contact("ana@example.org", "nl", True)
    assert lookup.lookup("c2") == Contact("bob@example.org", "fr", False)


def test_contacts_csv_column_names_are_read_in_any_case_and_without_surrounding_spaces(
    tmp_path: Path,
) -> None:
    # `Citizen_Ref` was refused: "the header lacks the column 'citizen_ref'".
    path = tmp_path / "contacts.csv"
    path.write_text("Citizen_Ref, Email ,LANGUAGE,Consent\nc1,ana@example.org,fr,yes\n", encoding="utf-8")
    assert FileContactLookup(path).lookup("c1") == Contact("ana@example.org", "fr", True)
    path.write_text(
        "Citizen_Ref;Email;Language;Consent\r\nc1;ana@example.org;nl;ja\r\n", encoding="utf-8-sig"
    )
    assert FileContactLookup(path).lookup("c1") == Contact("ana@example.org", "nl", True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "citizen_ref,email,language,consent,\nc1,a@example.org,fr,yes,\n",
            "line 1: column 5 of the CSV header has no name: the header line ends with ','; remove the ','",
        ),
        (
            "citizen_ref;email;consent;\r\nc1;a@example.org;ja;\r\n",
            "line 1: column 4 of the CSV header has no name: the header line ends with ';'",
        ),
        (
            "citizen_ref,,email,consent\nc1,x,a@example.org,yes\n",
            "line 1: column 2 of the CSV header has no name; name it, or delete that column",
        ),
        (
            "citizen_ref,email,Email,consent\nc1,a@example.org,b@example.org,yes\n",
            "line 1: the CSV header names the column 'email' twice (as 'email' and 'Email')",
        ),
    ],
)
def test_a_contacts_header_with_a_nameless_or_repeated_column_says_which_and_what_to_do(
    tmp_path: Path, body: str, message: str
) -> None:
    # A trailing delimiter gave "line 2: unknown field ''", on the first row rather than the header.
    path = tmp_path / "contacts.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ContactsFileError) as raised:
        FileContactLookup(path)
    assert str(raised.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        (
            "contacts.csv",
            "citizen_ref,email,consent\n"
            "c1,ana@example.org,yes\nc2,bob@example.org,yes\n c1 ,eve@example.org,no\n",
            "line 4: citizen_ref 'c1' again, first at line 2: one contact per citizen, and a nudge cannot "
            "choose between the two rows; keep one of them",
        ),
        (
            "contacts.yaml",
            "contacts:\n"
            "  c1: {email: ana@example.org, consent: true}\n"
            "  c2: {email: bob@example.org, consent: true}\n"
            "  c1: {email: eve@example.org, consent: false}\n",
            "contacts.c1: written twice, at line 4 (first at line 2): one contact per citizen, and a nudge "
            "cannot choose between the two; keep one of them",
        ),
        (
            "contacts.yaml",
            "contacts:\n"
            "  c1: {email: ana@example.org, consent: true}\n"
            "  'c1 ': {email: eve@example.org, consent: true}\n",
            "contacts.c1: written twice, at line 3 (first at line 2)",
        ),
    ],
)
def test_a_citizen_ref_given_twice_is_refused_with_both_lines(
    tmp_path: Path, name: str, body: str, message: str
) -> None:
    # The last row won silently, while the campaign contacts treat a shared citizen_ref as ambiguous.
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ContactsFileError) as raised:
        FileContactLookup(path)
    assert str(raised.value).startswith(f"{path}: {message}")
