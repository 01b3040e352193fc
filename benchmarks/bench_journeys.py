"""Journeys benchmark: 1M events through ingest, every funnel and the abandoned list; POST /events.

    python benchmarks/bench_journeys.py                      # 1,000,000 events, 2 phases + HTTP
    python benchmarks/bench_journeys.py --events 200000 --skip-http

Each pipeline runs in its own process so its peak memory (ru_maxrss) is its own:

- ``duckdb``: the library on its embedded default. ``JourneyStore.ingest_file`` (the JSON Lines file read
  and checked inside DuckDB, idempotent, per-journey summaries kept in SQL), then ``compute_funnels``
  (every procedure's funnel, computed together) and ``find_abandoned``.
- ``sqlite`` (with ``--engines duckdb sqlite``): the same library code on a SQLite store, where every
  event goes through the Python parser.
- ``python``: a straightforward pure-Python implementation of the same rules: the same parser, events
  deduplicated in a dict, then loops over the events per procedure for the funnels and over all of
  them for the abandoned list. It keeps everything in memory and stores nothing, so its ingest is a
  lower bound of what a pure-Python store would cost.

The HTTP phase starts ``create_app`` (on the DuckDB store) under uvicorn on 127.0.0.1 and posts batches of 500 events.
The pipelines alternate over ``--rounds`` rounds (default 3), each round in fresh processes and a fresh
store, so that a change in the machine's load weighs on both; the tables show each pipeline's median round
and every round's paired ratio. Results go to stdout as Markdown, for docs/journeys.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

AS_OF = datetime(2026, 12, 15, tzinfo=UTC)
HERE = Path(__file__).resolve().parent


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_sql(data: Path, url: str, out: Any) -> None:
    """The library's pipeline; sends timings back through ``out``."""
    from contact_center.journeys import (
        JourneyStore,
        compute_funnels,
        find_abandoned,
        load_procedures,
    )

    store = JourneyStore(url)
    catalog = load_procedures(data / "procedures.yaml")
    store.register_procedures(catalog)
    t0 = time.perf_counter()
    result = store.ingest_file(data / "events.jsonl")
    t1 = time.perf_counter()
    with store.session():  # one open of the database for the whole report, as a notebook would do
        funnels = compute_funnels(store, as_of=AS_OF)
        t2 = time.perf_counter()
        abandoned = find_abandoned(store, as_of=AS_OF)
        t3 = time.perf_counter()
    replay = store.ingest_file(data / "events.jsonl")
    t4 = time.perf_counter()
    out.send(
        {
            "ingest": t1 - t0,
            "funnels": t2 - t1,
            "abandoned": t3 - t2,
            "replay": t4 - t3,
            "added": result.added,
            "replay_added": replay.added,
            "journeys": sum(f.journeys for f in funnels.values()),
            "abandoned_count": len(abandoned),
            "check": {s: [st.dropped for st in f.steps] for s, f in funnels.items()},
            "peak_mb": _peak_mb(),
        }
    )


def run_python(data: Path, out: Any) -> None:
    """A straightforward pure-Python implementation of the same counting rules."""
    from contact_center.journeys import JourneyEvent, load_procedures, read_events

    catalog = load_procedures(data / "procedures.yaml")
    t0 = time.perf_counter()
    events: dict[str, JourneyEvent] = {}
    for item in read_events(data / "events.jsonl"):
        if isinstance(item, JourneyEvent):
            events.setdefault(item.event_id, item)
    t1 = time.perf_counter()
    as_of = AS_OF.timestamp()
    dropped_check: dict[str, list[int]] = {}
    journeys_total = 0
    for slug, proc in catalog.items():
        n = len(proc.steps)
        per: dict[str, list[JourneyEvent]] = defaultdict(list)
        for ev in events.values():
            if ev.procedure == slug and ev.ts_epoch <= as_of:
                per[ev.journey_id].append(ev)
        reached = [0] * n
        completed = [0] * n
        dropped = [0] * n
        durations: list[list[float]] = [[] for _ in range(n)]
        for evs in per.values():
            evs.sort(key=lambda e: e.ts_epoch)
            kinds = {e.type for e in evs}
            pos = [proc.steps.index(e.step) + 1 for e in evs if e.step in proc.steps]
            done = [
                proc.steps.index(e.step) + 1
                for e in evs
                if e.step in proc.steps and e.type in ("step_completed", "submitted", "paid")
            ]
            furthest, last_done = max(pos, default=1), max(done, default=0)
            is_completed = "completed" in kinds
            through = n if is_completed else last_done
            at = n if is_completed else furthest if furthest > last_done else min(last_done + 1, n)
            idle = as_of - evs[-1].ts_epoch
            for i in range(1, n + 1):
                reached[i - 1] += at >= i
                completed[i - 1] += through >= i
                if at == i and not is_completed and "ineligible" not in kinds:
                    dropped[i - 1] += "cancelled" in kinds or idle > proc.idle_seconds
            for i, step in enumerate(proc.steps):
                at_step = [e for e in evs if e.step == step]
                left = [e.ts_epoch for e in at_step if e.type in ("step_completed", "submitted", "paid")]
                if at_step and left:
                    durations[i].append(min(left) - at_step[0].ts_epoch)
        for d in durations:
            d.sort()
        journeys_total += len(per)
        dropped_check[slug] = dropped
    t2 = time.perf_counter()
    per_journey: dict[tuple[str, str], list[JourneyEvent]] = defaultdict(list)
    for ev in events.values():
        if ev.ts_epoch <= as_of:
            per_journey[(ev.procedure, ev.journey_id)].append(ev)
    abandoned = 0
    for (slug, _), evs in per_journey.items():
        proc = catalog.get(slug)
        if proc is None or {e.type for e in evs} & {"completed", "ineligible", "cancelled"}:
            continue
        if as_of - max(e.ts_epoch for e in evs) > proc.idle_seconds:
            abandoned += 1
    t3 = time.perf_counter()
    out.send(
        {
            "ingest": t1 - t0,
            "funnels": t2 - t1,
            "abandoned": t3 - t2,
            "journeys": journeys_total,
            "abandoned_count": abandoned,
            "check": dropped_check,
            "peak_mb": _peak_mb(),
        }
    )


def _in_process(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child))
    proc.start()
    result: dict[str, Any] = parent.recv()
    proc.join()
    return result


def bench_http(data: Path, db: Path, batches: int, batch_size: int = 500) -> dict[str, float]:
    """Post ``batches`` batches of ``batch_size`` events to a real server on loopback."""
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (
        "import sys, uvicorn\n"
        "from contact_center.journeys import JourneyStore, load_procedures\n"
        "from contact_center.journeys.server import create_app\n"
        f"store = JourneyStore('duckdb:///{db}')\n"
        f"store.register_procedures(load_procedures('{data / 'procedures.yaml'}'))\n"
        f"uvicorn.run(create_app(store), host='127.0.0.1', port={port}, log_level='warning')\n"
    )
    server = subprocess.Popen([sys.executable, "-c", code])
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        payloads = []
        with (data / "events.jsonl").open(encoding="utf-8") as fh:
            for _ in range(batches):
                payloads.append([json.loads(next(fh)) for _ in range(batch_size)])
        with httpx.Client(base_url=url, timeout=60) as client:
            start = time.perf_counter()
            for body in payloads:
                response = client.post("/events", json=body)
                response.raise_for_status()
            elapsed = time.perf_counter() - start
        return {
            "events": batches * batch_size,
            "seconds": elapsed,
            "per_second": batches * batch_size / elapsed,
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    """Generate the data if needed, run both pipelines and the HTTP phase, print Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "journeys-bench")
    parser.add_argument("--http-batches", type=int, default=100)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of every pipeline")
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=["duckdb", "sqlite"],
        default=["duckdb"],
        help="library stores to measure",
    )
    args = parser.parse_args()
    data = args.data / str(args.events)
    if not (data / "events.jsonl").exists():
        subprocess.run(
            [
                sys.executable,
                str(HERE / "gen_journey_events.py"),
                "--events",
                str(args.events),
                "--out",
                str(data),
            ],
            check=True,
        )
    rounds: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # The pipelines alternate, round after round, each in a fresh process and (for the library) a fresh
        # store: a change in the machine's load weighs on both, and each round gives a paired ratio.
        for n in range(args.rounds):
            work = Path(tmp) / f"round{n}"
            work.mkdir()
            urls = {
                "duckdb": f"duckdb:///{work / 'bench.duckdb'}",
                "sqlite": f"sqlite:///{work / 'bench.sqlite3'}",
            }
            this = {engine: _in_process(run_sql, data, urls[engine]) for engine in args.engines}
            this["python"] = _in_process(run_python, data)
            rounds.append(this)
        http = None if args.skip_http else bench_http(data, Path(tmp) / "http.duckdb", args.http_batches)
    for this in rounds:
        py = this["python"]
        for engine in args.engines:
            run = this[engine]
            assert run["check"] == py["check"], f"{engine} and pure Python disagree on the funnels"
            assert run["journeys"] == py["journeys"] and run["abandoned_count"] == py["abandoned_count"], (
                engine
            )

    def total(r: dict[str, Any]) -> float:
        return float(r["ingest"] + r["funnels"] + r["abandoned"])

    def analytics(r: dict[str, Any]) -> float:
        return float(r["funnels"] + r["abandoned"])

    def median_round(name: str) -> dict[str, Any]:
        ordered = sorted((this[name] for this in rounds), key=total)
        return ordered[(len(ordered) - 1) // 2]

    sql = median_round(args.engines[0])
    py = median_round("python")
    load = os.getloadavg()
    print(f"## Journeys benchmark: {args.events:,} events, {sql['journeys']:,} journeys, 10 procedures\n")
    print(
        f"Machine: {os.cpu_count()} cores, load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. "
        f"{args.rounds} rounds, the pipelines alternating; each column is that pipeline's median round.\n"
    )
    for engine in args.engines:
        run = median_round(engine)
        print(f"| phase | library on {engine} | pure Python | speed-up |")
        print("|---|---:|---:|---:|")
        for key in ("ingest", "funnels", "abandoned"):
            print(f"| {key} | {run[key]:.2f} s | {py[key]:.2f} s | {py[key] / run[key]:.1f}x |")
        print(
            f"| funnels + abandoned | {analytics(run):.2f} s | {analytics(py):.2f} s | "
            f"{analytics(py) / analytics(run):.1f}x |"
        )
        print(
            f"| **total** | **{total(run):.2f} s** | **{total(py):.2f} s** | **{total(py) / total(run):.1f}x** |"
        )
        print(f"| peak memory (RSS) | {run['peak_mb']:.0f} MB | {py['peak_mb']:.0f} MB | |\n")
        paired = ", ".join(
            f"{total(this['python']):.2f} / {total(this[engine]):.2f} s = {total(this['python']) / total(this[engine]):.1f}x"
            for this in rounds
        )
        print(f"Each round, pure Python / library on {engine}: {paired}.\n")
    print(
        f"Replaying the same file: {sql['replay']:.2f} s, {sql['replay_added']} events added. "
        f"Abandoned journeys as of {AS_OF:%Y-%m-%d}: {sql['abandoned_count']:,} (both implementations agree)."
    )
    if http:
        print(
            f"\nPOST /events, batches of 500 on loopback: {http['events']:,} events in {http['seconds']:.2f} s "
            f"= **{http['per_second']:,.0f} events/s**."
        )


if __name__ == "__main__":
    main()
