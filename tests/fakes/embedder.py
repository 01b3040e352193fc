"""A deterministic embedder for tests of code that does not depend on embedding quality.

Hashes word tokens into a fixed-size vector (feature hashing) and L2-normalises it: texts sharing words
are close, others are not. Fast and dependency-free; never used where retrieval quality is asserted.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import numpy.typing as npt


class HashingEmbedder:
    """Bag-of-words feature hashing, ``dim`` dimensions."""

    def __init__(self, dim: int = 64, name: str = "test-hashing") -> None:
        self.dim = dim
        self.name = name
        self.calls = 0

    def _one(self, text: str) -> npt.NDArray[np.float32]:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vec[int.from_bytes(digest[:4], "little") % self.dim] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def embed_passages(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.calls += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._one(t) for t in texts])

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self._one(text)
