"""The catalog: which documents and chunks the knowledge base holds, with their content hashes.

A small SQLite file beside the vector index. It is the source of truth for re-ingestion (skip unchanged
documents without re-embedding, replace changed ones, prune removed ones), for the lexical index (rebuilt
from the chunks it stores) and for procedure cards. It also records the embedder the index was built
with, so that opening it with another one is an error rather than silent garbage.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from contact_center.models import Chunk, Document, ProcedureCard

__all__ = ["Catalog", "CatalogEntry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    language TEXT NOT NULL,
    topic TEXT NOT NULL,
    procedure TEXT NOT NULL,
    source_url TEXT NOT NULL,
    updated TEXT,
    card TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
"""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """What the catalog knows of one ingested document."""

    doc_id: str
    path: str
    content_hash: str
    language: str
    topic: str
    procedure: str
    title: str


class Catalog:
    """SQLite catalog of documents and chunks (one file, WAL mode)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        """A recorded setting of the index (the embedder's name, say)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Record a setting of the index."""
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def entries(self) -> dict[str, CatalogEntry]:
        """Every document, by id."""
        rows = self._db.execute(
            "SELECT id, path, content_hash, language, topic, procedure, title FROM documents"
        ).fetchall()
        return {r[0]: CatalogEntry(*r) for r in rows}

    def chunk_ids(self, doc_id: str) -> list[str]:
        """The ids of a document's chunks."""
        rows = self._db.execute("SELECT id FROM chunks WHERE doc_id = ? ORDER BY position", (doc_id,))
        return [r[0] for r in rows]

    def put(self, doc: Document, card: ProcedureCard, chunks: Iterable[Chunk]) -> None:
        """Insert or replace a document with its card and chunks (call inside :meth:`transaction`)."""
        self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc.id,))
        self._db.execute(
            "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc.id,
                doc.path,
                doc.content_hash,
                doc.title,
                doc.language,
                doc.topic,
                doc.procedure or doc.id,
                doc.source_url,
                doc.updated.isoformat() if doc.updated else None,
                card.model_dump_json(),
            ),
        )
        self._db.executemany(
            "INSERT INTO chunks(id, doc_id, position, data) VALUES (?, ?, ?, ?)",
            [(c.id, c.doc_id, c.position, c.model_dump_json()) for c in chunks],
        )

    def touch_path(self, doc_id: str, path: str) -> None:
        """Record that an unchanged document now lives at another path."""
        self._db.execute("UPDATE documents SET path = ? WHERE id = ?", (path, doc_id))

    def delete(self, doc_id: str) -> None:
        """Remove a document and its chunks."""
        self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))

    def chunks(self) -> list[Chunk]:
        """Every chunk, in document and position order."""
        rows = self._db.execute("SELECT data FROM chunks ORDER BY doc_id, position").fetchall()
        return [Chunk.model_validate_json(r[0]) for r in rows]

    def card(self, doc_id: str) -> ProcedureCard | None:
        """The procedure card of a document, if it is in the catalog."""
        row = self._db.execute("SELECT card FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else ProcedureCard.model_validate_json(row[0])

    def documents_of_procedure(self, procedure: str) -> dict[str, str]:
        """Language -> document id for every language version of a procedure."""
        rows = self._db.execute("SELECT language, id FROM documents WHERE procedure = ?", (procedure,))
        return {r[0]: r[1] for r in rows}

    def languages(self) -> list[str]:
        """The languages the knowledge base holds documents in."""
        return [r[0] for r in self._db.execute("SELECT DISTINCT language FROM documents ORDER BY 1")]

    def count(self) -> tuple[int, int]:
        """(documents, chunks)."""
        docs = self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        chunks = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(docs), int(chunks)

    def dump_meta(self) -> str:
        """All recorded settings, as JSON (for diagnostics)."""
        rows = self._db.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
        return json.dumps(dict(rows))
