"""LLM-judge metrics against the loopback OpenAI-compatible server, through the real openai client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from contact_center.errors import EvaluationError
from contact_center.settings import LLMSettings
from evals.golden import parse_golden
from evals.judge import Judge, JudgeConfig, OpenAIChatClient, VerdictCache
from evals.metrics import summarize
from evals.runner import run_items
from tests.fakes.openai_server import FakeOpenAIServer, Fault, Reply

from .toy_system import GOLDEN_LINES, toy_system

pytestmark = pytest.mark.slow

FR_ITEM = [o for o in GOLDEN_LINES if o["id"] == "fr-cost"]


def _items(lines: list[dict[str, Any]]) -> list[Any]:
    return list(parse_golden("\n".join(json.dumps(o) for o in lines)).items)


def _llm(server: FakeOpenAIServer, **kw: Any) -> LLMSettings:
    return LLMSettings(base_url=server.base_url, model="judge-model", api_key=SecretStr("k"), **kw)


def _verdict(body: dict[str, Any]) -> str:
    """A judge that supports every claim and finds every fact, per the rubric it is sent."""
    system = body["messages"][0]["content"]
    if '"claims"' in system:
        return json.dumps(
            {"claims": [{"claim": "c1", "supported": True}, {"claim": "c2", "supported": True}]}
        )
    if '"facts"' in system:
        n = body["messages"][1]["content"].count("\n1. ") + body["messages"][1]["content"].count("\n2. ")
        return json.dumps({"facts": [{"fact": "f", "present": True}] * n})
    return json.dumps({"appropriate": True, "reason": "ok"})


def test_rubric_in_item_language_temperature_0_and_cache(tmp_path: Path) -> None:
    cache_path = tmp_path / "cache.jsonl"
    with FakeOpenAIServer(responder=_verdict) as server:
        judge = Judge(OpenAIChatClient(_llm(server)), JudgeConfig(repeats=2), VerdictCache(cache_path))
        [result] = run_items(toy_system(), _items(FR_ITEM), judge=judge)
        assert result.metrics["judge_faithfulness"] == 1.0 and result.metrics["judge_correctness"] == 1.0
        assert "judge_abstain" not in result.metrics  # answered, as expected: nothing to judge
        assert len(server.requests) == 4  # 2 metrics x 2 repeats
        first = server.requests[0]
        assert first["temperature"] == 0.0 and first["model"] == "judge-model"
        assert "Vous vérifiez" in first["messages"][0]["content"]
        assert result.judge["judge_faithfulness"] == {"scores": [1.0, 1.0], "spread": 0.0}
        # A second run reuses every verdict from the cache on disk: no request reaches the endpoint.
        again = Judge(OpenAIChatClient(_llm(server)), JudgeConfig(repeats=2), VerdictCache(cache_path))
        [result2] = run_items(toy_system(), _items(FR_ITEM), judge=again)
        assert len(server.requests) == 4 and again.cache_hits == 4
        assert result2.metrics == result.metrics


def test_dutch_rubric_and_abstain_metric() -> None:
    lines = [o for o in GOLDEN_LINES if o["id"] in ("nl-cost", "fr-weather")]
    with FakeOpenAIServer(responder=_verdict) as server:
        judge = Judge(OpenAIChatClient(_llm(server)), JudgeConfig(repeats=1))
        _, weather = run_items(toy_system(), _items(lines), judge=judge)
        systems = [r["messages"][0]["content"] for r in server.requests]
        assert any(s.startswith("U controleert") for s in systems)
        assert weather.metrics["judge_abstain"] == 1.0 and "Un assistant de la Ville" in systems[-1]
        assert (
            "La base de connaissances la couvre-t-elle : non" in server.requests[-1]["messages"][1]["content"]
        )


def test_repeats_that_straddle_the_threshold_mark_the_item_unstable() -> None:
    flips = iter([True, False, True] * 4)

    def flaky(body: dict[str, Any]) -> str:
        if '"claims"' in body["messages"][0]["content"]:
            return json.dumps({"claims": [{"claim": "c", "supported": next(flips)}]})
        return _verdict(body)

    with FakeOpenAIServer(responder=flaky) as server:
        judge = Judge(OpenAIChatClient(_llm(server)), JudgeConfig(repeats=3, threshold=0.5))
        [result] = run_items(toy_system(), _items(FR_ITEM), judge=judge)
    assert result.status == "ok" and not result.failures
    assert result.judge["unstable"] == ["judge_faithfulness"]
    assert result.judge["judge_faithfulness"]["spread"] == 1.0
    assert result.metrics["judge_faithfulness"] == pytest.approx(2 / 3)
    assert summarize([result])["unstable"] == 1


def test_endpoint_faults_leave_the_item_ok_and_are_recorded() -> None:
    script: list[Reply] = [
        Fault.status(429),
        _verdict({"messages": [{"content": '"claims"'}]}),
        Fault.status(500),
        Fault.timeout(3),
    ]
    with FakeOpenAIServer(replies=script) as server:
        client = OpenAIChatClient(_llm(server, max_retries=1, timeout_seconds=0.5))
        judge = Judge(client, JudgeConfig(repeats=1))
        [result] = run_items(toy_system(), _items(FR_ITEM), judge=judge)
    assert result.status == "ok"
    assert result.metrics["judge_faithfulness"] == 1.0  # the 429 was retried
    assert "judge_correctness" not in result.metrics  # 500 then the retry timed out: no score, no zero
    assert len(result.judge["errors"]) == 1 and "judge_correctness" in result.judge["errors"][0]
    assert result.metrics["fact_recall"] == 1.0


def test_unparseable_verdicts_are_errors_not_scores() -> None:
    with FakeOpenAIServer(replies=["I think it is fine."]) as server:
        judge = Judge(OpenAIChatClient(_llm(server)), JudgeConfig(repeats=1))
        [result] = run_items(toy_system(), _items(FR_ITEM), judge=judge)
    assert not any(k.startswith("judge_") for k in result.metrics)
    assert all("did not reply with JSON" in e for e in result.judge["errors"])
    with FakeOpenAIServer(replies=[Fault.garbage()]) as server:
        judge = Judge(OpenAIChatClient(_llm(server)), JudgeConfig(repeats=1))
        [result] = run_items(toy_system(), _items(FR_ITEM), judge=judge)
    assert result.status == "ok" and "did not return a chat completion" in result.judge["errors"][0]


def test_unconfigured_endpoint_is_a_clear_error() -> None:
    with pytest.raises(EvaluationError, match="CC_LLM__BASE_URL"):
        OpenAIChatClient(LLMSettings())
