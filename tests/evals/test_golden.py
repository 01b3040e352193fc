"""The golden set loader: defaults, unknown fields kept, every malformed line reported by number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contact_center.errors import EvaluationError
from evals.golden import DEFAULT_GOLDEN, GoldenSetError, load_golden, parse_golden

GOOD = {
    "id": "fr-1",
    "question": "Combien coûte une carte d'identité ?",
    "language": "FR",
    "gold_doc_ids": ["carte-identite"],
    "answer_facts": ["25 €"],
    "kind": "factual",
}


def _lines(*objs: object) -> str:
    return "\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs) + "\n"


def test_defaults_and_unknown_fields_are_kept() -> None:
    oos = {
        **GOOD,
        "id": "fr-2",
        "gold_doc_ids": [],
        "answer_facts": [],
        "kind": "out_of_scope",
        "source": "x",
    }
    golden = parse_golden(_lines(GOOD, "", "# a comment", oos))
    first, second = golden.items
    assert first.expected_decision == "answer"
    assert first.language == "fr"
    assert second.expected_decision == "abstain"
    assert second.extra == {"source": "x"}
    assert second.line == 4
    assert second.to_json()["source"] == "x"


def test_explicit_decision_turns_and_tags() -> None:
    obj = {**GOOD, "expected_decision": "clarify", "turns": ["Bonjour"], "tags": ["id"], "kind": "follow_up"}
    item = parse_golden(_lines(obj)).items[0]
    assert (item.expected_decision, item.turns, item.tags) == ("clarify", ("Bonjour",), ("id",))


def test_every_bad_line_is_reported_with_its_number() -> None:
    text = _lines(
        GOOD,
        "{not json",
        {**GOOD, "id": "b", "kind": "factoid"},
        {**GOOD, "id": "c", "question": ""},
        {k: v for k, v in {**GOOD, "id": "d"}.items() if k != "gold_doc_ids"},
        {**GOOD, "id": "e", "expected_decision": "refuse"},
        {**GOOD, "id": "f", "answer_facts": "25 €"},
        GOOD,
        "[1, 2]",
    )
    with pytest.raises(GoldenSetError) as info:
        parse_golden(text, path="set.jsonl")
    lines = [line for line, _ in info.value.problems]
    assert lines == [2, 3, 4, 5, 6, 7, 8, 9]
    message = str(info.value)
    assert "set.jsonl:2: not valid JSON" in message
    assert "set.jsonl:3: unknown kind 'factoid'" in message
    assert "'question' is missing" in message
    assert "'gold_doc_ids' is missing" in message
    assert "unknown expected_decision 'refuse'" in message
    assert "'answer_facts' must be a list" in message
    assert "set.jsonl:8: duplicate id 'fr-1' (first on line 1)" in message
    assert "no item was evaluated" in message
    assert isinstance(info.value, EvaluationError)


def test_empty_missing_and_non_utf8_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(GoldenSetError, match="contains no item"):
        load_golden(empty)
    with pytest.raises(GoldenSetError, match="file not found"):
        load_golden(tmp_path / "nope.jsonl")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(
        json.dumps(GOOD).encode() + b"\n" + json.dumps({**GOOD, "id": "x"}).encode()[:-2] + b'\xe9"}\n'
    )
    with pytest.raises(GoldenSetError, match=r"latin.jsonl:2: not UTF-8"):
        load_golden(latin)


def test_hash_names_the_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text(_lines(GOOD), encoding="utf-8")
    first = load_golden(path).sha256
    path.write_text(_lines(GOOD) + "\n", encoding="utf-8")
    assert load_golden(path).sha256 != first
    assert len(first) == 64


def test_bundled_golden_set_is_valid() -> None:
    golden = load_golden(DEFAULT_GOLDEN)
    assert len(golden) >= 100
    assert {"fr", "nl", "en"} <= {item.language for item in golden.items}
