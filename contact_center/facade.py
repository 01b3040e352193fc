"""The :class:`ContactCenter` facade: the one object portal developers and the CLI use."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from contact_center.assistant import Assistant, clean_question
from contact_center.errors import DataDirError
from contact_center.models import Answer, Hit, IngestReport, ProcedureCard, RetrievalMode
from contact_center.settings import Settings
from knowledge_base.embeddings import Embedder, make_embedder
from knowledge_base.generation import ExtractiveGenerator, Generator
from knowledge_base.index import KnowledgeBase, ProgressCallback
from knowledge_base.language import LanguageDetector
from knowledge_base.vector_index import VectorIndex

__all__ = ["ContactCenter"]


def _check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataDirError(path, exc.strerror or str(exc)) from exc


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
        generator: an explicit generator (default: the offline extractive one).
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
        self.embedder = embedder or make_embedder(
            self.settings.embedder, threads=self.settings.embedder_threads
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
            generator or ExtractiveGenerator(),
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

    def card(self, doc_id: str) -> ProcedureCard | None:
        """The procedure card (who, conditions, documents, cost, delay, how, where) of a document."""
        return self.kb.card(doc_id)

    def stats(self) -> dict[str, int]:
        """Counts of documents and chunks in the knowledge base."""
        return self.kb.stats()

    def close(self) -> None:
        """Release files held open."""
        self.kb.close()

    def __enter__(self) -> ContactCenter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
