"""The conversation tables (SQLAlchemy Core), in their own ``MetaData`` so other packages' tables are untouched.

Texts in ``conversation_messages.text`` are redacted unless ``Settings.store_pii`` is true; the column
``redacted`` says which. Answers keep their decision, citations and options as JSON, so an agent can
see later exactly what the citizen was shown and on which sources it rested.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["answers", "conversations", "feedback", "handoffs", "messages", "metadata"]

metadata = sa.MetaData()

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("citizen_ref", sa.String(200), nullable=True),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, default="bot"),
    sa.Column("active_procedure", sa.String(200), nullable=True),
    sa.Column("active_title", sa.String(400), nullable=True),
    sa.Column("abstain_streak", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

messages = sa.Table(
    "conversation_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False, index=True
    ),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("redacted", sa.Boolean, nullable=False),
    sa.Column("pii_kinds", sa.JSON, nullable=False),
    sa.Column("answer_id", sa.String(32), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

answers = sa.Table(
    "conversation_answers",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False, index=True
    ),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("standalone_question", sa.Text, nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("generator", sa.String(64), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("citations", sa.JSON, nullable=False),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

feedback = sa.Table(
    "answer_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("answer_id", sa.String(32), sa.ForeignKey("conversation_answers.id"), nullable=False),
    sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

handoffs = sa.Table(
    "handoff_packets",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False, index=True
    ),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("packet", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
)
