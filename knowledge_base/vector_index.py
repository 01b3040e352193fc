"""The ``VectorIndex`` port and its Chroma adapter (on disk, or a Chroma server by URL).

Embeddings are always passed explicitly: Chroma's default embedding function (which would fetch a model
from the network) is never used, and no model path is stored in the index. The collection records the
embedder's name and dimension in its metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from contact_center.errors import ConfigurationError, IndexMismatchError
from contact_center.models import Chunk

if TYPE_CHECKING:
    from knowledge_base.embeddings import Vectors

__all__ = ["ChromaVectorIndex", "VectorIndex", "VectorMatch"]

COLLECTION = "procedure_chunks"

VectorMatch = tuple[str, float]
"""(chunk id, cosine similarity)."""


class VectorIndex(Protocol):
    """Nearest-neighbour search over chunk embeddings."""

    def upsert(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Add or replace chunks with their vectors."""
        ...

    def delete(self, chunk_ids: Sequence[str]) -> None:
        """Remove chunks."""
        ...

    def query(self, vector: Vectors, k: int, where: dict[str, Any] | None = None) -> list[VectorMatch]:
        """The ``k`` nearest chunks, best first, optionally filtered on metadata."""
        ...

    def count(self) -> int:
        """Number of chunks held."""
        ...


def _where(filters: dict[str, Any] | None) -> dict[str, Any] | None:
    if not filters:
        return None
    clauses = [{key: value} for key, value in filters.items()]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaVectorIndex:
    """Chroma ``PersistentClient`` in a directory, or ``HttpClient`` for a Chroma server.

    Args:
        path: directory of the on-disk index (ignored when ``url`` is given).
        url: ``http://host:port`` of a Chroma server.
        embedder_name / dim: recorded on creation, checked on every later open.
    """

    def __init__(self, *, path: Path | None, url: str | None, embedder_name: str, dim: int) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if url:
            parsed = urlparse(url)
            if not parsed.hostname:
                raise ConfigurationError(f"CC_CHROMA_URL {url!r} is not a URL like http://localhost:8000")
            self._client: Any = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=chroma_settings,
            )
        else:
            assert path is not None
            self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        self._collection = self._client.get_or_create_collection(
            COLLECTION,
            metadata={"hnsw:space": "cosine", "embedder": embedder_name, "dim": dim},
            embedding_function=None,
        )
        meta = self._collection.metadata or {}
        if meta.get("embedder") != embedder_name or int(meta.get("dim", dim)) != dim:
            raise IndexMismatchError(
                f"the vector index was built with {meta.get('embedder')!r} (dim {meta.get('dim')}), "
                f"but the configured embedder is {embedder_name!r} (dim {dim}). Use the same CC_EMBEDDER, "
                "or point CC_DATA_DIR at a new directory and ingest again."
            )
        self._max_batch = int(getattr(self._client, "get_max_batch_size", lambda: 5000)())

    def upsert(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Add or replace chunks (metadata: doc id, language, topic, procedure)."""
        for start in range(0, len(chunks), self._max_batch):
            part = chunks[start : start + self._max_batch]
            self._collection.upsert(
                ids=[c.id for c in part],
                embeddings=vectors[start : start + len(part)],
                metadatas=[
                    {"doc_id": c.doc_id, "language": c.language, "topic": c.topic, "procedure": c.procedure}
                    for c in part
                ],
            )

    def delete(self, chunk_ids: Sequence[str]) -> None:
        """Remove chunks by id."""
        for start in range(0, len(chunk_ids), self._max_batch):
            self._collection.delete(ids=list(chunk_ids[start : start + self._max_batch]))

    def query(self, vector: Vectors, k: int, where: dict[str, Any] | None = None) -> list[VectorMatch]:
        """The ``k`` nearest chunks by cosine similarity, best first."""
        if k <= 0:
            return []
        result = self._collection.query(
            query_embeddings=[vector], n_results=k, where=_where(where), include=["distances"]
        )
        ids = result["ids"][0] if result["ids"] else []
        distances = (result.get("distances") or [[]])[0]
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, distances, strict=False)]

    def count(self) -> int:
        """Number of chunks in the collection."""
        return int(self._collection.count())
