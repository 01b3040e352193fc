"""The ledger on PostgreSQL (``FOR UPDATE SKIP LOCKED`` claims), skipped unless a server is given.

Set ``CC_TEST_POSTGRES_URL=postgresql+psycopg://user@127.0.0.1:5432/dbname`` (an empty, throw-away
database: the campaign tables are dropped and recreated).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from campaigns import Campaigns
from campaigns.ledger import claim, mark_in_flight, recover_expired
from campaigns.tables import metadata, open_engine
from tests.campaigns.helpers import make_settings, resident, smtp_settings, write_csv

URL = os.environ.get("CC_TEST_POSTGRES_URL") or None
pytestmark = pytest.mark.skipif(
    URL is None,
    reason="no PostgreSQL: set CC_TEST_POSTGRES_URL=postgresql+psycopg://... to run the ledger on it",
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    assert URL is not None
    engine = open_engine(URL, create=False)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    engine.dispose()
    yield URL


def _service(tmp_path: Path, url: str, **kw: Any) -> Campaigns:
    settings = make_settings(tmp_path / "data", **kw).model_copy(update={"database_url": url})
    return Campaigns(settings)


def _schedule(service: Campaigns, templates: Path, tmp_path: Path, n: int) -> None:
    service.import_contacts(write_csv(tmp_path / "r.csv", [resident(i) for i in range(n)]))
    service.import_contacts(write_csv(tmp_path / "r.csv", [resident(i) for i in range(n)]))  # upsert path
    service.create("pg", segment="consent = true", templates=templates, from_addr="B <b@example.brussels>")
    service.schedule("pg")


def test_concurrent_claims_are_disjoint(tmp_path: Path, templates_dir: Path, pg_url: str) -> None:
    service = _service(tmp_path, pg_url)
    _schedule(service, templates_dir, tmp_path, 400)
    now = time.time()

    def grab(worker: str) -> list[int]:
        got: list[int] = []
        while rows := claim(service.engine, 1, worker, 7, lease=30, now=now):
            got.extend(r.id for r in rows)
        return got

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(grab, ["a", "b", "c", "d"]))
    flat = [i for r in results for i in r]
    assert len(flat) == len(set(flat)) == 400
    assert sum(1 for r in results if r) >= 2
    with service.engine.begin() as conn:
        mark_in_flight(conn, "a", results[0][:3])
    released, uncertain = recover_expired(service.engine, now + 31, resend_uncertain=True)
    assert (released, uncertain) == (397, 3)
    assert service.status("pg").uncertain == 3


async def test_two_workers_send_everything_once(
    tmp_path: Path, templates_dir: Path, pg_url: str, smtp_peer: Any
) -> None:
    settings = smtp_settings(tmp_path / "data", smtp_peer.port, claim_batch=8).model_copy(
        update={"database_url": pg_url}
    )
    first, second = Campaigns(settings), Campaigns(settings)
    _schedule(first, templates_dir, tmp_path, 150)
    reports = await asyncio.gather(first.run(worker_id="p1"), second.run(worker_id="p2"))
    assert reports[0].sent + reports[1].sent == 150
    assert len(smtp_peer.handler.message_ids) == len(set(smtp_peer.handler.message_ids)) == 150
    status = first.status("pg").to_json()
    assert status["counts"]["sent"] == 150 and status["status"] == "finished"
