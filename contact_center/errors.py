"""Errors raised by the contact-centre library.

Every error the library raises on purpose is a :class:`ContactCenterError`; each says what went wrong
and what to do about it. The tree::

    ContactCenterError
    ├── ConfigurationError          a setting is missing or contradicts another
    │   └── DataDirError            the data directory cannot be created or written
    ├── InvalidQuestionError        an empty, oversized or unusable question or message
    ├── IngestError                 ingestion cannot run at all (a single bad document is reported, not raised)
    ├── IndexMismatchError          an index was built with another embedder than the one configured
    ├── EmbedderError               an embedding model cannot be loaded or fails
    ├── GeneratorError              a generator (LLM endpoint) failed; the assistant falls back
    ├── NotFoundError               a conversation, campaign, contact or journey id that does not exist
    ├── PrivacyError                privacy: a text that is not a str, an unknown redaction style or kind
    ├── CampaignError               campaigns: a state or command that cannot proceed
    │   ├── ContactImportError      a contacts file that cannot be read at all
    │   ├── SegmentSyntaxError      a segment expression that does not parse (line, column, suggestion)
    │   ├── TemplateRenderError     a template that does not render for some contacts
    │   └── ScheduleError           a schedule in the past, a bad window or rate
    ├── JourneyError                journeys: a bad procedures file or event batch
    │   ├── ProceduresFileError     the procedures file is invalid (path to the bad field)
    │   ├── EventValidationError    an event that is rejected (line number and reason)
    │   ├── ContactsFileError       a journeys contacts file that cannot be read (line and reason)
    │   └── ResumeLinkError         a resume link whose signature does not match or that has expired
    └── EvaluationError             the evaluation suite cannot run (bad golden set, bad gate file)

This module is a leaf: it imports nothing of ours.
"""

from __future__ import annotations

__all__ = [
    "CampaignError",
    "ConfigurationError",
    "ContactCenterError",
    "ContactImportError",
    "ContactsFileError",
    "DataDirError",
    "EmbedderError",
    "EvaluationError",
    "EventValidationError",
    "GeneratorError",
    "IndexMismatchError",
    "IngestError",
    "InvalidQuestionError",
    "JourneyError",
    "NotFoundError",
    "PrivacyError",
    "ProceduresFileError",
    "ResumeLinkError",
    "ScheduleError",
    "SegmentSyntaxError",
    "TemplateRenderError",
]


class ContactCenterError(Exception):
    """Base of every error the library raises on purpose."""


class ConfigurationError(ContactCenterError):
    """A setting is missing, malformed, or contradicts another one."""


class DataDirError(ConfigurationError):
    """The data directory cannot be created or written.

    Attributes:
        path: the directory that was tried.
    """

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        super().__init__(
            f"data directory {path} is not usable: {reason}. "
            "Point CC_DATA_DIR (or Settings(data_dir=...)) at a writable directory."
        )


class InvalidQuestionError(ContactCenterError):
    """A question or chat message that cannot be processed (empty, too long, unusable)."""


class IngestError(ContactCenterError):
    """Ingestion cannot run at all (a missing path, say).

    A single unreadable document is not an error: it is listed in ``IngestReport.failed``.
    """


class IndexMismatchError(ContactCenterError):
    """The index on disk was built with another embedder than the one configured."""


class EmbedderError(ContactCenterError):
    """An embedding model cannot be loaded from its path, or failed on input."""


class GeneratorError(ContactCenterError):
    """A generator failed (an LLM endpoint timed out, refused, or returned nothing usable)."""


class NotFoundError(ContactCenterError, LookupError):
    """An identifier (conversation, campaign, contact, journey...) that does not exist."""


class CampaignError(ContactCenterError):
    """A campaign command that cannot proceed in the campaign's current state."""


class ContactImportError(CampaignError):
    """A contacts file that cannot be read at all (bad rows are reported, not raised)."""


class SegmentSyntaxError(CampaignError):
    """A segment expression that does not parse.

    Attributes:
        line: 1-based line of the problem.
        column: 1-based column of the problem.
    """

    def __init__(self, message: str, *, line: int, column: int) -> None:
        self.line = line
        self.column = column
        super().__init__(f"line {line}, col {column}: {message}")


class TemplateRenderError(CampaignError):
    """A campaign template that fails to render for one or more contacts."""


class ScheduleError(CampaignError):
    """A schedule that cannot be accepted (in the past beyond the grace period, a bad window or rate)."""


class JourneyError(ContactCenterError):
    """Journeys: a command or input that cannot be processed."""


class ProceduresFileError(JourneyError):
    """The procedures file is invalid; the message names the path to the bad field."""


class EventValidationError(JourneyError):
    """A journey event that is rejected, with its line number when it came from a file."""


class ContactsFileError(JourneyError):
    """A contacts file for journey nudges that cannot be read (the message names the line and the field)."""


class ResumeLinkError(JourneyError):
    """A resume link that is not valid: its signature does not match, or it has expired."""


class EvaluationError(ContactCenterError):
    """The evaluation suite cannot run: a malformed golden set or gate file."""


class PrivacyError(ContactCenterError, ValueError):
    """PII detection or redaction called with a non-string text, an unknown redaction style or kind."""
