"""Retrieval quality and abstain calibration on the sample knowledge base's golden set.

    python benchmarks/bench_retrieval.py [--golden evals/golden/sample.jsonl] [--data-dir DIR]

Ingests the bundled sample knowledge base (or reuses --data-dir), then for dense, lexical and hybrid
retrieval reports hit@1, hit@5 and MRR@10 at document level (a document counts once, at its best chunk),
overall, per question language and per kind. It then sweeps the scope guard's margin (how much closer to
an out-of-scope topic than to a procedure a question must be to be abstained) and reports, for each, the
share of in-scope questions answered and of out-of-scope questions abstained, the rules (other communes,
injection attempts) and the similarity floor applied; last, the shipped assistant's own decisions.
Results go to stdout as Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contact_center import ContactCenter, Settings, sample_knowledge_base  # noqa: E402


def load_golden(path: Path) -> list[dict[str, Any]]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{n}: not JSON: {exc}") from exc
    return [i for i in items if i.get("kind") != "follow_up"]


def doc_ranking(cc: ContactCenter, question: str, mode: str, depth: int = 10) -> list[str]:
    ranking: list[str] = []
    for hit in cc.search(question, depth * 4, mode=mode):  # type: ignore[arg-type]
        if hit.doc_id not in ranking:
            ranking.append(hit.doc_id)
    return ranking[:depth]


def retrieval_metrics(items: list[dict[str, Any]], rankings: list[list[str]]) -> dict[str, float]:
    hit1 = hit5 = rr = 0.0
    for item, ranking in zip(items, rankings, strict=True):
        gold = set(item["gold_doc_ids"])
        ranks = [r for r, d in enumerate(ranking, 1) if d in gold]
        first = ranks[0] if ranks else None
        hit1 += first == 1
        hit5 += first is not None and first <= 5
        rr += 1.0 / first if first is not None and first <= 10 else 0.0
    n = max(len(items), 1)
    return {"n": len(items), "hit@1": hit1 / n, "hit@5": hit5 / n, "MRR@10": rr / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--golden", type=Path, default=ROOT / "evals" / "golden" / "sample.jsonl")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    items = load_golden(args.golden)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    cc = ContactCenter(Settings(data_dir=data_dir))
    report = cc.ingest([sample_knowledge_base()])
    if report.failed:
        raise SystemExit(f"ingestion failed: {report.failed}")
    in_scope = [i for i in items if i["gold_doc_ids"]]
    out_scope = [i for i in items if not i["gold_doc_ids"]]
    print(
        f"# Retrieval on the sample golden set ({len(in_scope)} in-scope, {len(out_scope)} out-of-scope questions, "
        f"{cc.stats()['documents']} documents, {cc.stats()['chunks']} chunks, {os.cpu_count()} cores)\n"
    )
    print("| mode | slice | n | hit@1 | hit@5 | MRR@10 |\n|---|---|---|---|---|---|")
    for mode in ("dense", "lexical", "hybrid"):
        rankings = [doc_ranking(cc, i["question"], mode) for i in in_scope]
        slices: dict[str, list[int]] = defaultdict(list)
        for idx, item in enumerate(in_scope):
            slices["all"].append(idx)
            slices[f"lang={item['language']}"].append(idx)
            slices[f"kind={item['kind']}"].append(idx)
        for name in sorted(slices, key=lambda s: (s != "all", s)):
            idxs = slices[name]
            m = retrieval_metrics([in_scope[i] for i in idxs], [rankings[i] for i in idxs])
            print(f"| {mode} | {name} | {m['n']} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['MRR@10']:.3f} |")
        if mode == "dense":
            misses = [
                (i["id"], i["question"], r[:3])
                for i, r in zip(in_scope, rankings, strict=True)
                if not set(i["gold_doc_ids"]) & set(r[:5])
            ]
            for miss in misses:
                print(f"<!-- dense miss@5: {miss} -->")

    # Abstain calibration: the scope guard's inputs per question, then a sweep of its margin.
    guard = cc.assistant.scope
    rows = []
    for item in items:
        top = cc.kb.search(item["question"], 1)[0].score
        off_topic = guard.nearest_off_topic(item["question"])[1]
        ruled_out = not guard.rules(item["question"]).in_scope
        inside = guard.in_scope_similarity(item["question"], top)
        rows.append((bool(item["gold_doc_ids"]), top, off_topic, ruled_out, inside))
    print("\n| out-of-scope margin | in-scope answered | out-of-scope abstained |\n|---|---|---|")
    for step in range(-3, 5):
        margin = step / 100

        def abstains(row: tuple[bool, float, float, bool, float], margin: float = margin) -> bool:
            return row[3] or row[1] < guard.floor or row[2] >= row[4] + margin

        ra = sum(1 for r in rows if r[0] and not abstains(r)) / max(len(in_scope), 1)
        rb = sum(1 for r in rows if not r[0] and abstains(r)) / max(len(out_scope), 1)
        print(f"| {margin:+.2f} | {ra:.3f} | {rb:.3f} |")
    answers = [(item, cc.ask(item["question"])) for item in items]
    answered = sum(1 for item, a in answers if item["gold_doc_ids"] and a.decision == "answer")
    abstained = sum(1 for item, a in answers if not item["gold_doc_ids"] and a.decision == "abstain")
    print(
        f"\nshipped (floor {guard.floor:.2f}, margin {guard.margin:+.2f}): in-scope answered "
        f"{answered}/{len(in_scope)} ({answered / max(len(in_scope), 1):.3f}), out-of-scope abstained "
        f"{abstained}/{len(out_scope)} ({abstained / max(len(out_scope), 1):.3f})"
    )
    for item, a in answers:
        wrong = (a.decision == "answer") != bool(item["gold_doc_ids"])
        if wrong:
            print(
                f"<!-- wrong decision {a.decision} conf={a.confidence:.3f}: {item['id']} {item['question']} -->"
            )


if __name__ == "__main__":
    main()
