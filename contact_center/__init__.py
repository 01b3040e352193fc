"""AI-assisted omnichannel contact centre for the City of Brussels.

The public API::

    from contact_center import ContactCenter, Settings
    cc = ContactCenter(Settings(data_dir="/tmp/cc"))
    cc.ingest([sample_knowledge_base()])
    answer = cc.ask("Combien coûte une carte d'identité ?")

``ContactCenter`` is imported lazily so that ``import contact_center`` stays fast and the lower packages
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
    from contact_center.facade import ContactCenter

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Citation",
    "ConfigurationError",
    "ContactCenter",
    "ContactCenterError",
    "DataDirError",
    "Decision",
    "Document",
    "FailedDocument",
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


def __getattr__(name: str) -> Any:
    if name == "ContactCenter":
        from contact_center.facade import ContactCenter

        return ContactCenter
    raise AttributeError(f"module 'contact_center' has no attribute {name!r}")
