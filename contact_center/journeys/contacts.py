"""Who to write to: the ``citizen_ref -> Contact`` lookup port, a file adapter and a campaigns adapter.

Events carry only a pseudonymous ``citizen_ref``; the address, language and consent live elsewhere
(the campaigns package's contacts, the City's CRM). :class:`CampaignContactLookup` reads the campaign
contacts that carry a ``citizen_ref`` attribute, and honours their suppression list.
:class:`FileContactLookup` reads a CSV or YAML file::

    citizen_ref,email,language,consent
    c-0001,ana@example.org,fr,yes

    contacts:
      c-0001: {email: ana@example.org, language: fr, consent: true}
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import yaml
from email_validator import EmailNotValidError, validate_email

from contact_center.errors import ContactsFileError
from contact_center.journeys.events import csv_column_names, csv_delimiter

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["CampaignContactLookup", "Contact", "ContactLookup", "FileContactLookup", "MappingContactLookup"]


class _Loader(yaml.SafeLoader):
    """YAML's safe loader without numbers, dates and booleans: a citizen_ref such as 00012345 is text, not
    5349, and one such as ``no`` or ``on`` is text, not False or True (consent reads its words itself)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":int", ":float", ":timestamp", ":bool"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_TRUE = {"true", "yes", "y", "on", "1", "oui", "ja"}
_FALSE = {"false", "no", "n", "off", "0", "non", "nee", ""}
_FIELDS = ("citizen_ref", "email", "language", "consent")


@dataclass(frozen=True, slots=True)
class Contact:
    """How to reach a citizen, and whether they agreed to be reminded of unfinished procedures."""

    email: str
    language: str | None
    consent: bool


@runtime_checkable
class ContactLookup(Protocol):
    """Resolves a pseudonymous citizen reference to a contact, or None when unknown."""

    def lookup(self, citizen_ref: str) -> Contact | None:
        """The contact for ``citizen_ref``, or None."""
        ...


class MappingContactLookup:
    """A lookup over an in-memory mapping (tests, or contacts already loaded by another package)."""

    def __init__(self, contacts: Mapping[str, Contact]) -> None:
        self._contacts = dict(contacts)

    def lookup(self, citizen_ref: str) -> Contact | None:
        """The contact for ``citizen_ref``, or None."""
        return self._contacts.get(citizen_ref)

    def __len__(self) -> int:
        return len(self._contacts)


def _contact(raw: Mapping[str, object], where: str) -> tuple[str, Contact]:
    unknown = [k for k in raw if k not in _FIELDS]
    if unknown:
        raise ContactsFileError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(_FIELDS)}")
    ref = str(raw.get("citizen_ref") or "").strip()
    if not ref:
        raise ContactsFileError(f"{where}: missing citizen_ref")
    email = str(raw.get("email") or "").strip()
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ContactsFileError(f"{where}: e-mail {email!r} is not valid: {exc}") from None
    consent_raw = raw.get("consent")
    if isinstance(consent_raw, bool):
        consent = consent_raw
    elif str(consent_raw if consent_raw is not None else "").strip().lower() in _TRUE:
        consent = True
    elif str(consent_raw if consent_raw is not None else "").strip().lower() in _FALSE:
        # No answer is no consent: nudges are opt-in.
        consent = False
    else:
        raise ContactsFileError(f"{where}: consent {consent_raw!r} is not yes/no (true/false, 1/0)")
    language = str(raw.get("language") or "").strip().lower() or None
    return ref, Contact(email=email, language=language, consent=consent)


_ONE_CONTACT = "one contact per citizen, and a nudge cannot choose between the two"


def _repeated_ref(document: yaml.Node | None) -> tuple[str, int, int] | None:
    """The first citizen_ref the ``contacts:`` mapping gives twice: (ref, its line, the first one's line)."""
    if not isinstance(document, yaml.MappingNode):
        return None
    for key, value in document.value:
        if not (isinstance(key, yaml.ScalarNode) and key.value == "contacts"):
            continue
        if not isinstance(value, yaml.MappingNode):
            return None
        seen: dict[str, int] = {}
        for ref_node, _entry in value.value:
            if not isinstance(ref_node, yaml.ScalarNode):
                continue
            ref, line = str(ref_node.value).strip(), ref_node.start_mark.line + 1
            if ref in seen:
                return ref, line, seen[ref]
            seen[ref] = line
    return None


class FileContactLookup(MappingContactLookup):
    """Contacts read once from a CSV (header ``citizen_ref,email,language,consent``, any case) or YAML file.

    Raises ContactsFileError naming the line (CSV) or the citizen_ref (YAML) of the first bad entry;
    consent must be explicit, and a missing value means no consent. A citizen_ref given twice is a bad
    entry too, named with both lines (as with the campaign contacts, neither of the two wins).
    """

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        try:
            content = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ContactsFileError(f"{p}: cannot read the contacts file: {exc}") from exc
        contacts: dict[str, Contact] = {}
        if p.suffix.lower() == ".csv":
            lines = content.splitlines()
            # Excel in French or Dutch writes "CSV" with ';' between the fields.
            delimiter = (
                csv_delimiter(lines[0], lambda cells: "citizen_ref" in {c.strip().lower() for c in cells})
                if lines
                else ","
            )
            reader = csv.DictReader(lines, delimiter=delimiter)
            try:
                header = csv_column_names(list(reader.fieldnames or []), delimiter)
            except ValueError as exc:
                raise ContactsFileError(f"{p}: line 1: {exc}") from None
            reader.fieldnames = header
            for required in ("citizen_ref", "email", "consent"):
                if required not in header:
                    raise ContactsFileError(f"{p}: line 1: the header lacks the column {required!r}")
            unknown = [name for name in header if name not in _FIELDS]
            if unknown:
                # Said at the header, not at the first contact: a file with no contact yet is checked too.
                raise ContactsFileError(
                    f"{p}: line 1: unknown column {unknown[0]!r}; allowed: {', '.join(_FIELDS)}"
                )
            lines_of: dict[str, int] = {}
            for row in reader:
                line = reader.line_num
                extra = row.pop(None, None)
                if extra:
                    raise ContactsFileError(
                        f"{p}: line {line}: {len(extra)} more cell(s) than the header's {len(header)} columns "
                        f"({delimiter!r} inside a value?); quote that value or remove the extra cells"
                    )
                ref, contact = _contact(dict(row), f"{p}: line {line}")
                if ref in lines_of:
                    raise ContactsFileError(
                        f"{p}: line {line}: citizen_ref {ref!r} again, first at line {lines_of[ref]}: "
                        f"{_ONE_CONTACT} rows; keep one of them"
                    )
                lines_of[ref] = line
                contacts[ref] = contact
        else:
            try:
                # YAML keeps the last of two equal keys without a word: look for them in the document.
                twice = _repeated_ref(yaml.compose(content, Loader=_Loader))
                data = yaml.load(content, Loader=_Loader)
            except yaml.YAMLError as exc:
                raise ContactsFileError(f"{p}: not valid YAML: {exc}") from exc
            if not isinstance(data, dict) or not isinstance(data.get("contacts"), dict):
                raise ContactsFileError(f"{p}: expected a mapping 'contacts:' of citizen_ref to contact")
            if twice is not None:
                ref, line, first = twice
                raise ContactsFileError(
                    f"{p}: contacts.{ref}: written twice, at line {line} (first at line {first}): "
                    f"{_ONE_CONTACT}; keep one of them"
                )
            for ref, entry in data["contacts"].items():
                if not isinstance(entry, dict):
                    raise ContactsFileError(f"{p}: contacts.{ref}: expected a mapping with email and consent")
                key, contact = _contact({"citizen_ref": ref, **entry}, f"{p}: contacts.{ref}")
                contacts[key] = contact
        super().__init__(contacts)


class CampaignContactLookup(MappingContactLookup):
    """The campaign contacts (``contact-center campaigns contacts import``) found by their ``citizen_ref``.

    Any extra column of the campaigns CSV becomes an attribute, so a ``citizen_ref`` column links a
    resident to their journeys. Consent is the contact's own, withdrawn when the address is on the
    campaigns suppression list (unsubscribed, hard-bounced or blocked): a nudge respects what a campaign
    respects. A ``citizen_ref`` that two contacts share is ambiguous: no nudge goes to either, and
    ``ambiguous`` lists it. The contacts are read once, streamed in chunks.
    """

    def __init__(self, engine: Engine) -> None:
        from sqlalchemy import select

        from campaigns.contacts import iter_contacts
        from campaigns.tables import suppressions

        with engine.connect() as conn:
            blocked = set(conn.scalars(select(suppressions.c.email)))
        contacts: dict[str, Contact] = {}
        self.ambiguous: set[str] = set()
        for contact in iter_contacts(engine):
            ref = str(contact.attributes.get("citizen_ref") or "").strip()
            if not ref:
                continue
            if ref in contacts:
                self.ambiguous.add(ref)
            contacts[ref] = Contact(
                email=contact.email,
                language=contact.language.lower() or None,
                consent=contact.consent and contact.email not in blocked,
            )
        for ref in self.ambiguous:
            del contacts[ref]
        super().__init__(contacts)
