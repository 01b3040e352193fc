"""Domain types shared by every package.

These are the objects the public API returns and the CLI prints with ``--json``. Adapters translate
at their boundary: no Chroma, SQLAlchemy or LangChain type ever appears here. This module is a leaf:
it imports nothing of ours.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CARD_FIELDS",
    "Answer",
    "CardField",
    "Chunk",
    "Citation",
    "Decision",
    "Document",
    "FailedDocument",
    "Hit",
    "IngestReport",
    "ProcedureCard",
    "RetrievalMode",
]

Decision = Literal["answer", "clarify", "abstain", "handoff"]
"""What the assistant decided to do with a question; never a refusal hidden in free text."""

RetrievalMode = Literal["dense", "lexical", "hybrid"]

CardField = Literal["who", "conditions", "documents", "cost", "delay", "how_to_apply", "where_contact"]
CARD_FIELDS: tuple[CardField, ...] = (
    "who",
    "conditions",
    "documents",
    "cost",
    "delay",
    "how_to_apply",
    "where_contact",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Document(_Frozen):
    """One City procedure page, parsed to Markdown whatever its source format."""

    id: str
    title: str
    language: str
    topic: str = ""
    procedure: str = Field(default="", description="Slug shared by the language versions of a procedure.")
    source_url: str = ""
    updated: date | None = None
    body: str = Field(description="The page's content as Markdown, front matter removed.")
    path: str = ""
    content_hash: str = ""


class ProcedureCard(_Frozen):
    """The key facts of a procedure, each taken from the section of the page that states it."""

    doc_id: str
    title: str
    language: str
    source_url: str = ""
    who: str | None = None
    conditions: str | None = None
    documents: str | None = None
    cost: str | None = None
    delay: str | None = None
    how_to_apply: str | None = None
    where_contact: str | None = None

    def fields(self) -> dict[CardField, str]:
        """The card's filled fields, in card order."""
        out: dict[CardField, str] = {}
        for name in CARD_FIELDS:
            value = getattr(self, name)
            if value:
                out[name] = value
        return out


class Chunk(_Frozen):
    """A retrievable passage: one section of a document (or part of a long one)."""

    id: str
    doc_id: str
    title: str
    language: str
    topic: str = ""
    procedure: str = ""
    source_url: str = ""
    section: str = ""
    card_field: CardField | None = None
    position: int = 0
    text: str


class Hit(_Frozen):
    """A retrieved passage with its document and score (higher is better)."""

    doc_id: str
    title: str
    section: str
    language: str
    score: float
    text: str
    source_url: str = ""
    topic: str = ""
    procedure: str = ""
    chunk_id: str = ""
    card_field: CardField | None = None


class Citation(_Frozen):
    """A source an answer rests on."""

    doc_id: str
    title: str
    section: str = ""
    source_url: str = ""


class Answer(_Frozen):
    """The assistant's typed reply to a question."""

    decision: Decision
    text: str
    language: str = Field(description="The citizen's language, as detected from the question.")
    citations: list[Citation] = Field(default_factory=list)
    confidence: float = 0.0
    generator: str = "extractive"
    question: str = ""
    hits: list[Hit] = Field(default_factory=list, description="The passages retrieved for the question.")
    answer_id: str = ""
    options: list[Citation] = Field(
        default_factory=list, description="With decision 'clarify': the procedures to choose from."
    )


class FailedDocument(_Frozen):
    """A document that ingestion skipped, and why."""

    path: str
    reason: str


class IngestReport(BaseModel):
    """What an ingestion run did, by document id."""

    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    failed: list[FailedDocument] = Field(default_factory=list)
    chunks_embedded: int = 0

    @property
    def ok(self) -> bool:
        """True when no document failed."""
        return not self.failed
