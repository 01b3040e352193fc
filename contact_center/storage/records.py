"""What the store gives back: plain frozen pydantic records, never SQLAlchemy rows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contact_center.models import Citation, Decision

__all__ = [
    "ConversationRecord",
    "ConversationStatus",
    "FeedbackRecord",
    "HandoffPacket",
    "HandoffReason",
    "MessageRecord",
    "Role",
    "StoredAnswer",
]

Role = Literal["citizen", "assistant", "agent"]
ConversationStatus = Literal["bot", "paused"]
"""``paused``: a handoff happened and the bot stays silent until ``resume_bot()``."""
HandoffReason = Literal["asked_for_person", "complaint", "repeated_abstain"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConversationRecord(_Frozen):
    """A conversation's header and the state the follow-up rewrite carries forward."""

    id: str
    channel: str
    citizen_ref: str | None = None
    language: str | None = None
    status: ConversationStatus = "bot"
    active_procedure: str | None = None
    active_title: str | None = None
    abstain_streak: int = 0
    created_at: datetime
    updated_at: datetime


class MessageRecord(_Frozen):
    """One turn of the transcript; ``text`` is redacted unless the store keeps PII."""

    id: int
    conversation_id: str
    role: Role
    text: str
    redacted: bool
    pii_kinds: list[str] = Field(default_factory=list)
    answer_id: str | None = None
    created_at: datetime


class StoredAnswer(_Frozen):
    """An answer as stored: its decision, sources and the standalone question it answered."""

    id: str
    conversation_id: str
    question: str
    standalone_question: str
    decision: Decision
    language: str
    text: str
    generator: str
    confidence: float
    citations: list[Citation] = Field(default_factory=list)
    options: list[Citation] = Field(default_factory=list)
    created_at: datetime


class FeedbackRecord(_Frozen):
    """A citizen's or agent's verdict on one answer."""

    answer_id: str
    conversation_id: str
    helpful: bool
    comment: str | None = None
    created_at: datetime


class HandoffPacket(_Frozen):
    """What an agent receives when the bot hands a conversation over.

    Everything in it is redacted: the transcript, the summary and the last question.
    """

    id: str
    conversation_id: str
    channel: str
    citizen_ref: str | None = None
    reason: HandoffReason
    language: str
    summary: str
    last_question: str
    procedures: list[str] = Field(default_factory=list, description="Titles of the procedures discussed.")
    sources: list[Citation] = Field(default_factory=list, description="Every source cited to the citizen.")
    transcript: list[tuple[Role, str]] = Field(default_factory=list, description="Redacted, in order.")
    created_at: datetime
