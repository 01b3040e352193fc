"""The knowledge base: catalog, vector index and lexical index behind one object.

:class:`KnowledgeBase` ingests procedure pages (skipping unchanged ones without re-embedding, replacing
changed ones, pruning removed ones) and searches them densely, lexically or both (reciprocal-rank
fusion), across every language it holds, with optional language and topic filters.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from contact_center.errors import IndexMismatchError, IngestError
from contact_center.models import (
    Chunk,
    Document,
    FailedDocument,
    Hit,
    IngestReport,
    ProcedureCard,
    RetrievalMode,
)
from knowledge_base.catalog import Catalog
from knowledge_base.chunking import build_card, chunk_document
from knowledge_base.embeddings import Embedder
from knowledge_base.lexical import LexicalIndex
from knowledge_base.loaders import SUPPORTED_SUFFIXES, DocumentError, load_document
from knowledge_base.vector_index import ChromaVectorIndex, VectorIndex

__all__ = ["KnowledgeBase", "ProgressCallback", "hit_from_chunk"]

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` during ingestion; stages: 'scan', 'embed'."""

_RRF_K = 60
_EMBED_BATCH = 256


def _iter_files(paths: Iterable[Path]) -> tuple[list[tuple[Path, Path | None]], list[FailedDocument]]:
    """(file, folder it was found in) for every supported file, plus the paths that do not exist."""
    files: list[tuple[Path, Path | None]] = []
    missing: list[FailedDocument] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if (
                    child.is_file()
                    and child.suffix.lower() in SUPPORTED_SUFFIXES
                    and not child.name.startswith(".")
                ):
                    files.append((child, path))
        elif path.is_file():
            files.append((path, None))
        else:
            missing.append(FailedDocument(path=str(path), reason="no such file or folder"))
    return files, missing


class KnowledgeBase:
    """Procedure pages, indexed for retrieval.

    Args:
        directory: where the catalog and (unless ``chroma_url``) the Chroma index live.
        embedder: the model embedding passages and queries; recorded with the index.
        chroma_url: a Chroma server instead of the on-disk index.
        vector_index: an explicit ``VectorIndex`` (tests, other engines); overrides ``chroma_url``.
        detect_language: gives the language of documents that do not state it (HTML, PDF).
    """

    def __init__(
        self,
        directory: Path,
        embedder: Embedder,
        *,
        chroma_url: str | None = None,
        vector_index: VectorIndex | None = None,
        detect_language: Callable[[str], str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.embedder = embedder
        self.catalog = Catalog(self.directory / "catalog.sqlite3")
        recorded = self.catalog.get_meta("embedder")
        if recorded is not None and recorded != embedder.name:
            raise IndexMismatchError(
                f"the knowledge base in {self.directory} was built with the embedder {recorded!r}, "
                f"but {embedder.name!r} is configured. Use the same CC_EMBEDDER, or point CC_DATA_DIR at a "
                "new directory and ingest again."
            )
        self._detect_language = detect_language
        self._chroma_url = chroma_url
        self._vectors: VectorIndex | None = vector_index
        self._lexical: LexicalIndex | None = None
        self._chunks: dict[str, Chunk] | None = None
        self._titles: tuple[tuple[str, str], ...] | None = None

    # -- lazily opened parts --------------------------------------------------------------------

    @property
    def vectors(self) -> VectorIndex:
        """The vector index, opened on first use (Chroma is slow to import)."""
        if self._vectors is None:
            self._vectors = ChromaVectorIndex(
                path=self.directory / "chroma",
                url=self._chroma_url,
                embedder_name=self.embedder.name,
                dim=self.embedder.dim,
            )
        return self._vectors

    def _chunk_map(self) -> dict[str, Chunk]:
        if self._chunks is None:
            self._chunks = {c.id: c for c in self.catalog.chunks()}
        return self._chunks

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 index, rebuilt from the catalog on first use."""
        if self._lexical is None:
            self._lexical = LexicalIndex(list(self._chunk_map().values()))
        return self._lexical

    def _invalidate(self) -> None:
        self._lexical = None
        self._chunks = None
        self._titles = None

    def titles(self) -> tuple[tuple[str, str], ...]:
        """(title, language) of every document, sorted; cached until the next change of the index."""
        if self._titles is None:
            self._titles = tuple(sorted({(e.title, e.language) for e in self.catalog.entries().values()}))
        return self._titles

    def close(self) -> None:
        """Close the catalog."""
        self.catalog.close()

    # -- ingestion ------------------------------------------------------------------------------

    def ingest(
        self, paths: Sequence[Path | str], *, prune: bool = False, progress: ProgressCallback | None = None
    ) -> IngestReport:
        """Ingest files and folders of procedure pages.

        Unchanged documents (same content hash) are skipped without re-embedding; changed ones are
        replaced; with ``prune``, documents that were ingested from one of the given folders and are no
        longer there are removed. A document that cannot be read is listed in ``report.failed`` and the
        others are ingested.
        """
        if not paths:
            raise IngestError("nothing to ingest: give at least one file or folder")
        report = IngestReport()
        files, missing = _iter_files(Path(p) for p in paths)
        report.failed.extend(missing)
        if not files and missing and len(missing) == len(paths):
            raise IngestError("none of the paths exist: " + ", ".join(f.path for f in missing))
        entries = self.catalog.entries()
        by_path = {e.path: e for e in entries.values()}
        seen: dict[str, str] = {}
        pending: list[tuple[Document, ProcedureCard, list[Chunk], bool]] = []
        for n, (file, _folder) in enumerate(files, 1):
            if progress:
                progress("scan", n, len(files))
            key = str(file.resolve())
            known = by_path.get(key)
            if known is not None:
                try:
                    unchanged = _file_hash(file) == known.content_hash
                except OSError:
                    unchanged = False
                if unchanged and known.doc_id not in seen:
                    seen[known.doc_id] = key
                    report.unchanged.append(known.doc_id)
                    continue
            try:
                doc = load_document(file, detect_language=self._detect_language)
            except DocumentError as exc:
                report.failed.append(FailedDocument(path=str(file), reason=str(exc)))
                continue
            doc = doc.model_copy(update={"path": key})
            if doc.id in seen:
                report.failed.append(
                    FailedDocument(
                        path=str(file), reason=f"duplicate document id {doc.id!r}, also in {seen[doc.id]}"
                    )
                )
                continue
            seen[doc.id] = key
            old = entries.get(doc.id)
            if old is not None and old.content_hash == doc.content_hash:
                self.catalog.touch_path(doc.id, key)
                report.unchanged.append(doc.id)
                continue
            chunks = chunk_document(doc)
            if not chunks:
                report.failed.append(FailedDocument(path=str(file), reason="no text under any heading"))
                continue
            pending.append((doc, build_card(doc), chunks, old is not None))
        if pending:
            self._store(pending, report, progress)
        if prune:
            folders = {str(Path(p).resolve()) for p in paths if Path(p).is_dir()}
            for doc_id, entry in entries.items():
                if doc_id in seen or not any(entry.path.startswith(f + os.sep) for f in folders):
                    continue
                self._remove(doc_id)
                report.removed.append(doc_id)
        if pending or report.removed:
            self._invalidate()
        return report

    def _store(
        self,
        pending: list[tuple[Document, ProcedureCard, list[Chunk], bool]],
        report: IngestReport,
        progress: ProgressCallback | None,
    ) -> None:
        total = sum(len(c) for _, _, c, _ in pending)
        done = 0
        vectors = self.vectors
        if self.catalog.get_meta("embedder") is None:
            self.catalog.set_meta("embedder", self.embedder.name)
        # Documents are embedded in batches of whole documents so that memory stays bounded and a crash
        # never leaves a document half indexed in the catalog.
        batch: list[tuple[Document, ProcedureCard, list[Chunk], bool]] = []
        for item in pending:
            batch.append(item)
            if sum(len(c) for _, _, c, _ in batch) >= _EMBED_BATCH:
                done = self._store_batch(batch, vectors, report, done, total, progress)
                batch = []
        if batch:
            self._store_batch(batch, vectors, report, done, total, progress)

    def _store_batch(
        self,
        batch: list[tuple[Document, ProcedureCard, list[Chunk], bool]],
        vectors: VectorIndex,
        report: IngestReport,
        done: int,
        total: int,
        progress: ProgressCallback | None,
    ) -> int:
        chunks = [c for _, _, cs, _ in batch for c in cs]
        embeddings = self.embedder.embed_passages([c.text for c in chunks])
        stale = [cid for doc, _, _, existed in batch if existed for cid in self.catalog.chunk_ids(doc.id)]
        fresh = {c.id for c in chunks}
        if stale:
            vectors.delete([cid for cid in stale if cid not in fresh])
        vectors.upsert(chunks, embeddings)
        with self.catalog.transaction():
            for doc, card, doc_chunks, existed in batch:
                self.catalog.put(doc, card, doc_chunks)
                (report.updated if existed else report.added).append(doc.id)
        report.chunks_embedded += len(chunks)
        done += len(chunks)
        if progress:
            progress("embed", done, total)
        return done

    def _remove(self, doc_id: str) -> None:
        ids = self.catalog.chunk_ids(doc_id)
        if ids:
            self.vectors.delete(ids)
        with self.catalog.transaction():
            self.catalog.delete(doc_id)

    # -- retrieval ------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        language: str | None = None,
        topic: str | None = None,
        mode: RetrievalMode = "dense",
    ) -> list[Hit]:
        """The ``k`` best chunks for a query, best first, across every language unless filtered."""
        if k <= 0:
            return []
        chunks = self._chunk_map()
        if not chunks:
            return []
        if mode == "lexical":
            return [
                hit_from_chunk(c, s) for c, s in self.lexical.search(query, k, language=language, topic=topic)
            ]
        where: dict[str, Any] = {}
        if language:
            where["language"] = language
        if topic:
            where["topic"] = topic
        depth = k if mode == "dense" else max(k * 4, 20)
        dense = [
            (chunks[cid], score)
            for cid, score in self.vectors.query(self.embedder.embed_query(query), depth, where or None)
            if cid in chunks
        ]
        if mode == "dense":
            return [hit_from_chunk(c, s) for c, s in dense[:k]]
        lexical = self.lexical.search(query, depth, language=language, topic=topic)
        fused: dict[str, float] = {}
        for ranking in (dense, lexical):
            for rank, (chunk, _) in enumerate(ranking):
                fused[chunk.id] = fused.get(chunk.id, 0.0) + 1.0 / (_RRF_K + rank + 1)
        order = sorted(fused, key=lambda cid: fused[cid], reverse=True)[:k]
        return [hit_from_chunk(chunks[cid], fused[cid]) for cid in order]

    # -- lookups --------------------------------------------------------------------------------

    def card(self, doc_id: str) -> ProcedureCard | None:
        """The procedure card of a document."""
        return self.catalog.card(doc_id)

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """A document's chunks in page order."""
        return [c for c in self._chunk_map().values() if c.doc_id == doc_id]

    def versions(self, procedure: str) -> dict[str, str]:
        """Language -> document id of each language version of a procedure."""
        return self.catalog.documents_of_procedure(procedure)

    def stats(self) -> dict[str, int]:
        """Counts of documents and chunks."""
        docs, chunks = self.catalog.count()
        return {"documents": docs, "chunks": chunks}


def _file_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def hit_from_chunk(chunk: Chunk, score: float) -> Hit:
    """A chunk as a search result with ``score``."""
    return Hit(
        doc_id=chunk.doc_id,
        title=chunk.title,
        section=chunk.section,
        language=chunk.language,
        score=round(float(score), 6),
        text=chunk.text,
        source_url=chunk.source_url,
        topic=chunk.topic,
        procedure=chunk.procedure,
        chunk_id=chunk.id,
        card_field=chunk.card_field,
    )
