from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from campaigns import Campaigns
from contact_center.settings import Settings
from tests.campaigns.helpers import make_settings, write_csv
from tests.channels.smtp_peer import RecordingHandler, SMTPPeer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def service(settings: Settings) -> Iterator[Campaigns]:
    svc = Campaigns(settings)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    d = tmp_path / "templates"
    d.mkdir()
    files = {
        "fr.subject.txt": "Votre titre de séjour expire le {{ permit_expires|date }}",
        "fr.txt": "Bonjour {{ first_name }},\nVotre titre expire le {{ permit_expires|date }}.\n",
        "fr.html": "<p>Bonjour {{ first_name }}</p>",
        "nl.subject.txt": "Uw verblijfsvergunning vervalt op {{ permit_expires|date }}",
        "nl.txt": "Beste {{ first_name }},\nUw vergunning vervalt op {{ permit_expires|date }}.\n",
        "nl.html": "<p>Beste {{ first_name }}</p>",
        "en.subject.txt": "Your residence permit expires on {{ permit_expires|date }}",
        "en.txt": "Dear {{ first_name }},\nYour permit expires on {{ permit_expires|date }}.\n",
        "en.html": "<p>Dear {{ first_name }}</p>",
    }
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


@pytest.fixture
def populated(service: Campaigns, tmp_path: Path) -> Callable[[list[dict[str, Any]]], None]:
    def load(rows: list[dict[str, Any]]) -> None:
        report = service.import_contacts(write_csv(tmp_path / "residents.csv", rows))
        assert not report.errors

    return load


@pytest.fixture
def smtp_peer() -> Iterator[Any]:
    peer = SMTPPeer(RecordingHandler())
    peer.start()
    yield peer
    peer.stop()
