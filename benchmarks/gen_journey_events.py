"""Generate a synthetic journeys workload: a procedures file and N events (JSON Lines).

Ten procedures of 4 to 8 steps; each journey starts, views and completes steps with a per-step
continuation probability, and ends completed, ineligible, cancelled or idle. Seeded, so two runs with
the same arguments write the same files.

    python benchmarks/gen_journey_events.py --events 1000000 --out /tmp/journeys-bench
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROCEDURES: dict[str, list[str]] = {
    "marriage-declaration": ["identity", "civil-status", "documents", "appointment", "payment"],
    "horeca-terrace-permit": ["business", "location", "plan", "insurance", "payment"],
    "event-public-space": ["organiser", "event", "location", "safety", "documents", "payment"],
    "address-change": ["identity", "new-address", "household", "confirmation"],
    "parking-card": ["identity", "vehicle", "address", "payment"],
    "birth-declaration": ["parents", "child", "documents", "appointment"],
    "identity-card": ["identity", "photo", "appointment", "payment"],
    "building-permit": ["applicant", "parcel", "plans", "impact", "documents", "fees", "review", "payment"],
    "waste-collection": ["address", "items", "slot"],
    "market-stall": ["trader", "market", "goods", "insurance", "payment"],
}
CHANNELS = ["web", "mobile", "kiosk"]
LANGUAGES = ["fr", "nl", "en"]
START = datetime(2026, 10, 1, tzinfo=UTC)


def write_procedures(path: Path) -> None:
    """Write the procedures file matching the generated events."""
    lines = ["procedures:"]
    for slug, steps in PROCEDURES.items():
        lines += [
            f"  {slug}:",
            f"    steps: [{', '.join(steps)}]",
            "    idle_window: 48h",
            f'    resume_url: "https://example.brussels/procedures/{slug}/{{journey_id}}/{{step}}"',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def journey_events(rng: random.Random, n: int) -> list[dict[str, str]]:
    """The events of journey number ``n``."""
    slug = rng.choice(list(PROCEDURES))
    steps = PROCEDURES[slug]
    jid = f"j{n:07d}"
    ctx = {
        "journey_id": jid,
        "citizen_ref": f"c{rng.randrange(n // 2 + 1):07d}",
        "procedure": slug,
        "channel": rng.choices(CHANNELS, weights=[6, 3, 1])[0],
        "language": rng.choices(LANGUAGES, weights=[6, 3, 1])[0],
    }
    t = START + timedelta(seconds=rng.randrange(60 * 86400))
    out: list[dict[str, str]] = []

    def emit(kind: str, step: str | None) -> None:
        out.append(
            {"event_id": f"{jid}-{len(out)}", **ctx, "step": step or "", "type": kind, "ts": t.isoformat()}
        )

    emit("started", steps[0])
    for i, step in enumerate(steps):
        emit("step_viewed", step)
        t += timedelta(seconds=int(rng.expovariate(1 / 240)) + 5)
        if i == 1 and rng.random() < 0.05:
            emit("ineligible", step)
            return out
        if rng.random() < 0.12:
            if rng.random() < 0.2:
                emit("cancelled", step)
            return out
        emit("step_completed" if step != "payment" else "paid", step)
    t += timedelta(seconds=rng.randrange(5, 60))
    emit("completed", None)
    return out


def main() -> None:
    """Parse arguments and write procedures.yaml and events.jsonl."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/journeys-bench"))
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_procedures(args.out / "procedures.yaml")
    rng = random.Random(args.seed)
    written = journeys = 0
    with (args.out / "events.jsonl").open("w", encoding="utf-8") as fh:
        while written < args.events:
            for ev in journey_events(rng, journeys):
                if written >= args.events:
                    break
                fh.write(json.dumps(ev, separators=(",", ":")) + "\n")
                written += 1
            journeys += 1
    print(f"wrote {written} events of {journeys} journeys to {args.out}")


if __name__ == "__main__":
    main()
