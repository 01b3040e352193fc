"""Reading procedure pages from disk into :class:`~contact_center.models.Document` objects.

Three formats, all turned into Markdown so that one chunker serves them:

- ``.md`` / ``.markdown``: YAML front matter (``id``, ``title``, ``language``, ``topic``, ``source_url``,
  optional ``updated`` and ``procedure``) and a Markdown body;
- ``.html`` / ``.htm``: the page's main content only (navigation, header and footer dropped) through
  trafilatura, with headings and tables kept; metadata from ``<html lang>``, ``<title>``, ``<meta>``;
- ``.pdf``: the text of every page through pypdf.

HTML and PDF files may carry their metadata in a sidecar file ``<name>.<ext>.yaml`` (same keys as the
front matter). A document that states no language gets the one detected from its text, when a detector
is given.

A document that cannot be read raises :class:`DocumentError` with a reason a person can act on; the
ingestor lists it in ``IngestReport.failed`` and goes on with the others.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contact_center.models import Document

__all__ = ["KNOWN_LANGUAGES", "SUPPORTED_SUFFIXES", "DocumentError", "load_document"]

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm", ".pdf"})

# ISO 639-1 codes a procedure page may be written in; anything else is most likely a typo.
KNOWN_LANGUAGES = frozenset(
    {"fr", "nl", "en", "de", "es", "it", "pt", "ar", "tr", "pl", "ro", "bg", "el", "ru", "uk", "zh"}
)

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class DocumentError(Exception):
    """A single document that cannot be ingested; ``str()`` is the reason shown to the user."""


def load_document(path: Path, *, detect_language: Callable[[str], str] | None = None) -> Document:
    """Read one procedure page.

    Args:
        path: a .md, .html or .pdf file.
        detect_language: gives the language of a document that does not state it.

    Raises:
        DocumentError: the file is empty, unreadable, of an unsupported type, has front matter that is
            not YAML, no usable text, or an unknown language code.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"unsupported file type {suffix or '(none)'}; use .md, .html or .pdf")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read the file: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise DocumentError("the file is empty")
    if suffix in {".md", ".markdown"}:
        meta, body = _read_markdown(raw)
    elif suffix in {".html", ".htm"}:
        meta, body = _read_html(raw)
    else:
        meta, body = _read_pdf(raw)
    sidecar = path.with_name(path.name + ".yaml")
    if sidecar.is_file():
        side_meta, _ = _read_markdown(b"---\n" + sidecar.read_bytes().rstrip() + b"\n---\n")
        meta.update(side_meta)
        raw += sidecar.read_bytes()  # a metadata change is a document change
    if not body.strip():
        raise DocumentError("no text found in the document")
    if not meta.get("language") and detect_language is not None:
        meta["language"] = detect_language(body[:2000])
    return _to_document(path, meta, body, raw)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not valid UTF-8 text (byte {exc.start}); save the file as UTF-8") from exc


def _read_markdown(raw: bytes) -> tuple[dict[str, Any], str]:
    import yaml

    text = _decode(raw)
    if not text.startswith("---"):
        return {}, text
    match = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)", text, re.DOTALL)
    if match is None:
        raise DocumentError("front matter opened with '---' but never closed with a '---' line")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        raise DocumentError(f"front matter is not valid YAML{line}: {getattr(exc, 'problem', exc)}") from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise DocumentError("front matter must be a YAML mapping of 'key: value' lines")
    return meta, text[match.end() :]


def _read_html(raw: bytes) -> tuple[dict[str, Any], str]:
    import trafilatura

    text = _decode(raw)
    body = trafilatura.extract(
        text,
        output_format="markdown",
        include_tables=True,
        include_comments=False,
        include_links=False,
        include_formatting=True,
        favor_recall=True,
    )
    meta: dict[str, Any] = {}
    lang = re.search(r"<html[^>]*\blang=[\"']?([A-Za-z]{2})", text, re.IGNORECASE)
    if lang:
        meta["language"] = lang.group(1).lower()
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        meta["title"] = re.sub(r"\s+", " ", title.group(1)).strip()
    for name, value in re.findall(
        r"<meta\s+name=[\"']cc:(\w+)[\"']\s+content=[\"']([^\"']*)[\"']", text, re.IGNORECASE
    ):
        meta[name.lower()] = value
    canonical = re.search(r"<link\s+rel=[\"']canonical[\"']\s+href=[\"']([^\"']+)", text, re.IGNORECASE)
    if canonical and "source_url" not in meta:
        meta["source_url"] = canonical.group(1)
    body = body or ""
    # trafilatura keeps headings as Markdown; make sure the page title is a level-1 heading
    if meta.get("title") and not body.lstrip().startswith("#"):
        body = f"# {meta['title']}\n\n{body}"
    return meta, body


def _read_pdf(raw: bytes) -> tuple[dict[str, Any], str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise DocumentError(f"not a readable PDF: {exc}") from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise DocumentError(
            "the PDF has no text layer (scanned image?); run OCR first or supply HTML/Markdown"
        )
    meta: dict[str, Any] = {}
    info = reader.metadata
    if info is not None and info.title:
        meta["title"] = str(info.title)
    return meta, text


def _first_heading(body: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", body, re.MULTILINE)
    return match.group(1).strip() if match else None


def _to_document(path: Path, meta: dict[str, Any], body: str, raw: bytes) -> Document:
    doc_id = str(meta.get("id") or path.stem).strip()
    if not _ID_RE.match(doc_id):
        raise DocumentError(
            f"invalid document id {doc_id!r}: use letters, digits, '.', '_' or '-' (at most 128 characters)"
        )
    language = str(meta.get("language") or "").strip().lower()
    if not language:
        raise DocumentError(
            "no language: add 'language: fr' (or nl, en...) to the front matter or to a sidecar "
            f"{path.name}.yaml"
        )
    if language not in KNOWN_LANGUAGES:
        raise DocumentError(
            f"unknown language code {language!r}; use an ISO 639-1 code such as "
            + ", ".join(sorted(KNOWN_LANGUAGES))
        )
    title = str(meta.get("title") or _first_heading(body) or doc_id).strip()
    updated = meta.get("updated")
    if isinstance(updated, str):
        try:
            updated = dt.date.fromisoformat(updated)
        except ValueError as exc:
            raise DocumentError(f"'updated' must be an ISO date (YYYY-MM-DD), got {updated!r}") from exc
    elif isinstance(updated, dt.datetime):
        updated = updated.date()
    elif updated is not None and not isinstance(updated, dt.date):
        raise DocumentError(f"'updated' must be an ISO date (YYYY-MM-DD), got {updated!r}")
    return Document(
        id=doc_id,
        title=title,
        language=language,
        topic=str(meta.get("topic") or "").strip(),
        procedure=str(meta.get("procedure") or doc_id).strip(),
        source_url=str(meta.get("source_url") or "").strip(),
        updated=updated,
        body=body.strip() + "\n",
        path=str(path),
        content_hash=hashlib.sha256(raw).hexdigest(),
    )
