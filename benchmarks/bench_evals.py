"""Benchmark of the evaluation suite: 250 questions through the real ContactCenter, and the suite's overhead.

Usage::

    python benchmarks/bench_evals.py [--data-dir DIR] [--items 250]

The sample knowledge base is ingested into ``--data-dir`` first (unchanged documents are skipped on a
second run, so reuse the directory to leave ingestion out). The golden set's questions are cycled up to
``--items``; from the second cycle on, each question gets a distinct prefix so that no cache in the system
under test answers it for free. Printed: wall time of the whole evaluation (run directory included), the
time spent inside ``search``/``ask`` (and a follow-up's earlier turns) and the rest, which is the suite's own overhead. A second run with a
system that answers instantly measures that overhead alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from contact_center.models import Answer, Citation, Hit
from evals.golden import GoldenItem, GoldenSet, load_golden
from evals.suite import evaluate

_PREFIXES = ("", "Bonjour, ", "Question : ", "Hallo, ", "Hello, ", "Please: ", "SVP, ")


def _cycled(golden: GoldenSet, n: int) -> GoldenSet:
    items: list[GoldenItem] = []
    i = 0
    while len(items) < n:
        base = golden.items[i % len(golden.items)]
        cycle = i // len(golden.items)
        prefix = _PREFIXES[cycle % len(_PREFIXES)] + ("" if cycle < len(_PREFIXES) else f"({cycle}) ")
        items.append(replace(base, id=f"{base.id}#{cycle}", question=prefix + base.question))
        i += 1
    return GoldenSet(path=golden.path, sha256=golden.sha256, items=tuple(items))


class _Instant:
    """Answers at once with a fixed passage: what remains of the run time is the suite's."""

    def __init__(self) -> None:
        self._hits = [
            Hit(
                doc_id=f"doc-{i}",
                title="t",
                section="s",
                language="fr",
                score=1.0 - i / 50,
                text="Coût : 25 € " * 20,
            )
            for i in range(30)
        ]

    def search(
        self, question: str, k: int = 5, *, language: str | None = None, topic: str | None = None
    ) -> list[Hit]:
        return self._hits[:k]

    def ask(self, question: str) -> Answer:
        return Answer(
            decision="answer",
            text="La carte coûte 25 € et se demande au guichet [1].",
            language="fr",
            citations=[Citation(doc_id="doc-0", title="t")],
            hits=self._hits[:5],
        )


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--items", type=int, default=250)
    args = parser.parse_args()

    golden = _cycled(load_golden(), args.items)
    out = Path(tempfile.mkdtemp(prefix="bench-evals-"))

    t0 = time.perf_counter()
    outcome = evaluate(_Instant(), golden, out / "instant")
    instant = time.perf_counter() - t0
    print(
        f"suite alone (instant system): {args.items} items in {instant:.2f} s ({instant / args.items * 1000:.1f} ms/item)"
    )

    from contact_center import ContactCenter, Settings, sample_knowledge_base

    data_dir = args.data_dir or out / "data"
    cc = ContactCenter(Settings(data_dir=data_dir))
    t0 = time.perf_counter()
    cc.ingest([sample_knowledge_base()])
    print(f"ingestion: {time.perf_counter() - t0:.1f} s (not counted below)")
    cc.ask("warm-up: combien coûte une carte d'identité ?")

    t0 = time.perf_counter()
    outcome = evaluate(cc, golden, out / "real")
    total = time.perf_counter() - t0
    inside = (
        sum((r.search_ms or 0.0) + (r.latency_ms or 0.0) + (r.turns_ms or 0.0) for r in outcome.results)
        / 1000.0
    )
    overhead = total - inside
    print(
        f"real system: {args.items} items in {total:.1f} s; inside search+ask {inside:.1f} s; "
        f"suite overhead {overhead:.2f} s ({overhead / total:.1%}); errors {outcome.summary['errors']}"
    )
    searching = sum(r.search_ms or 0.0 for r in outcome.results) / 1000.0
    print(
        f"of which the runner's own search call (ranking to depth 10) {searching:.1f} s; counting it as overhead: "
        f"{(overhead + searching) / total:.1%}"
    )
    print(f"run directory: {out / 'real'}")


if __name__ == "__main__":
    main()
