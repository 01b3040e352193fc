"""Fixtures for the journeys tests: a store in tmp_path, a procedures file, an event builder, a small
in-memory knowledge base that satisfies the KnowledgeSearch port with real Hit objects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from contact_center.journeys import JourneyStore, load_procedures
from contact_center.models import Hit
from tests.journeys.journeys_helpers import PROCEDURES_YAML, T0, Journeys, TinyKnowledgeBase


@pytest.fixture
def procedures_file(tmp_path: Path) -> Path:
    path = tmp_path / "procedures.yaml"
    path.write_text(PROCEDURES_YAML, encoding="utf-8")
    return path


@pytest.fixture(params=["duckdb", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path, procedures_file: Path) -> Iterator[JourneyStore]:
    """Every journeys test runs on the embedded default (DuckDB) and on SQLite; PostgreSQL has its own test."""
    url = {
        "duckdb": f"duckdb:///{tmp_path / 'journeys.duckdb'}",
        "sqlite": f"sqlite:///{tmp_path / 'journeys.sqlite3'}",
    }[request.param]
    s = JourneyStore(url)
    s.register_procedures(load_procedures(procedures_file))
    yield s
    s.engine.dispose()


@pytest.fixture
def journeys() -> Journeys:
    return Journeys()


@pytest.fixture
def kb() -> TinyKnowledgeBase:
    return TinyKnowledgeBase(
        [
            Hit(
                doc_id="marriage-declaration-fr",
                title="Déclaration de mariage",
                section="Documents à fournir",
                language="fr",
                score=0.0,
                text="Apportez votre carte d'identité et un extrait d'acte de naissance. Documents à fournir au guichet.",
                source_url="https://www.brussels.be/mariage",
                topic="etat-civil",
            ),
            Hit(
                doc_id="marriage-declaration-en",
                title="Marriage declaration",
                section="Documents to bring",
                language="en",
                score=0.0,
                text="Bring your identity card and a birth certificate extract. Documents to bring to the desk.",
                source_url="https://www.brussels.be/marriage",
                topic="etat-civil",
            ),
            Hit(
                doc_id="terrace-fr",
                title="Permis de terrasse Horeca",
                section="Coût",
                language="fr",
                score=0.0,
                text="La redevance de terrasse est de 25 euros par mètre carré par an.",
                source_url="https://www.brussels.be/terrasse",
                topic="horeca",
            ),
        ]
    )


@pytest.fixture
def at() -> Callable[[float], datetime]:
    """Minutes after T0 as an aware datetime."""
    return lambda minutes: T0 + timedelta(minutes=minutes)
