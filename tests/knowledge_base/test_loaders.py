from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from knowledge_base.loaders import DocumentError, load_document
from tests.knowledge_base.docs import HTML_PAGE, MARRIAGE_FR, write_image_only_pdf, write_pdf


def test_markdown_front_matter_becomes_the_documents_metadata(tmp_path: Path) -> None:
    path = tmp_path / "whatever.md"
    path.write_text(MARRIAGE_FR, encoding="utf-8")
    doc = load_document(path)
    assert doc.id == "test-marriage-fr"
    assert doc.title == "Déclaration de mariage"
    assert (doc.language, doc.topic, doc.procedure) == ("fr", "etat-civil", "test-marriage")
    assert doc.source_url == "https://example.brussels/mariage"
    assert doc.updated == dt.date(2026, 1, 15)
    assert doc.body.startswith("# Déclaration de mariage")
    assert "---" not in doc.body.splitlines()[0]
    assert len(doc.content_hash) == 64


def test_document_id_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "carte-riverain.md"
    path.write_text("---\nlanguage: fr\n---\n# Carte riverain\n\n## Coût\n10 EUR\n", encoding="utf-8")
    doc = load_document(path)
    assert doc.id == "carte-riverain"
    assert doc.title == "Carte riverain"


def test_html_keeps_main_content_and_drops_navigation(tmp_path: Path) -> None:
    path = tmp_path / "bulky.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    doc = load_document(path)
    assert doc.id == "test-bulky-en"
    assert doc.language == "en"
    assert doc.topic == "proprete"
    assert doc.source_url == "https://example.brussels/bulky-waste"
    assert "25 euros" in doc.body and "0800 981 81" in doc.body
    assert "MENU NAVIGATION LINK" not in doc.body
    assert "Footer copyright" not in doc.body
    assert "Cost" in doc.body


def test_pdf_text_is_extracted_and_its_language_detected(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "guide.pdf", ["Carte de stationnement", "La carte coute 10 EUR par an."])
    doc = load_document(path, detect_language=lambda text: "fr" if "carte" in text else "en")
    assert doc.id == "guide"
    assert doc.language == "fr"
    assert "10 EUR par an" in doc.body


def test_pdf_metadata_can_come_from_a_sidecar_file(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "guide.pdf", ["Parking card", "The card costs 10 EUR a year."])
    (tmp_path / "guide.pdf.yaml").write_text(
        "id: parking-guide\nlanguage: en\ntopic: mobilite\n", encoding="utf-8"
    )
    doc = load_document(path)
    assert (doc.id, doc.language, doc.topic) == ("parking-guide", "en", "mobilite")


def test_pdf_without_a_language_says_how_to_give_one(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "guide.pdf", ["Carte de stationnement"])
    with pytest.raises(DocumentError, match=r"guide\.pdf\.yaml"):
        load_document(path)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", "", "empty"),
        ("blank.md", "   \n\n", "empty"),
        ("bad-yaml.md", "---\ntitle: [unclosed\nlanguage: fr\n---\n# T\n\ntext\n", "not valid YAML"),
        ("list-yaml.md", "---\n- a\n- b\n---\n# T\n\ntext\n", "YAML mapping"),
        ("unclosed.md", "---\ntitle: x\nlanguage: fr\n# T\n", "never closed"),
        ("klingon.md", "---\nlanguage: tlh\n---\n# T\n\ntext\n", "unknown language code 'tlh'"),
        ("no-lang.md", "# T\n\ntext\n", "no language"),
        ("bad-date.md", "---\nlanguage: fr\nupdated: last tuesday\n---\n# T\n\ntext\n", "ISO date"),
        ("bad id.md", "---\nid: 'has spaces/slash'\nlanguage: fr\n---\n# T\n\ntext\n", "invalid document id"),
        ("only-front.md", "---\nlanguage: fr\n---\n", "no text"),
        ("notes.txt", "hello", "unsupported file type .txt"),
    ],
)
def test_bad_documents_raise_a_reason_a_person_can_act_on(
    tmp_path: Path, name: str, content: str, reason: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DocumentError, match=reason):
        load_document(path)


def test_binary_garbage_is_reported_not_crashed(tmp_path: Path) -> None:
    path = tmp_path / "garbage.md"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(DocumentError, match="UTF-8"):
        load_document(path)


def test_pdf_without_text_layer_is_reported(tmp_path: Path) -> None:
    path = write_image_only_pdf(tmp_path / "scan.pdf")
    with pytest.raises(DocumentError, match="no text layer"):
        load_document(path)


def test_corrupt_pdf_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises(DocumentError):
        load_document(path)
