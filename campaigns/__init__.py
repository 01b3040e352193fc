"""Segmented e-mail campaigns for the Foreigners' Office: contacts, segments, multilingual templates,
schedules, a crash-safe send ledger, a polite SMTP sender, one-click unsubscribe and bounce processing.

Start with :class:`Campaigns`; the CLI (``contact-center campaigns``) is a thin layer over it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from campaigns.bounces import BounceReport, DeliveryStatus, parse_delivery_report, process_bounces
    from campaigns.contacts import Contact, ImportReport, RowError, import_contacts, suppress, unsuppress
    from campaigns.ratelimit import AdaptiveRateLimiter
    from campaigns.schedule import SendWindow, estimate_finish
    from campaigns.segments import Segment, parse_segment
    from campaigns.service import Campaigns, CampaignStatus, RenderProblem, ScheduleReport
    from campaigns.tables import LEDGER_STATES, open_engine
    from campaigns.templates import RenderedMessage, TemplateSet, load_templates, plan_languages
    from campaigns.unsubscribe import InvalidTokenError, make_token, unsubscribe_app, verify_token
    from campaigns.worker import RunReport, Worker

__all__ = [
    "LEDGER_STATES",
    "AdaptiveRateLimiter",
    "BounceReport",
    "CampaignStatus",
    "Campaigns",
    "Contact",
    "DeliveryStatus",
    "ImportReport",
    "InvalidTokenError",
    "RenderProblem",
    "RenderedMessage",
    "RowError",
    "RunReport",
    "ScheduleReport",
    "Segment",
    "SendWindow",
    "TemplateSet",
    "Worker",
    "estimate_finish",
    "import_contacts",
    "load_templates",
    "make_token",
    "open_engine",
    "parse_delivery_report",
    "parse_segment",
    "plan_languages",
    "process_bounces",
    "suppress",
    "unsubscribe_app",
    "unsuppress",
    "verify_token",
]

# Loaded on first use, so `import campaigns.cli` (and `contact-center --help`) stays fast.
_LAZY: dict[str, str] = {
    "BounceReport": "campaigns.bounces",
    "DeliveryStatus": "campaigns.bounces",
    "parse_delivery_report": "campaigns.bounces",
    "process_bounces": "campaigns.bounces",
    "Contact": "campaigns.contacts",
    "ImportReport": "campaigns.contacts",
    "RowError": "campaigns.contacts",
    "import_contacts": "campaigns.contacts",
    "suppress": "campaigns.contacts",
    "unsuppress": "campaigns.contacts",
    "AdaptiveRateLimiter": "campaigns.ratelimit",
    "SendWindow": "campaigns.schedule",
    "estimate_finish": "campaigns.schedule",
    "Segment": "campaigns.segments",
    "parse_segment": "campaigns.segments",
    "Campaigns": "campaigns.service",
    "CampaignStatus": "campaigns.service",
    "RenderProblem": "campaigns.service",
    "ScheduleReport": "campaigns.service",
    "LEDGER_STATES": "campaigns.tables",
    "open_engine": "campaigns.tables",
    "RenderedMessage": "campaigns.templates",
    "TemplateSet": "campaigns.templates",
    "load_templates": "campaigns.templates",
    "plan_languages": "campaigns.templates",
    "InvalidTokenError": "campaigns.unsubscribe",
    "make_token": "campaigns.unsubscribe",
    "unsubscribe_app": "campaigns.unsubscribe",
    "verify_token": "campaigns.unsubscribe",
    "RunReport": "campaigns.worker",
    "Worker": "campaigns.worker",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'campaigns' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
