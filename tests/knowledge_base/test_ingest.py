"""Ingestion with a real Chroma directory and a deterministic embedder (quality is not asserted here)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contact_center import ContactCenter, Settings
from contact_center.errors import DataDirError, IndexMismatchError, IngestError
from knowledge_base.index import KnowledgeBase
from tests.fakes.embedder import HashingEmbedder
from tests.knowledge_base.docs import HTML_PAGE, MARRIAGE_FR, PARKING_NL, write_pdf


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "marriage.md").write_text(MARRIAGE_FR, encoding="utf-8")
    (folder / "parking.md").write_text(PARKING_NL, encoding="utf-8")
    (folder / "bulky.html").write_text(HTML_PAGE, encoding="utf-8")
    write_pdf(folder / "guide.pdf", ["Guide du stationnement", "La carte riverain coute 10 EUR par an."])
    (folder / "guide.pdf.yaml").write_text("language: fr\ntopic: mobilite\n", encoding="utf-8")
    return folder


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase(tmp_path / "kb", HashingEmbedder())
    yield base
    base.close()


def _index_ids(kb: KnowledgeBase) -> int:
    return kb.vectors.count()


def test_first_ingest_adds_every_document_and_indexes_every_chunk(kb: KnowledgeBase, corpus: Path) -> None:
    report = kb.ingest([corpus])
    assert sorted(report.added) == ["guide", "test-bulky-en", "test-marriage-fr", "test-parking-nl"]
    assert report.failed == []
    stats = kb.stats()
    assert stats["documents"] == 4
    assert stats["chunks"] == report.chunks_embedded == _index_ids(kb)


def test_reingesting_unchanged_documents_embeds_nothing_and_duplicates_nothing(
    kb: KnowledgeBase, corpus: Path
) -> None:
    kb.ingest([corpus])
    embedder = kb.embedder
    assert isinstance(embedder, HashingEmbedder)
    calls_before, chunks_before = embedder.calls, _index_ids(kb)
    report = kb.ingest([corpus])
    assert sorted(report.unchanged) == ["guide", "test-bulky-en", "test-marriage-fr", "test-parking-nl"]
    assert report.added == report.updated == []
    assert embedder.calls == calls_before
    assert _index_ids(kb) == chunks_before == kb.stats()["chunks"]


def test_a_changed_document_is_replaced_and_its_old_chunks_are_gone(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest([corpus])
    page = corpus / "marriage.md"
    changed = MARRIAGE_FR.replace("25 EUR", "30 EUR")
    changed = changed.replace(
        "## Délai\nLa déclaration se fait au plus tôt six mois avant la date du mariage.\n", ""
    )
    page.write_text(changed, encoding="utf-8")
    report = kb.ingest([corpus])
    assert report.updated == ["test-marriage-fr"]
    texts = [c.text for c in kb.chunks_of("test-marriage-fr")]
    assert any("30 EUR" in t for t in texts) and not any("25 EUR" in t for t in texts)
    assert not any("six mois" in t for t in texts)
    assert _index_ids(kb) == kb.stats()["chunks"]
    hits = kb.search("Déclaration de mariage coût 30 EUR", 10)
    assert all("25 EUR" not in h.text for h in hits)


def test_prune_removes_documents_gone_from_the_folder_and_only_with_prune(
    kb: KnowledgeBase, corpus: Path
) -> None:
    kb.ingest([corpus])
    (corpus / "parking.md").unlink()
    assert kb.ingest([corpus]).removed == []
    assert "test-parking-nl" in kb.catalog.entries()
    report = kb.ingest([corpus], prune=True)
    assert report.removed == ["test-parking-nl"]
    assert "test-parking-nl" not in kb.catalog.entries()
    assert _index_ids(kb) == kb.stats()["chunks"]


def test_broken_documents_are_listed_and_the_rest_is_ingested(kb: KnowledgeBase, corpus: Path) -> None:
    (corpus / "empty.md").write_text("", encoding="utf-8")
    (corpus / "bad.md").write_text("---\ntitle: [oops\n---\n# x\n", encoding="utf-8")
    (corpus / "klingon.md").write_text("---\nlanguage: tlh\n---\n# x\n\n## Cost\n1 EUR\n", encoding="utf-8")
    (corpus / "dup.md").write_text(MARRIAGE_FR, encoding="utf-8")
    report = kb.ingest([corpus, corpus.parent / "missing-folder"])
    failed = {Path(f.path).name: f.reason for f in report.failed}
    # files are read in name order: dup.md comes first, so marriage.md is the duplicate
    assert set(failed) == {"empty.md", "bad.md", "klingon.md", "missing-folder", "marriage.md"}
    assert "empty" in failed["empty.md"]
    assert "YAML" in failed["bad.md"]
    assert "unknown language code 'tlh'" in failed["klingon.md"]
    assert "no such file or folder" in failed["missing-folder"]
    assert "duplicate document id 'test-marriage-fr', also in" in failed["marriage.md"]
    assert len(report.added) == 4


def test_ingesting_nothing_or_only_missing_paths_is_an_error(kb: KnowledgeBase, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="at least one"):
        kb.ingest([])
    with pytest.raises(IngestError, match="none of the paths exist"):
        kb.ingest([tmp_path / "nope"])


def test_opening_an_index_with_another_embedder_is_a_clear_error(tmp_path: Path, corpus: Path) -> None:
    first = KnowledgeBase(tmp_path / "kb", HashingEmbedder(name="model-a"))
    first.ingest([corpus])
    first.close()
    with pytest.raises(IndexMismatchError, match="model-a"):
        KnowledgeBase(tmp_path / "kb", HashingEmbedder(name="model-b"))


def test_filters_by_language_and_topic(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest([corpus])
    assert {h.language for h in kb.search("kaart carte card", 10, language="nl")} == {"nl"}
    assert {h.topic for h in kb.search("kaart carte card", 10, topic="mobilite")} == {"mobilite"}
    for mode in ("lexical", "hybrid"):
        hits = kb.search("bewonerskaart kostprijs", 5, mode=mode)  # type: ignore[arg-type]
        assert hits and hits[0].doc_id == "test-parking-nl"
        assert all(h.language == "fr" for h in kb.search("carte", 5, language="fr", mode=mode))  # type: ignore[arg-type]


def test_unwritable_data_dir_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocked = tmp_path / "a-file"
        blocked.write_text("not a directory")
        target = blocked / "data"
    else:  # pragma: no cover - CI runs as root
        target = tmp_path / "ro"
        target.mkdir(mode=0o500)
    with pytest.raises(DataDirError, match=str(target)):
        ContactCenter(Settings(data_dir=target), embedder=HashingEmbedder())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """A real Chroma server (the `chroma run` binary shipped with chromadb) on loopback."""
    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen(
        [
            str(chroma),
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("chroma server did not start within 30 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_chroma_server_by_url_holds_the_same_index(tmp_path: Path, corpus: Path, chroma_server: str) -> None:
    kb = KnowledgeBase(tmp_path / "kb-remote", HashingEmbedder(), chroma_url=chroma_server)
    report = kb.ingest([corpus])
    assert len(report.added) == 4
    assert kb.vectors.count() == kb.stats()["chunks"]
    assert kb.search("Bewonerskaart kostprijs euro", 3)[0].doc_id == "test-parking-nl"
    assert kb.ingest([corpus]).unchanged
    kb.close()
