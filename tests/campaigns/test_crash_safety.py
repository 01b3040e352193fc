"""Crash safety with real processes: SIGKILL the worker at random points, restart it, count at the relay.

The worker runs as ``python -m campaigns.worker`` against aiosmtpd on loopback; the relay records every
Message-ID it accepts. Nothing may be skipped, and only rows flagged ``uncertain`` (in flight at the
instant of a kill) may arrive twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from campaigns import Campaigns
from campaigns.tables import ledger
from tests.campaigns.helpers import resident, smtp_settings, write_csv
from tests.channels import smtp_peer as peer_module

RECIPIENTS = 300
ROOT = Path(__file__).resolve().parents[2]


def _env(data_dir: Path, port: int, *, resend: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env.update(
        {
            "CC_DATA_DIR": str(data_dir),
            "CC_SECRET_KEY": "test-secret",
            "CC_SMTP__HOST": "127.0.0.1",
            "CC_SMTP__PORT": str(port),
            "CC_SMTP__TLS": "none",
            "CC_SMTP__POOL_SIZE": "4",
            "CC_CAMPAIGNS__RATE_PER_SECOND": "0",
            "CC_CAMPAIGNS__RESEND_UNCERTAIN": "true" if resend else "false",
            "CC_CAMPAIGNS__LEASE_SECONDS": "2",
            "CC_CAMPAIGNS__CLAIM_BATCH": "16",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def _worker(env: dict[str, str], cwd: Path, worker_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "campaigns.worker", "--once", "--worker-id", worker_id],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _prepare(tmp_path: Path, templates: Path, port: int, *, resend: bool) -> Campaigns:
    service = Campaigns(smtp_settings(tmp_path / "data", port, resend_uncertain=resend))
    service.import_contacts(write_csv(tmp_path / "r.csv", [resident(i) for i in range(RECIPIENTS)]))
    service.create("crash", segment="consent = true", templates=templates, from_addr="B <b@example.brussels>")
    service.schedule("crash")
    return service


def _kill_at_random_points(
    env: dict[str, str], cwd: Path, handler: Any, rng: random.Random, kills: int
) -> int:
    done = 0
    for k in range(kills):
        # A new worker id for the last kill: its rows come back only through the lease expiry.
        proc = _worker(env, cwd, "w-first" if k < kills - 1 else f"w-{k}")
        target = handler.count() + rng.randint(5, 50)
        deadline = time.monotonic() + 30
        while handler.count() < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.001, 0.01))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            done += 1
        proc.wait(timeout=30)
    return done


def _finish(env: dict[str, str], cwd: Path, service: Campaigns) -> None:
    for _ in range(4):
        proc = _worker(env, cwd, "w-final")
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        if service.status("crash").status == "finished":
            return
        time.sleep(2.1)  # let the lease of the killed worker with its own id expire


def test_sigkill_at_random_points_skips_nothing_and_duplicates_only_uncertain(
    tmp_path: Path, templates_dir: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    handler = peer_module.RecordingHandler(delay=0.01)
    peer = peer_module.SMTPPeer(handler)
    peer.start()
    try:
        service = _prepare(tmp_path, templates_dir, peer.port, resend=True)
        env = _env(tmp_path / "data", peer.port, resend=True)
        kills = _kill_at_random_points(env, tmp_path, handler, rng, kills=4)
        _finish(env, tmp_path, service)
    finally:
        peer.stop()
    with service.engine.connect() as conn:
        rows = conn.execute(sa.select(ledger.c.message_id, ledger.c.uncertain, ledger.c.state)).all()
    expected = {r.message_id for r in rows}
    uncertain = {r.message_id for r in rows if r.uncertain}
    received = Counter(handler.message_ids)
    status = service.status("crash")
    context = f"seed={seed} kills={kills} uncertain={len(uncertain)} duplicates={sum(received.values()) - len(received)}"
    assert kills >= 2, context
    assert set(received) == expected, context  # nobody skipped, nothing foreign
    assert {mid for mid, n in received.items() if n > 1} <= uncertain, context
    assert status.counts["sent"] == RECIPIENTS and status.status == "finished", context
    assert status.uncertain == len(uncertain)


def test_without_resend_nothing_arrives_twice(tmp_path: Path, templates_dir: Path) -> None:
    rng = random.Random()
    handler = peer_module.RecordingHandler(delay=0.01)
    peer = peer_module.SMTPPeer(handler)
    peer.start()
    try:
        service = _prepare(tmp_path, templates_dir, peer.port, resend=False)
        env = _env(tmp_path / "data", peer.port, resend=False)
        _kill_at_random_points(env, tmp_path, handler, rng, kills=2)
        _finish(env, tmp_path, service)
    finally:
        peer.stop()
    with service.engine.connect() as conn:
        rows = conn.execute(sa.select(ledger.c.message_id, ledger.c.uncertain, ledger.c.state)).all()
    received = Counter(handler.message_ids)
    assert max(received.values()) == 1
    for row in rows:
        if row.uncertain:
            assert row.state == "failed"
        else:
            assert row.state == "sent" and received[row.message_id] == 1


def test_two_worker_processes_at_once_never_send_the_same_row(tmp_path: Path, templates_dir: Path) -> None:
    handler = peer_module.RecordingHandler(delay=0.002)
    peer = peer_module.SMTPPeer(handler)
    peer.start()
    try:
        service = _prepare(tmp_path, templates_dir, peer.port, resend=True)
        env = _env(tmp_path / "data", peer.port, resend=True)
        procs = [_worker(env, tmp_path, "a"), _worker(env, tmp_path, "b")]
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        peer.stop()
    assert all(p.returncode == 0 for p in procs), [e.decode() for _, e in outputs]
    sent = [int(out.decode().split("sent=")[1].split()[0]) for out, _ in outputs]
    assert sum(sent) == RECIPIENTS
    assert len(handler.message_ids) == len(set(handler.message_ids)) == RECIPIENTS
    assert service.status("crash").status == "finished"
