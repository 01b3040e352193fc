"""AI-assisted omnichannel contact centre for the City of Brussels.

The public API::

    from contact_center import ContactCenter, Settings
    cc = ContactCenter(Settings(data_dir="/tmp/cc"))
    cc.ingest([sample_knowledge_base()])
    answer = cc.ask("Combien coûte une carte d'identité ?")

``ContactCenter``, ``Conversation`` and ``HandoffPacket`` are imported lazily so that ``import contact_center`` stays fast and the lower packages
(knowledge_base, channels, campaigns) can import the leaf modules without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contact_center.errors import (
    ConfigurationError,
    ContactCenterError,
    DataDirError,
    IndexMismatchError,
    IngestError,
    InvalidQuestionError,
    NotFoundError,
)
from contact_center.models import (
    Answer,
    Citation,
    Decision,
    Document,
    FailedDocument,
    Hit,
    IngestReport,
    ProcedureCard,
)
from contact_center.settings import Settings

if TYPE_CHECKING:
    from contact_center.conversation import Conversation
    from contact_center.facade import ContactCenter
    from contact_center.storage.records import HandoffPacket

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Citation",
    "ConfigurationError",
    "ContactCenter",
    "ContactCenterError",
    "Conversation",
    "DataDirError",
    "Decision",
    "Document",
    "FailedDocument",
    "HandoffPacket",
    "Hit",
    "IndexMismatchError",
    "IngestError",
    "IngestReport",
    "InvalidQuestionError",
    "NotFoundError",
    "ProcedureCard",
    "Settings",
    "__version__",
    "sample_knowledge_base",
]


def sample_knowledge_base() -> Any:
    """Path of the sample knowledge base bundled with the package (City of Brussels procedures)."""
    from knowledge_base import sample_path

    return sample_path()


_LAZY = {
    "ContactCenter": "contact_center.facade",
    "Conversation": "contact_center.conversation",
    "HandoffPacket": "contact_center.storage.records",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'contact_center' has no attribute {name!r}")
