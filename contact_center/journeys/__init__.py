"""Journeys: abandoned online procedures, their funnels, nudges that bring citizens back, and the uplift.

Typical use::

    from contact_center.journeys import JourneyStore, load_procedures, read_events, compute_funnel
    store = JourneyStore(settings.sqlalchemy_url)
    store.register_procedures(load_procedures("procedures.yaml"))
    store.ingest(read_events("events.jsonl"))
    compute_funnel(store, "marriage-declaration", by="channel")

Heavy or optional pieces (the HTTP server, charts, the CLI) are separate modules, not imported here.
"""

from contact_center.journeys.abandonment import AbandonedJourney, find_abandoned
from contact_center.journeys.contacts import Contact, ContactLookup, FileContactLookup, MappingContactLookup
from contact_center.journeys.events import EVENT_TYPES, JourneyEvent, RejectedEvent, parse_event, read_events
from contact_center.journeys.funnel import Funnel, FunnelGroup, FunnelStep, compute_funnel
from contact_center.journeys.help import HelpFinder, KnowledgeSearch
from contact_center.journeys.links import sign_resume_link, verify_resume_link
from contact_center.journeys.nudges import NudgeOutcome, NudgeReport, in_holdout, run_nudges
from contact_center.journeys.procedures import Procedure, ProcedureCatalog, load_procedures, parse_duration
from contact_center.journeys.quiet_hours import QuietHours
from contact_center.journeys.store import IngestResult, JourneyStore
from contact_center.journeys.uplift import Uplift, compute_uplift, newcombe_interval, wilson_interval

__all__ = [
    "EVENT_TYPES",
    "AbandonedJourney",
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
