"""Campaign throughput and memory.

    python benchmarks/bench_campaigns.py [--messages 20000] [--contacts 100000] [--pool 4] [--slices 4]

1. Sending: aiosmtpd runs in its own process on 127.0.0.1 and accepts everything (``--relay-latency-ms``
   adds work per message at the relay). Against that one server the script measures:
   - raw ``aiosmtplib`` with the campaign's own messages: ``--pool`` connections calling ``sendmail`` with
     the very bytes the full path sends, rendered beforehand by the worker (untimed). This is the
     baseline of the target (the full path at least 85 % of it): the gap between the two is the
     ledger's, the rendering's and the adapter's alone;
   - the full path: ``Campaigns.run`` with the ledger in SQLite, rendering of every message, the SMTP
     adapter, the same pool (the campaign is scheduled beforehand, untimed: its render check and ledger
     fill are reported on their own line);
   - raw aiosmtplib again with a smaller generic message (about 820 bytes against 1,500), for
     reference: the relay's work per message grows with the message, so this figure is higher;
   - a plain sequential ``smtplib`` loop (one connection, one message after the other, the generic
     message);
   - the server's ceiling: raw aiosmtplib with 4x the pool.
   Raw and full path alternate over ``--slices`` slices of the messages, in turn first, so that a
   change in the machine's load during the run weighs on both alike; each figure is the slices' sum.
   Both run on asyncio's default loop and, when uvloop is installed, again on uvloop (the loop
   ``campaigns run`` picks when it can). The client process's CPU time per message (all threads) and
   the relay's are printed beside each: on two cores shared by client and relay, they show what
   bounds the throughput.
2. Rendering and segment evaluation over ``--contacts`` contacts (``Campaigns.check``: every template for
   every recipient), filling the ledger (``schedule``), and a pass of the worker over the whole ledger
   with a transport that discards the bytes (claims, rendering, marks and replies: everything but the
   network). Each size (a quarter of ``--contacts``, then all of it) runs in a fresh process, so its peak
   RSS is its own: an unchanged figure shows that memory does not grow with the campaign.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T = TypeVar("T")

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
FROM = "B <etrangers@example.brussels>"


def write_inputs(directory: Path, contacts: int, slices: int = 1) -> tuple[Path, Path]:
    """Templates and a residents CSV; the ``slice`` column splits the contacts into ``slices`` runs."""
    from datetime import date, timedelta

    templates = directory / "templates"
    templates.mkdir(exist_ok=True)
    for name, text in TEMPLATES.items():
        (templates / name).write_text(text, encoding="utf-8")
    csv_path = directory / f"residents-{contacts}-{slices}.csv"
    today = date.today()
    with csv_path.open("w", encoding="utf-8") as fh:
        fh.write(
            "email,first_name,last_name,language,nationality,permit_type,permit_expires,postcode,consent,"
            "district,slice\n"
        )
        for i in range(contacts):
            expires = today + timedelta(days=i % 90)
            fh.write(
                f"resident{i}@example.org,First{i},Last{i},{LANGS[i % len(LANGS)]},MA,A,{expires.isoformat()},"
                f"{1000 + i % 200},yes,d{i % 19},s{i * slices // contacts}\n"
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


def run_on(loop: str, main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on asyncio's default loop or on uvloop."""
    if loop == "asyncio":
        return asyncio.run(main)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def loops() -> list[str]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return ["asyncio"]
    return ["asyncio", "uvloop"]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (0.0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Tally:
    """Messages, wall time and CPU time (client process, relay process) summed over slices."""

    messages: int = 0
    seconds: float = 0.0
    client_cpu: float = 0.0
    relay_cpu: float = 0.0

    def add(self, server_pid: int, messages: int, run: Callable[[], T]) -> T:
        client, relay, start = time.process_time(), process_cpu(server_pid), time.perf_counter()
        result = run()
        self.seconds += time.perf_counter() - start
        self.client_cpu += time.process_time() - client
        self.relay_cpu += process_cpu(server_pid) - relay
        self.messages += messages
        return result

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def cpu(self) -> str:
        return (
            f"client CPU {self.client_cpu / self.messages * 1e6:4.0f} µs/msg, "
            f"relay CPU {self.relay_cpu / self.messages * 1e6:4.0f} µs/msg"
        )


def bench_smtplib(port: int, n: int) -> float:
    messages = [message(i) for i in range(n)]
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for msg in messages:
            client.send_message(msg)
    return n / (time.perf_counter() - start)


async def raw_aiosmtplib(port: int, envelopes: list[tuple[str, list[str], bytes]], pool: int) -> None:
    """The transport alone: messages serialised beforehand, handed to aiosmtplib's ``sendmail``."""
    import aiosmtplib

    queue: asyncio.Queue[tuple[str, list[str], bytes]] = asyncio.Queue()
    for envelope in envelopes:
        queue.put_nowait(envelope)

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        while not queue.empty():
            await client.sendmail(*queue.get_nowait())
        await client.quit()

    await asyncio.gather(*(connection() for _ in range(pool)))


def full_path_service(port: int, n: int, pool: int, work: Path, slices: int) -> Any:
    """A campaigns service on SQLite with ``n`` contacts, ``slices`` per loop, and the SMTP adapter."""
    from campaigns import Campaigns
    from contact_center.settings import CampaignSettings, Settings, SMTPSettings

    work.mkdir(parents=True, exist_ok=True)
    _, csv_path = write_inputs(work, n, slices)
    settings = Settings(
        data_dir=work / "full",
        secret_key="bench",
        smtp=SMTPSettings(host="127.0.0.1", port=port, tls="none", pool_size=pool),
        campaigns=CampaignSettings(rate_per_second=0, claim_batch=256),
    )
    service = Campaigns(settings)
    service.import_contacts(csv_path)
    return service


def send_benchmark(args: argparse.Namespace, work: Path, latency_ms: float) -> None:
    from channels.smtp import _envelope
    from tests.channels.smtp_peer import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(latency_ms / 1000)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    n, slices = args.messages, args.slices
    per = n // slices
    assert per * slices == n, "--messages must be a multiple of --slices"
    names = loops()
    raw = {loop: Tally() for loop in names}
    own = {loop: Tally() for loop in names}
    full = {loop: Tally() for loop in names}
    schedule_s = 0.0
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        sequential = bench_smtplib(port, max(1000, n // 10))
        envelopes = [_envelope(message(i)) for i in range(n)]
        service = full_path_service(port, n, args.pool, work / f"full-{latency_ms}", slices)
        templates = work / f"full-{latency_ms}" / "templates"
        # The campaign's own messages, rendered beforehand (untimed) by the worker into a transport
        # that keeps the bytes: raw aiosmtplib sending exactly what the full path sends.
        capture = _Capture()
        service.create("capture", segment="consent = true", templates=templates, from_addr=FROM)
        service.schedule("capture")
        asyncio.run(service.run(campaign="capture", mailer=capture))
        for k in range(slices):
            chunk = envelopes[k * per : (k + 1) * per]
            own_chunk = capture.envelopes[k * per : (k + 1) * per]
            runs: list[tuple[str, str]] = [(kind, loop) for loop in names for kind in ("raw", "own", "full")]
            for kind, loop in runs if k % 2 == 0 else runs[::-1]:
                if kind in ("raw", "own"):
                    tally, sent = (raw, chunk) if kind == "raw" else (own, own_chunk)
                    tally[loop].add(
                        server.pid, per, partial(run_on, loop, raw_aiosmtplib(port, sent, args.pool))
                    )
                    continue
                # One campaign per slice and loop: slice k's contacts, sent once.
                name = f"bench-{loop}-{k}"
                service.create(name, segment=f'slice = "s{k}"', templates=templates, from_addr=FROM)
                start = time.perf_counter()
                service.schedule(name)
                schedule_s += time.perf_counter() - start
                gc.collect()
                report = full[loop].add(server.pid, per, partial(run_on, loop, service.run(campaign=name)))
                assert report.sent == per, report
        ceiling = Tally()
        ceiling.add(server.pid, n, lambda: asyncio.run(raw_aiosmtplib(port, envelopes, args.pool * 4)))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=60)
    print(
        f"sending {n} messages to aiosmtpd on loopback, relay latency {latency_ms:g} ms/message, "
        f"pool {args.pool}, raw and full path alternating over {slices} slices:"
    )
    print(f"  sequential smtplib loop (generic message) {sequential:6.0f} msg/s")
    own_size = sum(len(e[2]) for e in capture.envelopes) / len(capture.envelopes)
    raw_size = sum(len(e[2]) for e in envelopes) / len(envelopes)
    for loop in names:
        r, f, o = raw[loop], full[loop], own[loop]
        print(f"  on {loop}:")
        print(
            f"    raw aiosmtplib, pool {args.pool}, the campaign's own messages {o.rate:6.0f} msg/s   {o.cpu()}\n"
            f"      (the full path's bytes, {own_size:,.0f} bytes on average, rendered beforehand)"
        )
        print(
            f"    full path (ledger+render+SMTP), pool {args.pool:<2} {f.rate:6.0f} msg/s   {f.cpu()}\n"
            f"      = {f.rate / o.rate:.0%} of raw aiosmtplib with the same messages (target: at least 85 %), "
            f"{f.rate / sequential:.1f}x the sequential loop"
        )
        print(
            f"    raw aiosmtplib, pool {args.pool}, a smaller generic message {r.rate:6.0f} msg/s   {r.cpu()}\n"
            f"      ({raw_size:,.0f} bytes; the relay's work grows with the message: full path = {f.rate / r.rate:.0%} of it)"
        )
    print(
        f"  server ceiling (raw, pool {args.pool * 4}, asyncio)  {ceiling.rate:6.0f} msg/s   {ceiling.cpu()}"
    )
    print(
        f"  schedule of the slices' campaigns (segment over all {n} contacts, render check, ledger fill; "
        f"untimed above): {schedule_s / (n * len(names)) * 1e6:.0f} µs per recipient",
        flush=True,
    )


class _Capture:
    """A wire transport that keeps every message's envelope and bytes instead of sending them."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def send(self, message: EmailMessage) -> Any:
        raise AssertionError("the worker hands bytes to a wire transport")

    async def send_wire(self, message: Any) -> Any:
        from channels.mailer import SendResult

        self.envelopes.append((message.sender, list(message.recipients), message.data))
        return SendResult(message.message_id, 250, "2.0.0 kept")

    async def aclose(self) -> None:
        return None


class _Discard:
    """A wire transport that accepts and drops every message: the worker without the network."""

    async def send(self, message: EmailMessage) -> Any:
        raise AssertionError("the worker hands bytes to a wire transport")

    async def send_wire(self, message: Any) -> Any:
        from channels.mailer import SendResult

        return SendResult(message.message_id, 250, "2.0.0 discarded")

    async def aclose(self) -> None:
        return None


def bench_rendering(contacts: int, work: Path) -> dict[str, float]:
    """One size, in this process: import, segment count, render check, schedule, a worker pass; peak RSS."""
    from campaigns import Campaigns
    from contact_center.settings import CampaignSettings, Settings

    def rss() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    templates, csv_path = write_inputs(work, contacts)
    settings = Settings(
        data_dir=work / f"render-{contacts}",
        secret_key="bench",
        campaigns=CampaignSettings(rate_per_second=0, claim_batch=512),
    )
    service = Campaigns(settings)
    start_rss = rss()
    start = time.perf_counter()
    service.import_contacts(csv_path)
    import_s = time.perf_counter() - start
    segment = 'permit_expires within 60 days and language in ("nl", "fr", "en", "es", "ar")'
    service.create("r", segment=segment, templates=templates, from_addr=FROM)
    gc.collect()
    start = time.perf_counter()
    count = service.segment_count(segment)
    segment_s = time.perf_counter() - start
    start = time.perf_counter()
    problems = service.check("r")
    check_s = time.perf_counter() - start
    check_rss = rss()
    start = time.perf_counter()
    scheduled = service.schedule("r")
    schedule_s = time.perf_counter() - start
    schedule_rss = rss()
    assert not problems and scheduled.recipients == count
    start = time.perf_counter()
    report = asyncio.run(service.run(mailer=_Discard()))
    send_s = time.perf_counter() - start
    assert report.sent == count, report
    return {
        "contacts": contacts,
        "segment_members": count,
        "import_s": import_s,
        "segment_s": segment_s,
        "render_check_s": check_s,
        "schedule_s": schedule_s,
        "worker_pass_s": send_s,
        "rss_mib_at_start": start_rss,
        "peak_rss_mib_after_check": check_rss,
        "peak_rss_mib_after_schedule": schedule_rss,
        "peak_rss_mib_after_worker_pass": rss(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument(
        "--contacts",
        type=int,
        default=100_000,
        help="largest size of the rendering and memory part (it also runs a quarter of it), e.g. 1000000",
    )
    parser.add_argument("--pool", type=int, default=4)
    parser.add_argument(
        "--slices", type=int, default=4, help="raw and full path alternate over this many slices"
    )
    parser.add_argument("--skip-send", action="store_true")
    parser.add_argument(
        "--relay-latency-ms",
        type=float,
        nargs="+",
        default=[0.0, 5.0],
        help="time the test relay spends on each message (0 = instant sink)",
    )
    parser.add_argument("--skip-render", action="store_true")
    parser.add_argument("--render-one", type=int, default=0, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.render_one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(bench_rendering(args.render_one, Path(tmp))))
        return
    print(f"cores: {os.cpu_count()}  python: {sys.version.split()[0]}  event loops: {', '.join(loops())}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_send:
            for latency_ms in args.relay_latency_ms:
                send_benchmark(args, work, latency_ms)
    if not args.skip_render:
        for size in (args.contacts // 4, args.contacts):
            # A fresh process per size: peak RSS only ever grows, so each size gets its own.
            out = subprocess.run(
                [sys.executable, __file__, "--render-one", str(size)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"contacts {r['contacts']:>8}: members {r['segment_members']}, import {r['import_s']:.1f} s, "
                f"segment count {r['segment_s']:.1f} s, render every message {r['render_check_s']:.1f} s, "
                f"schedule {r['schedule_s']:.1f} s, worker pass (no network) {r['worker_pass_s']:.1f} s; "
                f"peak RSS {r['peak_rss_mib_after_check']:.0f} MiB after check, "
                f"{r['peak_rss_mib_after_schedule']:.0f} after schedule, "
                f"{r['peak_rss_mib_after_worker_pass']:.0f} after the worker pass "
                f"({r['rss_mib_at_start']:.0f} at start)",
                flush=True,
            )


if __name__ == "__main__":
    main()
