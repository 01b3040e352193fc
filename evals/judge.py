"""Optional LLM-judge metrics, through any OpenAI-compatible chat endpoint (``Settings.llm``).

Three metrics, each with its rubric written in the item's language (French, Dutch or English; other
languages use the English rubric, noted on the item):

- ``judge_faithfulness``: the answer is split into claims and each is checked against the cited
  passages; the score is the share of supported claims.
- ``judge_correctness``: the share of the golden answer facts the answer states without contradiction.
- ``judge_abstain``: whether declining (or answering) was the right call, 1 or 0.

Judge scores drift from run to run, so: temperature 0; each verdict is cached on disk keyed by
(rubric, model, input, repeat) and a re-run reuses it; each metric is asked ``repeats`` times and the
spread is kept; an item whose repeats fall on both sides of ``threshold`` is marked *unstable* (for a
human to look at), not failed. A judge call that fails leaves the metric out for that item and is
recorded in ``result.judge["errors"]``; the item itself stays ``ok``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from contact_center.errors import EvaluationError
from contact_center.models import Answer
from contact_center.settings import LLMSettings
from evals.golden import GoldenItem
from evals.results import ItemResult

__all__ = [
    "JUDGE_METRICS",
    "RUBRICS",
    "ChatClient",
    "Judge",
    "JudgeConfig",
    "OpenAIChatClient",
    "VerdictCache",
]

JUDGE_METRICS: tuple[str, ...] = ("judge_faithfulness", "judge_correctness", "judge_abstain")
_RUBRIC_VERSION = "v1"

_FAITH = {
    "en": (
        "You check whether an answer given to a citizen is supported by the source passages. Split the "
        "answer into short atomic claims and, for each, say whether the passages support it. Reply with JSON "
        'only: {"claims": [{"claim": "...", "supported": true}]}.',
        "Passages:\n{passages}\n\nAnswer:\n{answer}",
    ),
    "fr": (
        "Vous vérifiez si une réponse donnée à un citoyen est étayée par les passages sources. Découpez la "
        "réponse en affirmations courtes et indiquez pour chacune si les passages la confirment. Répondez "
        'uniquement en JSON : {"claims": [{"claim": "...", "supported": true}]}.',
        "Passages :\n{passages}\n\nRéponse :\n{answer}",
    ),
    "nl": (
        "U controleert of een antwoord aan een burger gesteund wordt door de bronpassages. Splits het "
        "antwoord in korte, enkelvoudige beweringen en geef voor elke bewering aan of de passages ze "
        'ondersteunen. Antwoord enkel met JSON: {"claims": [{"claim": "...", "supported": true}]}.',
        "Passages:\n{passages}\n\nAntwoord:\n{answer}",
    ),
}
_CORRECT = {
    "en": (
        "You check whether an answer given to a citizen states each expected fact, without contradicting "
        'it. Reply with JSON only, one entry per fact, in order: {"facts": [{"fact": "...", "present": true}]}.',
        "Question:\n{question}\n\nExpected facts:\n{facts}\n\nAnswer:\n{answer}",
    ),
    "fr": (
        "Vous vérifiez si une réponse donnée à un citoyen énonce chacun des faits attendus, sans les "
        "contredire. Répondez uniquement en JSON, une entrée par fait, dans l'ordre : "
        '{"facts": [{"fact": "...", "present": true}]}.',
        "Question :\n{question}\n\nFaits attendus :\n{facts}\n\nRéponse :\n{answer}",
    ),
    "nl": (
        "U controleert of een antwoord aan een burger elk verwacht feit vermeldt, zonder het tegen te "
        "spreken. Antwoord enkel met JSON, één element per feit, in volgorde: "
        '{"facts": [{"fact": "...", "present": true}]}.',
        "Vraag:\n{question}\n\nVerwachte feiten:\n{facts}\n\nAntwoord:\n{answer}",
    ),
}
_ABSTAIN = {
    "en": (
        "A City of Brussels assistant may only answer from its knowledge base of City procedures; when the "
        "knowledge base does not cover a question it must decline and point elsewhere. Judge whether the "
        'assistant\'s choice was appropriate. Reply with JSON only: {"appropriate": true, "reason": "..."}.',
        "Question:\n{question}\n\nDoes the knowledge base cover it: {coverage}\n\n"
        "Assistant's decision: {decision}\nAssistant's reply:\n{answer}",
    ),
    "fr": (
        "Un assistant de la Ville de Bruxelles ne peut répondre qu'à partir de sa base de connaissances des "
        "démarches de la Ville ; si elle ne couvre pas la question, il doit s'abstenir et orienter ailleurs. "
        'Jugez si son choix était approprié. Répondez uniquement en JSON : {"appropriate": true, "reason": "..."}.',
        "Question :\n{question}\n\nLa base de connaissances la couvre-t-elle : {coverage}\n\n"
        "Décision de l'assistant : {decision}\nRéponse de l'assistant :\n{answer}",
    ),
    "nl": (
        "Een assistent van de Stad Brussel mag enkel antwoorden vanuit zijn kennisbank van stedelijke "
        "procedures; dekt die de vraag niet, dan moet hij zich onthouden en doorverwijzen. Beoordeel of zijn "
        'keuze gepast was. Antwoord enkel met JSON: {"appropriate": true, "reason": "..."}.',
        "Vraag:\n{question}\n\nDekt de kennisbank de vraag: {coverage}\n\n"
        "Beslissing van de assistent: {decision}\nAntwoord van de assistent:\n{answer}",
    ),
}
RUBRICS: dict[str, dict[str, tuple[str, str]]] = {
    "judge_faithfulness": _FAITH,
    "judge_correctness": _CORRECT,
    "judge_abstain": _ABSTAIN,
}
"""``RUBRICS[metric][language] = (system prompt, user template)``."""

_YES = {"en": "yes", "fr": "oui", "nl": "ja"}
_NO = {"en": "no", "fr": "non", "nl": "nee"}


class ChatClient(Protocol):
    """The one call a judge needs of a chat model."""

    model: str

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The assistant message's text for ``messages``, at temperature 0."""
        ...


class OpenAIChatClient:
    """A :class:`ChatClient` over the ``openai`` client, configured from ``Settings.llm``."""

    def __init__(self, llm: LLMSettings) -> None:
        if not llm.base_url or not llm.model:
            raise EvaluationError(
                "--judge needs an OpenAI-compatible endpoint: set CC_LLM__BASE_URL and CC_LLM__MODEL "
                "(and CC_LLM__API_KEY if the endpoint wants one)"
            )
        import openai

        self.model = llm.model
        key = llm.api_key.get_secret_value() if llm.api_key else "not-needed"
        if llm.azure_api_version:
            self._client: Any = openai.AzureOpenAI(
                azure_endpoint=llm.base_url,
                api_key=key,
                api_version=llm.azure_api_version,
                timeout=llm.timeout_seconds,
                max_retries=llm.max_retries,
            )
        else:
            self._client = openai.OpenAI(
                base_url=llm.base_url, api_key=key, timeout=llm.timeout_seconds, max_retries=llm.max_retries
            )

    def complete(self, messages: list[dict[str, str]]) -> str:
        """One chat completion at temperature 0."""
        response = self._client.chat.completions.create(model=self.model, messages=messages, temperature=0.0)
        choices = getattr(response, "choices", None)
        if not choices:
            # The client hands back a bare string when the body is not JSON (a proxy's error page, say).
            raise ValueError(
                "the endpoint did not return a chat completion; is base_url an OpenAI-compatible URL?"
            )
        content = choices[0].message.content
        if not content:
            raise ValueError("the judge model returned an empty message")
        return str(content)


class VerdictCache:
    """Judge verdicts on disk, one JSON line each, keyed by a hash of (rubric, model, input, repeat)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, dict[str, Any]] = {}
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self._data[entry["key"]] = entry["verdict"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a torn last line after a crash: that verdict is simply asked again

    @staticmethod
    def key(rubric: str, model: str, payload: str, repeat: int) -> str:
        """The cache key of one judge call."""
        raw = json.dumps([rubric, model, payload, repeat], ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        """A cached verdict, or ``None``."""
        return self._data.get(key)

    def put(self, key: str, verdict: dict[str, Any]) -> None:
        """Store a verdict (appended to the file at once, so a crash loses nothing already judged)."""
        self._data[key] = verdict
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": key, "verdict": verdict}, ensure_ascii=False) + "\n")

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class JudgeConfig:
    """How the judge is asked."""

    repeats: int = 3
    """Times each metric is asked per item; the spread is reported."""
    threshold: float = 0.5
    """A metric whose repeats fall on both sides of this marks the item unstable."""


def _parse_json(text: str) -> dict[str, Any]:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError(f"the judge did not reply with JSON: {text[:120]!r}")
    data = json.loads(text[start : end + 1])
    if not isinstance(data, dict):
        raise ValueError("the judge's JSON is not an object")
    return data


def _score(metric: str, verdict: dict[str, Any], n_facts: int) -> float | None:
    if metric == "judge_faithfulness":
        claims = verdict.get("claims")
        if not isinstance(claims, list):
            raise ValueError("faithfulness verdict without a 'claims' list")
        if not claims:
            return None
        return sum(1 for c in claims if isinstance(c, dict) and c.get("supported") is True) / len(claims)
    if metric == "judge_correctness":
        facts = verdict.get("facts")
        if not isinstance(facts, list) or len(facts) != n_facts:
            raise ValueError(f"correctness verdict must list the {n_facts} expected facts")
        return sum(1 for f in facts if isinstance(f, dict) and f.get("present") is True) / n_facts
    appropriate = verdict.get("appropriate")
    if not isinstance(appropriate, bool):
        raise ValueError("abstain verdict without a true/false 'appropriate'")
    return 1.0 if appropriate else 0.0


class Judge:
    """Adds judge metrics to scored items; pass it as ``judge=`` to :func:`evals.runner.run_items`."""

    def __init__(
        self, client: ChatClient, config: JudgeConfig | None = None, cache: VerdictCache | None = None
    ) -> None:
        self.client = client
        self.config = config or JudgeConfig()
        self.cache = cache if cache is not None else VerdictCache(None)
        self.calls = 0
        self.cache_hits = 0

    def _applicable(self, item: GoldenItem, answer: Answer) -> list[str]:
        out: list[str] = []
        if answer.decision == "answer" and answer.text.strip():
            out.append("judge_faithfulness")
        if item.answer_facts and item.expected_decision == "answer":
            out.append("judge_correctness")
        if item.expected_decision == "abstain" or answer.decision == "abstain":
            out.append("judge_abstain")
        return out

    def _messages(self, metric: str, lang: str, item: GoldenItem, answer: Answer) -> list[dict[str, str]]:
        system, template = RUBRICS[metric][lang]
        cited = {c.doc_id for c in answer.citations}
        passages = "\n\n".join(
            f"[{h.doc_id} – {h.section}]\n{h.text}" for h in answer.hits if not cited or h.doc_id in cited
        )
        user = template.format(
            question=" ".join([*item.turns, item.question]),
            answer=answer.text,
            passages=passages or "-",
            facts="\n".join(f"{i}. {f}" for i, f in enumerate(item.answer_facts, start=1)),
            coverage=_NO[lang] if item.expected_decision == "abstain" else _YES[lang],
            decision=answer.decision,
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def __call__(self, item: GoldenItem, answer: Answer, result: ItemResult) -> None:
        """Judge one item: ``result.metrics[judge_*]`` (mean of repeats) and ``result.judge`` details."""
        lang = item.language if item.language in _FAITH else "en"
        details: dict[str, Any] = {"rubric_language": lang, "errors": [], "unstable": []}
        if lang != item.language:
            details["note"] = f"no rubric in '{item.language}': the English rubric was used"
        for metric in self._applicable(item, answer):
            messages = self._messages(metric, lang, item, answer)
            rubric = f"{metric}/{lang}/{_RUBRIC_VERSION}"
            payload = json.dumps(messages, ensure_ascii=False)
            scores: list[float] = []
            for repeat in range(self.config.repeats):
                key = VerdictCache.key(rubric, self.client.model, payload, repeat)
                verdict = self.cache.get(key)
                try:
                    if verdict is None:
                        self.calls += 1
                        verdict = _parse_json(self.client.complete(messages))
                        _score(metric, verdict, len(item.answer_facts))  # validate before caching
                        self.cache.put(key, verdict)
                    else:
                        self.cache_hits += 1
                    score = _score(metric, verdict, len(item.answer_facts))
                except Exception as exc:  # the endpoint or its reply: recorded, the item stays ok
                    details["errors"].append(f"{metric} repeat {repeat + 1}: {type(exc).__name__}: {exc}")
                    continue
                if score is not None:
                    scores.append(score)
            if not scores:
                continue
            result.metrics[metric] = sum(scores) / len(scores)
            spread = max(scores) - min(scores)
            details[metric] = {"scores": scores, "spread": spread}
            if min(scores) < self.config.threshold <= max(scores):
                details["unstable"].append(metric)
        result.judge = details
