"""The :class:`ContactCenter` facade: the one object portal developers and the CLI use."""

from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from contact_center.assistant import Assistant, clean_question
from contact_center.errors import DataDirError
from contact_center.models import Answer, Hit, IngestReport, ProcedureCard, RetrievalMode
from contact_center.settings import Settings
from knowledge_base.embeddings import Embedder, make_embedder
from knowledge_base.generation import Generator
from knowledge_base.index import KnowledgeBase, ProgressCallback
from knowledge_base.language import LanguageDetector
from knowledge_base.llm import make_generator
from knowledge_base.vector_index import VectorIndex

if TYPE_CHECKING:
    from contact_center.conversation import Conversation
    from contact_center.storage import Store

__all__ = ["ContactCenter"]


def _check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataDirError(path, exc.strerror or str(exc)) from exc


class _QueryCache:
    """An embedder that remembers its last query vectors.

    One question is embedded by the retrieval and again by the scope guard; at about 90 ms a query on two
    cores, embedding it once halves the assistant's latency without changing any result.
    """

    def __init__(self, embedder: Embedder, size: int = 64) -> None:
        self._embedder = embedder
        self._size = size
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._embedder.name

    @property
    def dim(self) -> int:
        return self._embedder.dim

    def embed_passages(self, texts: list[str]) -> Any:
        return self._embedder.embed_passages(texts)

    def embed_query(self, text: str) -> Any:
        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text].copy()
        vector = self._embedder.embed_query(text)
        with self._lock:
            self._cache[text] = vector
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return vector.copy()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)


class ContactCenter:
    """Grounded, cited answers over City procedures.

    Example::

        from contact_center import ContactCenter, Settings
        cc = ContactCenter(Settings(data_dir="/tmp/cc"))
        cc.ingest([sample_knowledge_base()])
        cc.ask("How do I declare my marriage?").decision   # 'answer'

    Args:
        settings: configuration; default: read ``CC_*`` from the environment and ``.env``.
        embedder: an explicit embedder (default: the one ``settings.embedder`` names).
        generator: an explicit generator (default: the OpenAI-compatible one when ``CC_LLM__BASE_URL`` and
            ``CC_LLM__MODEL`` are set, else the offline extractive one).
        vector_index: an explicit vector index (default: Chroma on disk, or the server at ``chroma_url``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        vector_index: VectorIndex | None = None,
    ) -> None:
        self.settings = settings or Settings()
        data_dir = Path(os.path.expanduser(self.settings.data_dir))
        _check_writable(data_dir)
        self.data_dir = data_dir
        self._store: Store | None = None
        self.embedder: Embedder = _QueryCache(
            embedder or make_embedder(self.settings.embedder, threads=self.settings.embedder_threads)
        )
        self.detector = LanguageDetector(self.settings.languages)
        self.kb = KnowledgeBase(
            data_dir / "kb",
            self.embedder,
            chroma_url=self.settings.chroma_url,
            vector_index=vector_index,
            detect_language=self.detector.detect,
        )
        self.assistant = Assistant(
            self.kb,
            generator or make_generator(self.settings.llm),
            self.detector,
            abstain_threshold=self.settings.abstain_threshold,
            out_of_scope_margin=self.settings.out_of_scope_margin,
            mode=self.settings.retrieval_mode,
            max_question_chars=self.settings.max_question_chars,
        )

    def ingest(
        self, paths: Sequence[Path | str], *, prune: bool = False, progress: ProgressCallback | None = None
    ) -> IngestReport:
        """Ingest files or folders of procedure pages (.md with front matter, .html, .pdf).

        Unchanged documents are skipped, changed ones replaced; ``prune`` removes documents gone from
        the given folders. Unreadable documents are listed in ``report.failed``.
        """
        return self.kb.ingest(paths, prune=prune, progress=progress)

    def search(
        self,
        question: str,
        k: int = 5,
        *,
        language: str | None = None,
        topic: str | None = None,
        mode: RetrievalMode | None = None,
    ) -> list[Hit]:
        """The ``k`` best passages for a question, across all languages unless ``language`` is given.

        >>> hits = cc.search("Combien coûte une carte d'identité ?", k=5)  # doctest: +SKIP
        """
        text = clean_question(question, max_chars=self.settings.max_question_chars)
        return self.kb.search(
            text, k, language=language, topic=topic, mode=mode or self.settings.retrieval_mode
        )

    def ask(self, question: str) -> Answer:
        """Answer a question: ``decision`` is 'answer' (with citations) or 'abstain' (with where to turn)."""
        return self.assistant.ask(question)

    @property
    def store(self) -> Store:
        """The conversation store (SQLite in the data directory, or ``CC_DATABASE_URL``), opened on first use."""
        if self._store is None:
            from contact_center.storage import Store

            self._store = Store(self.settings.sqlalchemy_url)
        return self._store

    def conversation(
        self,
        conversation_id: str | None = None,
        *,
        channel: str = "webchat",
        citizen_ref: str | None = None,
    ) -> Conversation:
        """Start a persisted conversation, or continue the one with ``conversation_id``.

        >>> conv = cc.conversation(channel="webchat", citizen_ref="pseudonymous-id")  # doctest: +SKIP
        >>> conv.ask("et ça coûte combien ?")                                           # doctest: +SKIP

        Raises:
            NotFoundError: ``conversation_id`` names no stored conversation.
            InvalidQuestionError: ``channel`` is empty.
        """
        from contact_center.conversation import Conversation
        from contact_center.errors import InvalidQuestionError

        if conversation_id is not None:
            record = self.store.conversation(conversation_id)
        else:
            if not isinstance(channel, str) or not channel.strip() or len(channel) > 32:
                raise InvalidQuestionError(
                    f"channel must be a short name such as 'webchat', 'email', 'phone'; got {channel!r}"
                )
            record = self.store.create_conversation(channel=channel.strip(), citizen_ref=citizen_ref)
        return Conversation(self.assistant, self.store, record, self.settings)

    def card(self, doc_id: str) -> ProcedureCard | None:
        """The procedure card (who, conditions, documents, cost, delay, how, where) of a document."""
        return self.kb.card(doc_id)

    def stats(self) -> dict[str, int]:
        """Counts of documents and chunks in the knowledge base."""
        return self.kb.stats()

    def close(self) -> None:
        """Release files held open."""
        self.kb.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> ContactCenter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
