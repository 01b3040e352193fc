"""The OpenAI-compatible generator: OpenAI, Azure OpenAI, vLLM, Ollama... through langchain-openai.

It plugs into the :class:`~knowledge_base.generation.Generator` port. The prompt
(``prompts/answer.yaml``) puts the chosen passages and the question between tags, as data. Every answer
the model writes goes through the grounding check (:mod:`knowledge_base.grounding`); an answer that
states a fact no passage states, or that the endpoint could not deliver (timeout, 429/5xx after the
bounded retries, a garbage or empty reply), is replaced by the extractive answer, and the answer's
``generator`` says so: ``"extractive-fallback"``.

``langchain_openai`` is imported when the first request is made, so importing this module stays cheap.

Example::

    gen = OpenAIGenerator(LLMSettings(base_url="http://127.0.0.1:8000/v1", model="mistral"))
    gen.generate("Combien coûte une carte d'identité ?", "fr", passages).text
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncGenerator
from functools import cache
from pathlib import Path
from typing import Any

from contact_center.errors import ConfigurationError, GeneratorError
from contact_center.models import Hit
from contact_center.settings import LLMSettings
from knowledge_base.generation import ExtractiveGenerator, Generated, Generator, cite, passage_body
from knowledge_base.grounding import check_grounding

__all__ = ["FALLBACK", "OpenAIGenerator", "make_generator"]

log = logging.getLogger(__name__)

FALLBACK = "extractive-fallback"
"""``Answer.generator`` when the LLM failed or its answer was not grounded and the passages were shown."""

_PROMPT_FILE = Path(__file__).with_name("prompts") / "answer.yaml"
_LANGUAGE_NAMES = {
    "fr": "French",
    "nl": "Dutch",
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "ar": "Arabic",
    "tr": "Turkish",
    "pl": "Polish",
    "ro": "Romanian",
}
# Anything in a question or passage that could pass for one of the prompt's own tags.
_TAG_RE = re.compile(r"</?\s*(passages?|question)\b[^>]*>", re.IGNORECASE)
_MARK_RE = re.compile(r"\[(\d{1,2})\]")


def _neutralise(text: str) -> str:
    return _TAG_RE.sub(lambda m: m.group(0).replace("<", "‹").replace(">", "›"), text)


@cache
def _prompt() -> Any:
    import yaml
    from langchain_core.prompts import ChatPromptTemplate

    spec = yaml.safe_load(_PROMPT_FILE.read_text(encoding="utf-8"))
    return ChatPromptTemplate.from_messages([("system", spec["system"]), ("human", spec["human"])])


def render_passages(passages: list[Hit]) -> str:
    """The passages as numbered, tagged data blocks for the prompt."""
    blocks = []
    for n, hit in enumerate(passages, 1):
        head = _neutralise(f"{hit.title} — {hit.section}" if hit.section else hit.title)
        blocks.append(f'<passage id="{n}" source="{head}">\n{_neutralise(passage_body(hit))}\n</passage>')
    return "\n".join(blocks)


class OpenAIGenerator:
    """Answers with an OpenAI-compatible chat model, grounded in the passages, falling back to extractive.

    Args:
        settings: endpoint, model, key, timeout and retries (``CC_LLM__*``).
        fallback: what answers when the model cannot (default: the extractive generator).
        max_words: the length asked of the model.
    """

    name = "openai"

    def __init__(
        self, settings: LLMSettings, *, fallback: Generator | None = None, max_words: int = 180
    ) -> None:
        if not settings.base_url or not settings.model:
            raise ConfigurationError(
                "the LLM generator needs CC_LLM__BASE_URL and CC_LLM__MODEL (unset both for extractive answers)"
            )
        self.settings = settings
        self.fallback = fallback or ExtractiveGenerator()
        self.max_words = max_words
        self.name = f"openai:{settings.model}"
        self._model: Any = None
        self._lock = threading.Lock()

    # -- the chat model --------------------------------------------------------------------------

    def chat_model(self) -> Any:
        """The LangChain chat model (built on first use)."""
        with self._lock:
            if self._model is None:
                self._model = self._build()
            return self._model

    def _build(self) -> Any:
        s = self.settings
        key = s.api_key.get_secret_value() if s.api_key else "not-needed"
        common: dict[str, Any] = {
            "temperature": s.temperature,
            "timeout": s.timeout_seconds,
            "max_retries": s.max_retries,
        }
        if s.azure_api_version:
            from langchain_openai import AzureChatOpenAI

            return AzureChatOpenAI(
                azure_endpoint=s.base_url,
                azure_deployment=s.model,
                api_version=s.azure_api_version,
                api_key=key,
                **common,
            )
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=s.model, base_url=s.base_url, api_key=key, **common)

    def messages(self, question: str, language: str, passages: list[Hit]) -> list[Any]:
        """The chat messages sent for a question (system rules, then passages and question as data)."""
        return list(
            _prompt().format_messages(
                language_name=_LANGUAGE_NAMES.get(language, language),
                max_words=str(self.max_words),
                passages=render_passages(passages),
                question=_neutralise(question),
            )
        )

    # -- the Generator port ----------------------------------------------------------------------

    def generate(self, question: str, language: str, passages: list[Hit]) -> Generated:
        """Answer with the model; on any failure or an ungrounded answer, the extractive answer."""
        if not passages:
            return Generated(text="", citations=[], generator=self.name)
        try:
            reply = self.chat_model().invoke(self.messages(question, language, passages))
            text = _content(reply)
        except Exception as exc:  # any endpoint failure means: show the passages instead
            return self._fallback(question, language, passages, f"{type(exc).__name__}: {exc}")
        return self._finish(text, question, language, passages)

    async def agenerate(self, question: str, language: str, passages: list[Hit]) -> Generated:
        """The async :meth:`generate`."""
        final: Generated | None = None
        async for part in self.astream(question, language, passages):
            if isinstance(part, Generated):
                final = part
        assert final is not None
        return final

    async def astream(
        self, question: str, language: str, passages: list[Hit]
    ) -> AsyncGenerator[str | Generated, None]:
        """Yield the answer's text as the model writes it, then the final :class:`Generated`.

        The streamed text is provisional: when the stream breaks or the finished answer fails the
        grounding check, the final ``Generated`` carries the extractive answer instead
        (``generator == "extractive-fallback"``) and a client must show that text in place of the parts.
        """
        if not passages:
            yield Generated(text="", citations=[], generator=self.name)
            return
        pieces: list[str] = []
        try:
            async for chunk in self.chat_model().astream(self.messages(question, language, passages)):
                piece = _content(chunk, allow_empty=True)
                if piece:
                    pieces.append(piece)
                    yield piece
            text = "".join(pieces).strip()
            if not text:
                raise GeneratorError("the model returned an empty answer")
        except Exception as exc:  # any endpoint failure means: show the passages instead
            yield self._fallback(question, language, passages, f"{type(exc).__name__}: {exc}")
            return
        yield self._finish(text, question, language, passages)

    # -- grounding and fallback ------------------------------------------------------------------

    def _finish(self, text: str, question: str, language: str, passages: list[Hit]) -> Generated:
        marks = [int(m) for m in _MARK_RE.findall(text)]
        if any(not 1 <= m <= len(passages) for m in marks):
            return self._fallback(question, language, passages, "cites a passage it was not given")
        cited = [passages[m - 1] for m in dict.fromkeys(marks)] or passages
        report = check_grounding(text, [p.text for p in cited])
        if not report.ok:
            return self._fallback(
                question, language, passages, f"{len(report.unsupported)} fact(s) not in a cited passage"
            )
        return Generated(text=text, citations=cite(cited), generator=self.name)

    def _fallback(self, question: str, language: str, passages: list[Hit], reason: str) -> Generated:
        # the reason never contains the question or the passages: only what failed
        log.warning("LLM answer replaced by the extractive one: %s", reason[:300])
        generated = self.fallback.generate(question, language, passages)
        return Generated(text=generated.text, citations=generated.citations, generator=FALLBACK)


def _content(message: Any, *, allow_empty: bool = False) -> str:
    content = getattr(message, "content", None)
    if isinstance(content, list):
        content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    if not isinstance(content, str):
        raise GeneratorError(f"the model returned no text (got {type(content).__name__})")
    if not allow_empty and not content.strip():
        raise GeneratorError("the model returned an empty answer")
    return content


def make_generator(settings: LLMSettings) -> Generator:
    """The OpenAI-compatible generator when an endpoint is configured, else the extractive one."""
    if settings.base_url and settings.model:
        return OpenAIGenerator(settings)
    if settings.base_url or settings.model:
        missing = "CC_LLM__MODEL" if settings.base_url else "CC_LLM__BASE_URL"
        raise ConfigurationError(
            f"the LLM endpoint is half configured: set {missing} too, or unset both for extractive answers"
        )
    return ExtractiveGenerator()
