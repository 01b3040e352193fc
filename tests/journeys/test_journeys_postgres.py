"""The same journeys on SQLite and on a real PostgreSQL server (a throwaway cluster on 127.0.0.1):
every funnel, the abandoned list and the nudge records must come out identical."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from contact_center.journeys import (
    JourneyStore,
    compute_funnel,
    compute_funnels,
    find_abandoned,
    load_procedures,
)
from tests.journeys.journeys_helpers import random_journeys

STEPS = ["identity", "civil-status", "documents", "appointment", "payment"]


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; the cluster then belongs to the postgres account.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """CI's server (CC_TEST_POSTGRES_URL, see .ci/postgres.sh) with our tables dropped, else our own."""
    shared = os.environ.get("CC_TEST_POSTGRES_URL")
    if shared:
        from sqlalchemy import create_engine

        from contact_center.journeys.store import metadata

        engine = create_engine(shared)
        metadata.drop_all(engine)
        try:
            yield shared
        finally:
            metadata.drop_all(engine)
            engine.dispose()
        return
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("no CC_TEST_POSTGRES_URL and no PostgreSQL server binaries (initdb, pg_ctl)")
    base = Path(tempfile.mkdtemp(prefix="journeys-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = base / "data"
    subprocess.run(
        _as_postgres(["initdb", "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(["pg_ctl", "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_sqlite_and_duckdb_agree(
    postgres_url: str, procedures_file: Path, tmp_path: Path, at: Callable[[float], datetime]
) -> None:
    journeys = random_journeys(6)
    stores = [
        JourneyStore(f"sqlite:///{tmp_path / 'j.sqlite3'}"),
        JourneyStore(postgres_url),
        JourneyStore(f"duckdb:///{tmp_path / 'j.duckdb'}"),
    ]
    try:
        results = []
        for store in stores:
            store.register_procedures(load_procedures(procedures_file))
            first = store.ingest(journeys.parsed())
            replay = store.ingest(journeys.parsed())
            assert (first.added, replay.added, replay.duplicates) == (
                len(journeys.events),
                0,
                len(journeys.events),
            )
            outputs = []
            for minutes in (8 * 24 * 60, 3 * 24 * 60):  # after everything (summaries), part-way (events)
                for by in (None, "channel", "language"):
                    funnel = compute_funnel(store, "marriage-declaration", as_of=at(minutes), by=by)  # type: ignore[arg-type]
                    outputs.append(funnel.model_dump(exclude={"as_of"}))
                windowed = compute_funnels(store, as_of=at(minutes), within=timedelta(days=1), by="channel")
                outputs.append({slug: f.model_dump(exclude={"as_of"}) for slug, f in windowed.items()})
                outputs.append([a.to_dict() for a in find_abandoned(store, as_of=at(minutes))])
            results.append(outputs)
        assert results[0][0]["journeys"] == 150
        assert results[0] == results[1] == results[2]
    finally:
        for store in stores:
            store.engine.dispose()
