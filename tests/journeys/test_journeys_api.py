from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import contact_center.journeys as journeys
from contact_center.errors import JourneyError
from contact_center.journeys import Funnel, FunnelStep
from contact_center.journeys.charts import save_funnel_chart


def test_public_api_is_pinned() -> None:
    assert sorted(journeys.__all__) == sorted(
        [
            "EVENT_TYPES", "AbandonedJourney", "CampaignContactLookup", "Contact", "ContactLookup", "FileContactLookup", "Funnel",
            "FunnelGroup", "FunnelStep", "HelpFinder", "IngestResult", "JourneyEvent", "JourneyStore",
            "KnowledgeSearch", "MappingContactLookup", "NudgeOutcome", "NudgeReport", "Procedure",
            "ProcedureCatalog", "QuietHours", "RejectedEvent", "Uplift", "compute_funnel", "compute_funnels",
            "compute_uplift",
            "find_abandoned", "in_holdout", "load_procedures", "newcombe_interval", "parse_duration",
            "parse_event", "read_events", "run_nudges", "sign_resume_link", "verify_resume_link",
            "wilson_interval",
        ]
    )  # fmt: skip
    for name in journeys.__all__:
        assert getattr(journeys, name) is not None


def test_importing_the_package_and_its_cli_stays_light() -> None:
    code = (
        "import sys, contact_center.journeys, contact_center.journeys.cli\n"
        "heavy = [m for m in ('matplotlib', 'uvicorn', 'starlette', 'holidays', 'torch', 'chromadb') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def _funnel() -> Funnel:
    return Funnel.model_validate(
        {
            "procedure": "p",
            "journeys": 10,
            "completed": 4,
            "completion_rate": 0.4,
            "as_of": "2026-10-10T00:00:00Z",
            "steps": [
                FunnelStep(step="a", reached=10, completed=7, dropped=3),
                FunnelStep(step="b", reached=7, completed=4, dropped=3),
            ],
        }
    )


def test_png_chart(tmp_path: Path) -> None:
    path = save_funnel_chart(_funnel(), tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chart_needs_png_or_svg(tmp_path: Path) -> None:
    with pytest.raises(JourneyError, match=r"use a \.png or \.svg"):
        save_funnel_chart(_funnel(), tmp_path / "f.pdf")
