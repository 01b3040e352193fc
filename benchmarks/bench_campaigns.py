"""Campaign throughput and memory, measured in one run.

    python benchmarks/bench_campaigns.py [--messages 20000] [--contacts 100000] [--pool 4]

1. Sending: aiosmtpd runs in its own process on 127.0.0.1 and accepts everything. Against that one
   server the script measures, in order:
   - a plain sequential ``smtplib`` loop (one connection, one message after the other);
   - raw ``aiosmtplib`` with ``--pool`` connections, messages built beforehand (the transport alone);
   - the full path: ``Campaigns.run`` with the ledger in SQLite, rendering, the SMTP adapter, the same pool;
   - the server's ceiling: raw aiosmtplib with 4x the pool.
2. Rendering and segment evaluation over ``--contacts`` contacts (``Campaigns.check``: every template for
   every recipient), filling the ledger (``schedule``), and the process's peak RSS, first at a quarter of
   the size then at the full size: peak RSS only grows, so an unchanged figure shows that memory does
   not grow with the campaign (contacts and ledger rows are streamed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVER = """
import asyncio, sys
from aiosmtpd.controller import Controller

LATENCY = float(sys.argv[2])

class Sink:
    async def handle_DATA(self, server, session, envelope):
        if LATENCY:
            await asyncio.sleep(LATENCY)  # a relay's own work per message (queue write, filtering)
        return "250 2.0.0 Ok"

controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"""

TEMPLATES = {
    "fr.subject.txt": "Votre titre de séjour expire le {{ permit_expires|date }}",
    "fr.txt": "Bonjour {{ first_name }} {{ last_name }},\n\nVotre titre de séjour ({{ permit_type }}) expire le "
    "{{ permit_expires|date }}. Prenez rendez-vous au Bureau des étrangers.\n\nSe désinscrire : {{ unsubscribe_url }}\n",
    "fr.html": "<p>Bonjour {{ first_name }} {{ last_name }},</p><p>Votre titre expire le "
    "<strong>{{ permit_expires|date }}</strong>.</p>",
    "nl.subject.txt": "Uw verblijfsvergunning vervalt op {{ permit_expires|date }}",
    "nl.txt": "Beste {{ first_name }} {{ last_name }},\n\nUw verblijfsvergunning ({{ permit_type }}) vervalt op "
    "{{ permit_expires|date }}. Maak een afspraak bij de Dienst Vreemdelingen.\n\nUitschrijven: {{ unsubscribe_url }}\n",
    "nl.html": "<p>Beste {{ first_name }} {{ last_name }},</p><p>Uw vergunning vervalt op "
    "<strong>{{ permit_expires|date }}</strong>.</p>",
    "en.subject.txt": "Your residence permit expires on {{ permit_expires|date }}",
    "en.txt": "Dear {{ first_name }},\n\nYour permit expires on {{ permit_expires|date }}.\n",
    "en.html": "<p>Dear {{ first_name }},</p>",
}
LANGS = ["fr", "nl", "en", "es", "fr", "nl", "ar", "fr"]


def write_inputs(directory: Path, contacts: int) -> tuple[Path, Path]:
    from datetime import date, timedelta

    templates = directory / "templates"
    templates.mkdir(exist_ok=True)
    for name, text in TEMPLATES.items():
        (templates / name).write_text(text, encoding="utf-8")
    csv_path = directory / f"residents-{contacts}.csv"
    today = date.today()
    with csv_path.open("w", encoding="utf-8") as fh:
        fh.write(
            "email,first_name,last_name,language,nationality,permit_type,permit_expires,postcode,consent,district\n"
        )
        for i in range(contacts):
            expires = today + timedelta(days=i % 90)
            fh.write(
                f"resident{i}@example.org,First{i},Last{i},{LANGS[i % len(LANGS)]},MA,A,{expires.isoformat()},"
                f"{1000 + i % 200},yes,d{i % 19}\n"
            )
    return templates, csv_path


def message(i: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Bureau <etrangers@example.brussels>"
    msg["To"] = f"resident{i}@example.org"
    msg["Subject"] = f"Votre titre de séjour expire bientôt ({i})"
    msg["Message-ID"] = f"<raw{i}@example.brussels>"
    msg.set_content("Bonjour,\n\nVotre titre de séjour expire bientôt.\n" * 3)
    msg.add_alternative("<p>Bonjour,</p><p>Votre titre de séjour expire bientôt.</p>", subtype="html")
    return msg


def bench_smtplib(port: int, n: int) -> float:
    messages = [message(i) for i in range(n)]
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for msg in messages:
            client.send_message(msg)
    return n / (time.perf_counter() - start)


async def bench_aiosmtplib(port: int, n: int, pool: int) -> float:
    """The transport alone: messages built and serialised beforehand, handed to aiosmtplib's sendmail."""
    import aiosmtplib

    from channels.smtp import _envelope

    queue: asyncio.Queue[tuple[str, list[str], bytes]] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(_envelope(message(i)))

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        while not queue.empty():
            await client.sendmail(*queue.get_nowait())
        await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(pool)))
    return n / (time.perf_counter() - start)


def bench_full_path(port: int, n: int, pool: int, work: Path) -> tuple[float, float]:
    from campaigns import Campaigns
    from contact_center.settings import CampaignSettings, Settings, SMTPSettings

    work.mkdir(parents=True, exist_ok=True)
    templates, csv_path = write_inputs(work, n)
    settings = Settings(
        data_dir=work / "full",
        secret_key="bench",
        smtp=SMTPSettings(host="127.0.0.1", port=port, tls="none", pool_size=pool),
        campaigns=CampaignSettings(rate_per_second=0, claim_batch=256),
    )
    service = Campaigns(settings)
    service.import_contacts(csv_path)
    service.create(
        "bench", segment="consent = true", templates=templates, from_addr="B <etrangers@example.brussels>"
    )
    start = time.perf_counter()
    service.schedule("bench")
    schedule_s = time.perf_counter() - start
    start = time.perf_counter()
    report = asyncio.run(service.run())
    elapsed = time.perf_counter() - start
    assert report.sent == n, report
    return n / elapsed, schedule_s


def bench_rendering(contacts: int, work: Path) -> dict[str, float]:
    from campaigns import Campaigns
    from contact_center.settings import CampaignSettings, Settings

    templates, csv_path = write_inputs(work, contacts)
    settings = Settings(
        data_dir=work / f"render-{contacts}", secret_key="bench", campaigns=CampaignSettings()
    )
    service = Campaigns(settings)
    start = time.perf_counter()
    service.import_contacts(csv_path)
    import_s = time.perf_counter() - start
    segment = 'permit_expires within 60 days and language in ("nl", "fr", "en", "es", "ar")'
    service.create("r", segment=segment, templates=templates, from_addr="B <etrangers@example.brussels>")
    gc.collect()
    start = time.perf_counter()
    count = service.segment_count(segment)
    segment_s = time.perf_counter() - start
    start = time.perf_counter()
    problems = service.check("r")
    check_s = time.perf_counter() - start
    check_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    scheduled = service.schedule("r")
    schedule_s = time.perf_counter() - start
    schedule_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert not problems and scheduled.recipients == count
    return {
        "contacts": contacts,
        "segment_members": count,
        "import_s": import_s,
        "segment_s": segment_s,
        "render_check_s": check_s,
        "schedule_s": schedule_s,
        "peak_rss_mib_after_check": check_rss,
        "peak_rss_mib_after_schedule": schedule_rss,
    }


def send_benchmark(args: argparse.Namespace, work: Path, latency_ms: float) -> None:
    from tests.channels.smtp_peer import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(latency_ms / 1000)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    n = args.messages
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        sequential = bench_smtplib(port, max(1000, n // 10))
        raw = asyncio.run(bench_aiosmtplib(port, n, args.pool))
        full, schedule_s = bench_full_path(port, n, args.pool, work / f"full-{latency_ms}")
        ceiling = asyncio.run(bench_aiosmtplib(port, n, args.pool * 4))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=60)
    print(
        f"sending {n} messages to aiosmtpd on loopback, relay latency {latency_ms:g} ms/message, pool {args.pool}:"
    )
    print(f"  sequential smtplib loop         {sequential:8.0f} msg/s")
    print(f"  raw aiosmtplib, pool {args.pool}          {raw:8.0f} msg/s")
    print(
        f"  full path (ledger+render+SMTP)  {full:8.0f} msg/s  = {full / raw:.0%} of raw, {full / sequential:.1f}x sequential"
    )
    print(f"  server ceiling (raw, pool {args.pool * 4})   {ceiling:8.0f} msg/s")
    print(f"  schedule (render check + ledger fill) of {n}: {schedule_s:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=4)
    parser.add_argument("--skip-send", action="store_true")
    parser.add_argument(
        "--relay-latency-ms",
        type=float,
        nargs="+",
        default=[0.0, 5.0],
        help="time the test relay spends on each message (0 = instant sink)",
    )
    parser.add_argument("--skip-render", action="store_true")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  python: {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_send:
            for latency_ms in args.relay_latency_ms:
                send_benchmark(args, work, latency_ms)
        if not args.skip_render:
            for size in (args.contacts // 4, args.contacts):
                r = bench_rendering(size, work)
                print(
                    f"contacts {r['contacts']:>7}: members {r['segment_members']}, import {r['import_s']:.1f} s, "
                    f"segment count {r['segment_s']:.1f} s, render every message {r['render_check_s']:.1f} s, "
                    f"schedule {r['schedule_s']:.1f} s, process peak RSS {r['peak_rss_mib_after_check']:.0f} MiB "
                    f"after check / {r['peak_rss_mib_after_schedule']:.0f} MiB after schedule"
                )


if __name__ == "__main__":
    main()
