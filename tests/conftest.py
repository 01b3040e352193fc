"""Shared fixtures.

The sample knowledge base is embedded once per test session (multilingual-e5 is the slow part) and the
resulting ``ContactCenter`` is shared by every test that needs real retrieval: ``sample_cc``. Tests must
not ingest into it or change it; they ingest into their own ``tmp_path`` when they need to.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Models load from a path, never from a hub: make any attempt fail loudly instead of hanging.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Settings read CC_* from the environment; a developer's own configuration must not leak into tests.
# CC_TEST_* variables are the tests' own (e.g. CC_TEST_POSTGRES_URL, set by .ci/run).
for _key in [k for k in os.environ if k.startswith("CC_") and not k.startswith("CC_TEST_")]:
    del os.environ[_key]

from contact_center import ContactCenter, Settings, sample_knowledge_base  # noqa: E402
from contact_center.models import IngestReport  # noqa: E402


@pytest.fixture(scope="session")
def sample_kb_dir() -> Path:
    """The bundled sample knowledge base folder."""
    path: Path = sample_knowledge_base()
    return path


@pytest.fixture(scope="session")
def sample_ingest(
    tmp_path_factory: pytest.TempPathFactory, sample_kb_dir: Path
) -> tuple[ContactCenter, IngestReport]:
    data_dir = tmp_path_factory.mktemp("sample-cc")
    cc = ContactCenter(Settings(data_dir=data_dir))
    report = cc.ingest([sample_kb_dir])
    return cc, report


@pytest.fixture(scope="session")
def sample_cc(sample_ingest: tuple[ContactCenter, IngestReport]) -> Iterator[ContactCenter]:
    """A ContactCenter with the sample knowledge base ingested (default embedder: multilingual-e5-small)."""
    cc, report = sample_ingest
    assert not report.failed, report.failed
    yield cc
