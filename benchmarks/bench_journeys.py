"""Journeys benchmark: 1M events through ingest, every funnel and the abandoned list; POST /events.

    python benchmarks/bench_journeys.py                      # 1,000,000 events, 2 phases + HTTP
    python benchmarks/bench_journeys.py --events 200000 --skip-http

Each pipeline runs in its own process so its peak memory (ru_maxrss) is its own:

- ``duckdb``: the library on its embedded default. ``JourneyStore.ingest_file`` (the JSON Lines file read
  and checked inside DuckDB, idempotent, per-journey summaries kept in SQL), then ``compute_funnels``
  (every procedure's funnel, computed together) and ``find_abandoned``.
- ``sqlite`` (with ``--engines duckdb sqlite``): the same library code on a SQLite store, where every
  event goes through the Python parser.
- ``python``: a straightforward pure-Python implementation of the same rules, giving the same reports:
  the same parser, events deduplicated in a dict, grouped by journey and summarised, then every
  funnel (counts per step, in progress, ineligible, median and p90 per step and to completion) and the
  ordered abandoned list with each journey's stalled step. It keeps everything in memory and stores
  nothing, so its ingest is a lower bound of what a pure-Python store would cost.

The script asserts that every pipeline gives exactly the same funnels and the same abandoned list.
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


def _funnel_view(funnel: Any) -> dict[str, Any]:
    """What a funnel report shows (the ``all`` group), as plain values both pipelines can be compared on."""
    return {
        "journeys": funnel.journeys,
        "completed": funnel.completed,
        "ineligible": funnel.ineligible,
        "cancelled": funnel.cancelled,
        "to_complete": (funnel.median_seconds_to_complete, funnel.p90_seconds_to_complete),
        "steps": [
            (
                s.step,
                s.reached,
                s.completed,
                s.dropped,
                s.in_progress,
                s.ineligible,
                s.median_seconds,
                s.p90_seconds,
            )
            for s in funnel.steps
        ],
    }


def run_sql(data: Path, url: str, out: Any) -> None:
    """The library's pipeline; sends timings and its results back through ``out``."""
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
            "funnels_out": {slug: _funnel_view(f) for slug, f in funnels.items()},
            "abandoned_out": [
                (a.procedure, a.journey_id, a.step, a.idle_seconds, a.language, a.channel, a.citizen_ref)
                for a in abandoned
            ],
            "peak_mb": _peak_mb(),
        }
    )


def _nearest_rank(values: list[float], percent: int) -> float | None:
    """The nearest-rank percentile of sorted ``values``: the smallest rank r with r >= n * percent / 100."""
    if not values:
        return None
    return values[-(-len(values) * percent // 100) - 1]


def run_python(data: Path, out: Any) -> None:
    """A straightforward pure-Python implementation of the same rules, giving the same reports.

    Ingest: the library's parser, events deduplicated in a dict, then grouped by journey and summarised
    (as the library keeps per-journey summaries at ingest). Funnels: counts per step, in progress,
    ineligible, time per step and to completion with their median and p90. Abandoned: the list with the
    stalled step, longest idle first. Everything in memory; nothing is stored, so its ingest is a lower
    bound of what a pure-Python store would cost.
    """
    from contact_center.journeys import JourneyEvent, load_procedures, read_events

    catalog = load_procedures(data / "procedures.yaml")
    as_of = AS_OF.timestamp()
    done_types = {"step_completed", "submitted", "paid"}
    positions = {slug: {step: i + 1 for i, step in enumerate(proc.steps)} for slug, proc in catalog.items()}
    t0 = time.perf_counter()
    events: dict[str, JourneyEvent] = {}
    for item in read_events(data / "events.jsonl"):
        if isinstance(item, JourneyEvent):
            events.setdefault(item.event_id, item)
    grouped: dict[tuple[str, str], list[tuple[float, JourneyEvent]]] = defaultdict(list)
    for ev in events.values():
        ts = ev.ts_epoch
        if ts <= as_of and ev.procedure in catalog:
            grouped[(ev.procedure, ev.journey_id)].append((ts, ev))
    # Per journey: (procedure, journey_id, citizen_ref, language, channel, started, last, completed_at,
    # types, furthest, last_done, [(position, first_at, left_at, prev_left)])
    summaries: list[tuple[Any, ...]] = []
    for (slug, journey_id), evs in grouped.items():
        pos_of = positions[slug]
        started, last = min(ts for ts, _ in evs), max(ts for ts, _ in evs)
        types = {ev.type for _, ev in evs}
        completed_at = min((ts for ts, ev in evs if ev.type == "completed"), default=None)
        refs = [ev.citizen_ref for _, ev in evs if ev.citizen_ref is not None]
        attrs = []
        for name in ("language", "channel"):
            first = [
                getattr(ev, name) for _, ev in evs if ev.type == "started" and getattr(ev, name) is not None
            ]
            every = [getattr(ev, name) for _, ev in evs if getattr(ev, name) is not None]
            attrs.append(max(first) if first else min(every, default=None))
        first_at: dict[int, float] = {}
        left_at: dict[int, float] = {}
        for ts, ev in evs:
            pos = pos_of.get(ev.step) if ev.step is not None else None
            if pos is None:
                continue
            first_at[pos] = min(first_at.get(pos, ts), ts)
            if ev.type in done_types:
                left_at[pos] = min(left_at.get(pos, ts), ts)
        step_rows = []
        prev_left = None
        for pos in sorted(first_at):
            step_rows.append((pos, first_at[pos], left_at.get(pos), prev_left))
            prev_left = left_at.get(pos)
        furthest = max(first_at, default=1)
        last_done = max(left_at, default=0)
        summaries.append(
            (
                slug,
                journey_id,
                max(refs, default=None),
                *attrs,
                started,
                last,
                completed_at,
                types,
                furthest,
                last_done,
                step_rows,
            )
        )
    t1 = time.perf_counter()
    funnels_out: dict[str, dict[str, Any]] = {}
    acc: dict[str, dict[str, Any]] = {}
    for slug, proc in catalog.items():
        n = len(proc.steps)
        acc[slug] = {
            "journeys": 0,
            "completed": 0,
            "ineligible": 0,
            "cancelled": 0,
            "counts": [[0] * 5 for _ in range(n)],
            "durations": [[] for _ in range(n + 1)],
        }
    for slug, _, _, _, _, started, last, completed_at, types, furthest, last_done, step_rows in summaries:
        proc = catalog[slug]
        n = len(proc.steps)
        a = acc[slug]
        is_completed = "completed" in types
        through = n if is_completed else last_done
        at = n if is_completed else furthest if furthest > last_done else min(last_done + 1, n)
        if is_completed:
            state = "completed"
        elif "ineligible" in types:
            state = "ineligible"
        elif "cancelled" in types or as_of - last > proc.idle_seconds:
            state = "dropped"
        else:
            state = "open"
        a["journeys"] += 1
        a["completed"] += is_completed or state == "ineligible"
        a["ineligible"] += state == "ineligible"
        a["cancelled"] += not is_completed and state != "ineligible" and "cancelled" in types
        counts = a["counts"]
        for i in range(1, n + 1):
            row = counts[i - 1]
            row[0] += at >= i
            row[1] += through >= i
            if at == i:
                row[2] += state == "dropped"
                row[3] += state == "open"
                row[4] += state == "ineligible"
        durations = a["durations"]
        for pos, first, left, prev in step_rows:
            if left is not None:
                entered = (
                    started
                    if pos == 1 and started < first
                    else prev
                    if prev is not None and prev < first
                    else first
                )
                durations[pos].append(left - entered)
        if completed_at is not None:
            durations[0].append(completed_at - started)
    for slug, proc in catalog.items():
        a = acc[slug]
        for d in a["durations"]:
            d.sort()
        times = [(_nearest_rank(d, 50), _nearest_rank(d, 90)) for d in a["durations"]]
        funnels_out[slug] = {
            "journeys": a["journeys"],
            "completed": a["completed"],
            "ineligible": a["ineligible"],
            "cancelled": a["cancelled"],
            "to_complete": times[0],
            "steps": [(step, *a["counts"][i], *times[i + 1]) for i, step in enumerate(proc.steps)],
        }
    t2 = time.perf_counter()
    stalled = []
    for slug, journey_id, ref, lang, channel, _, last, _, types, furthest, last_done, _ in summaries:
        proc = catalog[slug]
        if types & {"completed", "ineligible", "cancelled"} or as_of - last <= proc.idle_seconds:
            continue
        n = len(proc.steps)
        at = furthest if furthest > last_done else min(last_done + 1, n)
        stalled.append((last, journey_id, slug, proc.steps[at - 1], ref, lang, channel))
    stalled.sort(key=lambda row: (row[0], row[1]))
    abandoned = [
        (slug, journey_id, step, round(as_of - last, 3), lang, channel, ref)
        for last, journey_id, slug, step, ref, lang, channel in stalled
    ]
    t3 = time.perf_counter()
    out.send(
        {
            "ingest": t1 - t0,
            "funnels": t2 - t1,
            "abandoned": t3 - t2,
            "journeys": sum(f["journeys"] for f in funnels_out.values()),
            "abandoned_count": len(abandoned),
            "funnels_out": funnels_out,
            "abandoned_out": abandoned,
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
    # Read once, untimed: the first pipeline of round 1 would otherwise pay alone for reading it from disk.
    with (data / "events.jsonl").open("rb") as fh:
        while fh.read(1 << 24):
            pass
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
            for slug, funnel in py["funnels_out"].items():
                assert run["funnels_out"][slug] == funnel, (
                    f"{engine} and pure Python disagree on the funnel of {slug}: "
                    f"{run['funnels_out'][slug]} against {funnel}"
                )
            assert run["abandoned_out"] == py["abandoned_out"], (
                f"{engine} and pure Python disagree on the abandoned list"
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
        phases = "; ".join(
            f"round {k + 1}: "
            + " + ".join(f"{this[engine][key]:.2f}" for key in ("ingest", "funnels", "abandoned"))
            for k, this in enumerate(rounds)
        )
        print(f"The library's ingest + funnels + abandoned, each round: {phases}.\n")
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
