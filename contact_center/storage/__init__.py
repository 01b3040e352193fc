"""Persistence: the conversation ``Store`` (SQLAlchemy 2) and the records it returns."""

from __future__ import annotations

from contact_center.storage.records import (
    ConversationRecord,
    ConversationStatus,
    FeedbackRecord,
    HandoffPacket,
    HandoffReason,
    MessageRecord,
    Role,
    StoredAnswer,
)
from contact_center.storage.store import Store

__all__ = [
    "ConversationRecord",
    "ConversationStatus",
    "FeedbackRecord",
    "HandoffPacket",
    "HandoffReason",
    "MessageRecord",
    "Role",
    "Store",
    "StoredAnswer",
]
