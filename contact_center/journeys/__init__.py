"""Journeys: abandoned online procedures, their funnels, nudges that bring citizens back, and the uplift.

Typical use::

    from contact_center.journeys import JourneyStore, load_procedures, read_events, compute_funnel
    store = JourneyStore(settings.journeys_url)
    store.register_procedures(load_procedures("procedures.yaml"))
    store.ingest_file("events.jsonl")
    compute_funnel(store, "marriage-declaration", by="channel")

Heavy or optional pieces (the HTTP server, charts, the CLI) are separate modules, not imported here, and
the names below load on first use so that `contact-center --help` does not import SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contact_center.journeys.abandonment import AbandonedJourney, find_abandoned
    from contact_center.journeys.contacts import (
        CampaignContactLookup,
        Contact,
        ContactLookup,
        FileContactLookup,
        MappingContactLookup,
    )
    from contact_center.journeys.events import (
        EVENT_TYPES,
        JourneyEvent,
        RejectedEvent,
        parse_event,
        read_events,
    )
    from contact_center.journeys.funnel import (
        Funnel,
        FunnelGroup,
        FunnelStep,
        compute_funnel,
        compute_funnels,
    )
    from contact_center.journeys.help import HelpFinder, KnowledgeSearch
    from contact_center.journeys.links import sign_resume_link, verify_resume_link
    from contact_center.journeys.nudges import NudgeOutcome, NudgeReport, in_holdout, run_nudges
    from contact_center.journeys.procedures import (
        Procedure,
        ProcedureCatalog,
        load_procedures,
        parse_duration,
    )
    from contact_center.journeys.quiet_hours import QuietHours
    from contact_center.journeys.store import IngestResult, JourneyStore
    from contact_center.journeys.uplift import Uplift, compute_uplift, newcombe_interval, wilson_interval

_EXPORTS = {
    "AbandonedJourney": "contact_center.journeys.abandonment",
    "Contact": "contact_center.journeys.contacts",
    "ContactLookup": "contact_center.journeys.contacts",
    "EVENT_TYPES": "contact_center.journeys.events",
    "CampaignContactLookup": "contact_center.journeys.contacts",
    "FileContactLookup": "contact_center.journeys.contacts",
    "Funnel": "contact_center.journeys.funnel",
    "FunnelGroup": "contact_center.journeys.funnel",
    "FunnelStep": "contact_center.journeys.funnel",
    "HelpFinder": "contact_center.journeys.help",
    "IngestResult": "contact_center.journeys.store",
    "JourneyEvent": "contact_center.journeys.events",
    "JourneyStore": "contact_center.journeys.store",
    "KnowledgeSearch": "contact_center.journeys.help",
    "MappingContactLookup": "contact_center.journeys.contacts",
    "NudgeOutcome": "contact_center.journeys.nudges",
    "NudgeReport": "contact_center.journeys.nudges",
    "Procedure": "contact_center.journeys.procedures",
    "ProcedureCatalog": "contact_center.journeys.procedures",
    "QuietHours": "contact_center.journeys.quiet_hours",
    "RejectedEvent": "contact_center.journeys.events",
    "Uplift": "contact_center.journeys.uplift",
    "compute_funnel": "contact_center.journeys.funnel",
    "compute_funnels": "contact_center.journeys.funnel",
    "compute_uplift": "contact_center.journeys.uplift",
    "find_abandoned": "contact_center.journeys.abandonment",
    "in_holdout": "contact_center.journeys.nudges",
    "load_procedures": "contact_center.journeys.procedures",
    "newcombe_interval": "contact_center.journeys.uplift",
    "parse_duration": "contact_center.journeys.procedures",
    "parse_event": "contact_center.journeys.events",
    "read_events": "contact_center.journeys.events",
    "run_nudges": "contact_center.journeys.nudges",
    "sign_resume_link": "contact_center.journeys.links",
    "verify_resume_link": "contact_center.journeys.links",
    "wilson_interval": "contact_center.journeys.uplift",
}

__all__ = [
    "EVENT_TYPES",
    "AbandonedJourney",
    "CampaignContactLookup",
    "Contact",
    "ContactLookup",
    "FileContactLookup",
    "Funnel",
    "FunnelGroup",
    "FunnelStep",
    "HelpFinder",
    "IngestResult",
    "JourneyEvent",
    "JourneyStore",
    "KnowledgeSearch",
    "MappingContactLookup",
    "NudgeOutcome",
    "NudgeReport",
    "Procedure",
    "ProcedureCatalog",
    "QuietHours",
    "RejectedEvent",
    "Uplift",
    "compute_funnel",
    "compute_funnels",
    "compute_uplift",
    "find_abandoned",
    "in_holdout",
    "load_procedures",
    "newcombe_interval",
    "parse_duration",
    "parse_event",
    "read_events",
    "run_nudges",
    "sign_resume_link",
    "verify_resume_link",
    "wilson_interval",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'contact_center.journeys' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
