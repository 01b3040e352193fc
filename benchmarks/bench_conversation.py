"""Conversations on the sample golden set: decisions, follow-up resolution, overhead, streaming latency.

    python benchmarks/bench_conversation.py [--golden evals/golden/sample.jsonl] [--data-dir DIR] [--skip-ttft]

Ingests the bundled sample knowledge base (or reuses --data-dir), then plays every golden item as a fresh
conversation (its ``turns`` first, then its question) with the extractive generator, and reports:

- decision accuracy (answer / clarify / abstain / handoff) overall and per expected decision;
- follow-up resolution: the share of ``follow_up`` items expecting an answer whose answer cites one of
  their gold documents;
- the conversation layer's overhead per turn (storage, rewrite, redaction, decision rules): the turn's
  wall time minus the time spent in retrieval and in generation, p50/p95 in ms;
- time to first streamed token through the OpenAI adapter and through the raw ``openai`` client against
  the same loopback server (tests/fakes/openai_server.py), p50/p95 in ms.

Results go to stdout as Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contact_center import ContactCenter, Settings, sample_knowledge_base  # noqa: E402
from contact_center.models import Hit  # noqa: E402


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def expected(item: dict[str, Any]) -> str:
    return str(item.get("expected_decision") or ("answer" if item["gold_doc_ids"] else "abstain"))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


class Timed:
    """Accumulates the time spent in retrieval and generation during a turn."""

    def __init__(self, cc: ContactCenter) -> None:
        self.spent = 0.0
        assistant = cc.assistant
        retrieve, generate = assistant.retrieve, assistant.generator.generate

        def timed_retrieve(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return retrieve(*a, **k)
            finally:
                self.spent += time.perf_counter() - t

        def timed_generate(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return generate(*a, **k)
            finally:
                self.spent += time.perf_counter() - t

        assistant.retrieve = timed_retrieve  # type: ignore[method-assign]
        assistant.generator.generate = timed_generate  # type: ignore[method-assign]


def play(
    cc: ContactCenter, items: list[dict[str, Any]], timed: Timed
) -> tuple[list[tuple[dict[str, Any], Any]], list[float]]:
    results = []
    overheads: list[float] = []
    for item in items:
        conv = cc.conversation(channel="bench")
        answer = None
        for message in [*item.get("turns", []), item["question"]]:
            timed.spent = 0.0
            t = time.perf_counter()
            answer = conv.ask(message)
            overheads.append((time.perf_counter() - t - timed.spent) * 1000)
        results.append((item, answer))
    return results, overheads


async def ttft(base_url: str, n: int) -> tuple[list[float], list[float]]:
    import openai

    from contact_center.settings import LLMSettings
    from knowledge_base.llm import OpenAIGenerator

    passages = [
        Hit(
            doc_id="d",
            title="T",
            section="S",
            language="fr",
            score=1.0,
            text="T — S\n\nLe coût est de 25 EUR.",
        )
    ]
    gen = OpenAIGenerator(LLMSettings(base_url=base_url, model="fake", max_retries=0))
    raw = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
    messages = [
        {"role": m.type if m.type != "human" else "user", "content": m.content}
        for m in gen.messages("Combien ?", "fr", passages)
    ]
    adapter_ms: list[float] = []
    raw_ms: list[float] = []
    for i in range(n + 3):  # 3 warm-up rounds each
        t = time.perf_counter()
        stream: Any = await raw.chat.completions.create(model="fake", messages=messages, stream=True)  # type: ignore[arg-type]
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if i >= 3:
                    raw_ms.append((time.perf_counter() - t) * 1000)
                break
        await stream.close()
        t = time.perf_counter()
        agen = gen.astream("Combien ?", "fr", passages)
        async for part in agen:
            if isinstance(part, str):
                if i >= 3:
                    adapter_ms.append((time.perf_counter() - t) * 1000)
                break
        await agen.aclose()
    return adapter_ms, raw_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--golden", type=Path, default=ROOT / "evals" / "golden" / "sample.jsonl")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--skip-ttft", action="store_true")
    parser.add_argument("--ttft-rounds", type=int, default=50)
    parser.add_argument("--verbose", action="store_true", help="List every wrong decision or resolution.")
    args = parser.parse_args()
    items = load(args.golden)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-conversation-"))
    cc = ContactCenter(Settings(data_dir=data_dir))
    if not cc.stats()["documents"]:
        report = cc.ingest([sample_knowledge_base()])
        if report.failed:
            raise SystemExit(f"ingestion failed: {report.failed}")
    timed = Timed(cc)
    cc.conversation(channel="warm-up").ask("Combien coûte une carte d'identité ?")
    results, overheads = play(cc, items, timed)
    turns = sum(1 + len(i.get("turns", [])) for i in items)
    print(
        f"# Conversations on the sample golden set ({len(items)} items, {turns} turns, {os.cpu_count()} cores)\n"
    )
    by_expected: dict[str, list[bool]] = defaultdict(list)
    confusion: Counter[tuple[str, str]] = Counter()
    for item, answer in results:
        exp = expected(item)
        by_expected[exp].append(answer.decision == exp)
        confusion[(exp, answer.decision)] += 1
        if args.verbose and answer.decision != exp:
            print(
                f"<!-- wrong decision {answer.decision} (expected {exp}): {item['id']} {item.get('turns', [])} {item['question']} -->"
            )
    correct = sum(sum(v) for v in by_expected.values())
    print("| expected decision | n | accuracy |\n|---|---|---|")
    for exp in ("answer", "clarify", "abstain", "handoff"):
        v = by_expected.get(exp, [])
        print(f"| {exp} | {len(v)} | {sum(v) / max(len(v), 1):.3f} |")
    print(f"| **all** | {len(results)} | **{correct / max(len(results), 1):.3f}** |\n")
    print(
        "confusion (expected -> got): "
        + ", ".join(f"{e}->{g}: {n}" for (e, g), n in sorted(confusion.items()))
        + "\n"
    )
    follow = [(i, a) for i, a in results if i.get("kind") == "follow_up" and expected(i) == "answer"]
    resolved = 0
    for item, answer in follow:
        ok = answer.decision == "answer" and bool(
            {c.doc_id for c in answer.citations} & set(item["gold_doc_ids"])
        )
        resolved += ok
        if args.verbose and not ok:
            print(
                f"<!-- unresolved follow-up ({answer.decision}, {[c.doc_id for c in answer.citations][:2]}): {item['id']} {item['turns']} {item['question']} -->"
            )
    print(
        f"follow-up questions resolved to a gold procedure: {resolved}/{len(follow)} ({resolved / max(len(follow), 1):.3f})\n"
    )
    single = [(i, a) for i, a in results if i["gold_doc_ids"] and i.get("kind") != "follow_up"]
    cited = sum(
        1
        for i, a in single
        if a.decision == "answer" and {c.doc_id for c in a.citations} & set(i["gold_doc_ids"])
    )
    print(
        f"one-turn in-scope questions answered from a gold document: {cited}/{len(single)} ({cited / max(len(single), 1):.3f})\n"
    )
    print(
        f"conversation-layer overhead per turn (turn time minus retrieval and generation, {len(overheads)} turns): "
        f"p50 {statistics.median(overheads):.1f} ms, p95 {pct(overheads, 0.95):.1f} ms, max {max(overheads):.1f} ms\n"
    )
    if not args.skip_ttft:
        sys.path.insert(0, str(ROOT))
        from tests.fakes.openai_server import FakeOpenAIServer

        reply = "La déclaration coûte 25 EUR [1]. " * 8
        with FakeOpenAIServer([reply]) as server:
            adapter, raw = asyncio.run(ttft(server.base_url, args.ttft_rounds))
        print("| time to first streamed token (loopback) | n | p50 ms | p95 ms |\n|---|---|---|---|")
        print(f"| raw openai client | {len(raw)} | {statistics.median(raw):.2f} | {pct(raw, 0.95):.2f} |")
        print(
            f"| OpenAIGenerator.astream | {len(adapter)} | {statistics.median(adapter):.2f} | {pct(adapter, 0.95):.2f} |"
        )
        print(
            f"\nadapter minus raw: p50 {statistics.median(adapter) - statistics.median(raw):+.2f} ms, "
            f"p95 {pct(adapter, 0.95) - pct(raw, 0.95):+.2f} ms"
        )
    cc.close()


if __name__ == "__main__":
    main()
