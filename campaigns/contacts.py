"""Contacts: CSV import validated row by row, and the suppression list every send respects.

A bad row is reported with its line number and reason and the good rows are still imported; a
re-import updates contacts by e-mail address and never duplicates them.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import zip_longest
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.engine import Engine

from campaigns.tables import contacts, suppressions
from contact_center.errors import ContactImportError

__all__ = [
    "CORE_FIELDS",
    "Contact",
    "ImportReport",
    "RowError",
    "SuppressionReason",
    "import_contacts",
    "is_suppressed",
    "iter_contacts",
    "list_suppressions",
    "normalize_email",
    "suppress",
    "unsuppress",
]

SuppressionReason = Literal["unsubscribed", "hard-bounce", "manual"]

CORE_FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "language",
    "nationality",
    "permit_type",
    "permit_expires",
    "postcode",
    "consent",
)
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_TRUE = {"1", "true", "yes", "y", "oui", "ja", "x"}
_FALSE = {"", "0", "false", "no", "n", "non", "nee"}
_BATCH = 1000
_stamp_lock = threading.Lock()
_last_stamp = 0.0


def _import_stamp() -> float:
    """The ``updated_at`` of every contact one import writes: one value per import, never reused in this process.

    A later batch of the same import finds an address it already wrote (the file lists it twice, more
    than a batch apart) by this value, and does not count that contact a second time.
    """
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.time(), math.nextafter(_last_stamp, math.inf))
        return _last_stamp


@dataclass(frozen=True, slots=True)
class Contact:
    """A resident the Foreigners' Office may write to."""

    email: str
    first_name: str = ""
    last_name: str = ""
    language: str = ""
    nationality: str = ""
    permit_type: str = ""
    permit_expires: date | None = None
    postcode: str = ""
    consent: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    id: int = 0

    def get(self, name: str) -> Any:
        """A core field or, failing that, an attribute (``None`` when absent)."""
        if name in CORE_FIELDS:
            return getattr(self, name)
        return self.attributes.get(name)


@dataclass(frozen=True, slots=True)
class RowError:
    """A CSV row that was not imported: its physical line number and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    """What an import did: rows inserted, rows updated, rows rejected (with reasons)."""

    inserted: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Rows that are now in the contacts table (new or updated)."""
        return self.inserted + self.updated


def normalize_email(address: str) -> str:
    """Validate an e-mail address's syntax and return its normalised form (lower-cased domain and local part).

    Raises ``ValueError`` with the validator's explanation for a malformed address.
    """
    try:
        info = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    # Mailboxes are case-insensitive in practice; lower-casing is what makes re-imports match.
    return info.normalized.lower()


def _parse_row(raw: dict[str, str]) -> dict[str, Any]:
    raw_email = (raw.get("email") or "").strip()
    try:
        email = normalize_email(raw_email)
    except ValueError as exc:
        raise ValueError(f"email {raw_email!r}: {exc}") from None
    language = (raw.get("language") or "").strip().lower()
    if language and not _LANGUAGE.match(language):
        raise ValueError(f"language {language!r} is not an ISO 639 code such as 'fr', 'nl' or 'en'")
    expires_raw = (raw.get("permit_expires") or "").strip()
    expires: date | None = None
    if expires_raw:
        try:
            expires = date.fromisoformat(expires_raw)
        except ValueError:
            raise ValueError(f"permit_expires {expires_raw!r} is not an ISO date (YYYY-MM-DD)") from None
    consent_raw = (raw.get("consent") or "").strip().lower()
    if consent_raw in _TRUE:
        consent = True
    elif consent_raw in _FALSE:
        consent = False
    else:
        raise ValueError(f"consent {consent_raw!r} is not yes/no (true/false, 1/0, oui/non, ja/nee)")
    attributes = {
        k.strip(): (v or "").strip()
        for k, v in raw.items()
        if k is not None and k.strip() and k.strip() not in CORE_FIELDS
    }
    return {
        "email": email,
        "first_name": (raw.get("first_name") or "").strip(),
        "last_name": (raw.get("last_name") or "").strip(),
        "language": language,
        "nationality": (raw.get("nationality") or "").strip().upper(),
        "permit_type": (raw.get("permit_type") or "").strip(),
        "permit_expires": expires,
        "postcode": (raw.get("postcode") or "").strip(),
        "consent": consent,
        "attributes": attributes,
    }


def _upsert(
    engine: Engine,
    rows: list[dict[str, Any]],
    report: ImportReport,
    columns: Collection[str],
    stamp: float,
) -> None:
    """Insert new contacts and update existing ones, but only in the file's ``columns``.

    A file that lacks a column (``email;language`` to correct languages) leaves that field of existing
    contacts as it was, and its extra columns are added to their attributes rather than replacing them.
    ``stamp`` is the import's :func:`_import_stamp`: a contact that already carries it was written by an
    earlier batch of this import and counted there.
    """
    if not rows:
        return
    with engine.begin() as conn:
        found = conn.execute(
            sa.select(contacts.c.email, contacts.c.attributes, contacts.c.updated_at).where(
                contacts.c.email.in_([r["email"] for r in rows])
            )
        ).all()
        previous = {email: attributes for email, attributes, _ in found}
        written = {email for email, _, updated_at in found if updated_at == stamp}
        for row in rows:
            if row["email"] in previous:
                row["attributes"] = {**(previous[row["email"]] or {}), **row["attributes"]}
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(contacts)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(contacts)
        updated = [c for c in CORE_FIELDS[1:] if c in columns]
        update_cols = {c: stmt.excluded[c] for c in (*updated, "attributes", "updated_at")}
        stmt = stmt.on_conflict_do_update(index_elements=["email"], set_=update_cols)
        conn.execute(stmt, [{**r, "updated_at": stamp, "soft_bounces": 0} for r in rows])
    report.updated += sum(1 for r in rows if r["email"] in previous and r["email"] not in written)
    report.inserted += sum(1 for r in rows if r["email"] not in previous)


def _dialect(sample: str) -> type[csv.Dialect]:
    """The CSV dialect with the separator the header row uses: comma, semicolon or tab.

    Read from the header alone, which must name ``email``: ``csv.Sniffer`` wants every sampled line to
    agree, so one empty line near the top made it give up, and a semicolon file was read as one column.
    """
    header = next((line for line in sample.splitlines() if line.strip()), "")
    counts = dict.fromkeys(",;\t", 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda c: counts[c])
    if counts[best] == 0 or best == ",":
        return _Comma
    return _Tab if best == "\t" else _Semicolon


class _Comma(csv.excel):
    # Every value is stripped anyway; skipping the space after a separator also reads `a, "b, c"` right.
    skipinitialspace = True


class _Semicolon(_Comma):
    delimiter = ";"


class _Tab(_Comma):
    delimiter = "\t"


def _check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8 before importing anything from it.

    Excel's plain "CSV" on Windows writes Windows-1252: found halfway through, the rows after the first
    accent would be dropped and the ones before imported, so the whole file is checked first (a cheap
    pass next to validating every address).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    with path.open("rb") as raw:
        while chunk := raw.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = lines_before + exc.object.count(b"\n", 0, exc.start) + 1
                raise ContactImportError(
                    f"{path}: line {line} is not UTF-8 ({exc.reason} at byte {exc.object[exc.start]:#04x}); "
                    "nothing was imported. Save the file as UTF-8: in Excel, 'Save as' > 'CSV UTF-8 "
                    "(comma delimited)'; in LibreOffice, tick 'Edit filter settings' and pick Unicode (UTF-8)."
                ) from None
            lines_before += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ContactImportError(
                f"{path}: the file ends in the middle of a character, so it is not UTF-8 (or is cut "
                "short); nothing was imported. Save it again as CSV UTF-8."
            ) from None


def import_contacts(engine: Engine, path: Path | str) -> ImportReport:
    """Import a residents CSV (header row required; ``email`` column required; extra columns become attributes).

    Rows are validated one by one: a bad row lands in ``report.errors`` with its line number and the
    good rows are imported. Contacts are matched by normalised e-mail, so a re-import updates them.
    A duplicate address within the file keeps its last row. A re-import updates only the columns the
    file has (other fields of existing contacts stay as they were; extra columns join their attributes).

    Example::

        report = import_contacts(engine, "residents.csv")
        for error in report.errors:
            print(error)          # line 7: permit_expires '2026-13-01' is not an ISO date (YYYY-MM-DD)
    """
    path = Path(path)
    try:
        _check_utf8(path)
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ContactImportError(
            f"cannot read contacts file {path}: {exc.strerror}. Check the path."
        ) from None
    report = ImportReport()
    with fh:
        sample = fh.read(4096)
        fh.seek(0)
        dialect = _dialect(sample)
        # csv.reader rather than DictReader: DictReader skips empty lines unseen and line_num is where a
        # record ends, so a rejected row with a quoted line break was reported at its last line.
        reader = csv.reader(fh, dialect=dialect)
        first: list[str] = []
        end = 0
        for first in reader:
            end = reader.line_num
            if first:
                break
        header = [h.strip().lower() for h in first]
        if "email" not in header:
            raise ContactImportError(
                f"{path}: no 'email' column in the header {header!r}. The first row must name the columns "
                "(email, first_name, last_name, language, nationality, permit_type, permit_expires, postcode, consent, ...)."
            )
        twice = next((h for i, h in enumerate(header) if h and h in header[:i]), None)
        if twice is not None:
            # Read as a dict, the last of the two cells silently won.
            raise ContactImportError(
                f"{path}: line {end}: the column {twice!r} appears twice in the header; nothing was "
                "imported. Rename or remove one of them."
            )
        pending: dict[str, dict[str, Any]] = {}
        stamp = _import_stamp()
        try:
            for cells in reader:
                line, end = end + 1, reader.line_num
                if not any(cell.strip() for cell in cells):
                    continue  # an empty line, or one of the ";;;" rows Excel leaves below the data
                if len(cells) > len(header):
                    report.errors.append(RowError(line, "more values than columns in the header"))
                    continue
                # A short row reads its missing cells as empty, as DictReader did (templates see "").
                raw = dict(zip_longest(header, cells, fillvalue=""))
                try:
                    row = _parse_row(raw)
                except ValueError as exc:
                    report.errors.append(RowError(line, str(exc)))
                    continue
                pending[row["email"]] = row
                if len(pending) >= _BATCH:
                    _upsert(engine, list(pending.values()), report, header, stamp)
                    pending.clear()
        except (csv.Error, UnicodeDecodeError) as exc:
            report.errors.append(RowError(end + 1, f"unreadable CSV: {exc}; rows after it were skipped"))
        _upsert(engine, list(pending.values()), report, header, stamp)
    return report


def _contact_from_row(row: Any) -> Contact:
    return Contact(
        id=row.id,
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        language=row.language,
        nationality=row.nationality,
        permit_type=row.permit_type,
        permit_expires=row.permit_expires,
        postcode=row.postcode,
        consent=bool(row.consent),
        attributes=dict(row.attributes or {}),
    )


def iter_contacts(
    engine: Engine, *, emails: Iterable[str] | None = None, chunk: int = 2000
) -> Iterator[Contact]:
    """Stream contacts ordered by id, ``chunk`` rows per query, so a million contacts never sit in memory."""
    wanted = list(emails) if emails is not None else None
    last_id = 0
    while True:
        query = sa.select(contacts).where(contacts.c.id > last_id).order_by(contacts.c.id).limit(chunk)
        if wanted is not None:
            query = query.where(contacts.c.email.in_(wanted))
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        for row in rows:
            yield _contact_from_row(row)
        last_id = rows[-1].id


def suppress(engine: Engine, email: str, reason: SuppressionReason, detail: str = "") -> bool:
    """Add an address to the suppression list; returns False when it was already there (idempotent)."""
    address = normalize_email(email)
    with engine.begin() as conn:
        if conn.scalar(sa.select(suppressions.c.email).where(suppressions.c.email == address)) is not None:
            return False
        conn.execute(
            suppressions.insert().values(email=address, reason=reason, detail=detail, created_at=time.time())
        )
    return True


def unsuppress(engine: Engine, email: str) -> bool:
    """Remove an address from the suppression list (a resident who re-subscribed); False if absent."""
    address = normalize_email(email)
    with engine.begin() as conn:
        return bool(conn.execute(suppressions.delete().where(suppressions.c.email == address)).rowcount)


def is_suppressed(engine: Engine, email: str) -> bool:
    """Whether sends to this address are blocked."""
    with engine.connect() as conn:
        return (
            conn.scalar(sa.select(suppressions.c.email).where(suppressions.c.email == email.lower()))
            is not None
        )


def list_suppressions(engine: Engine) -> list[tuple[str, str, str]]:
    """Every suppressed address as (email, reason, detail), sorted by address."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(suppressions.c.email, suppressions.c.reason, suppressions.c.detail).order_by(
                suppressions.c.email
            )
        ).all()
    return [(r.email, r.reason, r.detail) for r in rows]
