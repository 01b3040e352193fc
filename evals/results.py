"""What one evaluated item produced: its status, what the system returned, and its scores.

Written one a line to ``items.jsonl``; read back by ``eval compare`` and ``eval report``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from contact_center.errors import EvaluationError

__all__ = ["ItemResult", "Status", "read_items", "write_items"]

Status = Literal["ok", "error", "skipped"]
"""``ok``: scored; ``error``: the system raised, counted and shown, never averaged; ``skipped``: not run."""


@dataclass
class ItemResult:
    """The outcome of one golden item. Metrics that do not apply to the item are absent, not zero."""

    id: str
    language: str
    kind: str
    expected_decision: str
    status: Status = "ok"
    question: str = ""
    asked: str = ""
    gold_doc_ids: list[str] = field(default_factory=list)
    answer_facts: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    pair: str | None = None
    error: str | None = None
    skip_reason: str | None = None
    note: str | None = None
    retrieved_doc_ids: list[str] = field(default_factory=list)
    decision: str | None = None
    answer: str = ""
    answer_language: str | None = None
    citations: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    missing_facts: list[str] = field(default_factory=list)
    ungrounded_numbers: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float | None = None
    search_ms: float | None = None
    turns_ms: float | None = None
    """Follow-up items in a conversation: time spent on the earlier turns (not in ``latency_ms``)."""
    judge: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ItemResult:
        """Rebuild a result from :meth:`to_json` output; fields added by later versions are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in names})


def write_items(path: Path, results: list[ItemResult]) -> None:
    """Write results as JSON lines, in golden-set order."""
    with path.open("w", encoding="utf-8") as fh:
        for result in results:
            fh.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")


def read_items(path: Path) -> list[ItemResult]:
    """Read ``items.jsonl`` of a run directory."""
    if not path.is_file():
        raise EvaluationError(f"{path} not found: give the directory written by 'contact-center eval run'")
    out: list[ItemResult] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(ItemResult.from_json(json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise EvaluationError(
                f"{path}:{number}: not an item result ({exc}); was the file edited?"
            ) from None
    return out
