from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns import Campaigns, Contact, parse_segment
from contact_center.errors import SegmentSyntaxError
from tests.campaigns.helpers import FIELDS, resident, write_csv

TODAY = date(2026, 11, 22)
PEOPLE = [
    Contact(
        email="a@x.be",
        language="nl",
        nationality="MA",
        permit_expires=date(2026, 12, 20),
        postcode="1000",
        consent=True,
        attributes={"district": "centre"},
    ),
    Contact(
        email="b@x.be", language="FR", nationality="FR", permit_expires=date(2027, 3, 1), postcode="1050"
    ),
    Contact(
        email="c@x.be", language="it", nationality="IT", permit_expires=None, postcode="1000", consent=True
    ),
    Contact(
        email="d@x.be", language="fr", nationality="MA", permit_expires=date(2026, 11, 1), postcode="1020"
    ),
]


def members(expression: str) -> list[str]:
    segment = parse_segment(expression, known_attributes={"district"})
    return [p.email for p in PEOPLE if segment.matches(p, TODAY)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('permit_expires within 60 days and language in ("nl", "fr")', ["a@x.be"]),
        ('language = "fr"', ["b@x.be", "d@x.be"]),
        ("consent = true", ["a@x.be", "c@x.be"]),
        ('not (nationality = "MA") or postcode >= 1050', ["b@x.be", "c@x.be"]),
        ('permit_expires < "2026-12-01"', ["d@x.be"]),
        ("permit_expires is empty", ["c@x.be"]),
        ('district = "centre"', ["a@x.be"]),
        ("attributes.district is not empty", ["a@x.be"]),
        ('language not in ("fr", "nl")', ["c@x.be"]),
        ("permit_expires within -30 days", ["d@x.be"]),
        ('postcode = "1000" AND NOT consent = true', []),
        ("language = 'nl'\n or language = 'it'", ["a@x.be", "c@x.be"]),
    ],
)
def test_segment_examples(expression: str, expected: list[str]) -> None:
    assert members(expression) == expected


@pytest.mark.parametrize(
    ("expression", "line", "column", "fragment"),
    [
        ('nationalty = "MA"', 1, 1, "unknown field 'nationalty' (did you mean 'nationality'?)"),
        ('language = "fr" and\n  permit_expirs within 60 days', 2, 3, "did you mean 'permit_expires'"),
        ("language = fr", 1, 12, "values must be quoted"),
        ('language in ("fr"', 1, 18, "ends too early"),
        ('language = "fr" or', 1, 19, "ends too early"),
        ("language within 10 days", 1, 1, "needs a date field"),
        ('permit_expires > "soon"', 1, 18, "not an ISO date"),
        ("consent = 1", 1, 11, "true or false"),
        ('language = "fr" ) ', 1, 17, "unexpected ')'"),
        ("", 1, 1, "empty"),
    ],
)
def test_syntax_errors_point_at_line_and_column(
    expression: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(SegmentSyntaxError) as info:
        parse_segment(expression)
    assert (info.value.line, info.value.column) == (line, column)
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"line {line}, col {column}: ")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdefinotrwhy_ ()\"=<>!,.0123456789\n'")), max_size=60))
def test_arbitrary_text_parses_or_raises_segment_syntax_error(text: str) -> None:
    try:
        segment = parse_segment(text)
    except SegmentSyntaxError as exc:
        assert exc.line >= 1 and exc.column >= 1
        return
    for person in PEOPLE:
        assert segment.matches(person, TODAY) in (True, False)


FIELD_TESTS = st.sampled_from(
    [
        'language = "fr"',
        'language in ("nl", "it")',
        "consent = true",
        "postcode >= 1020",
        'nationality != "MA"',
        "permit_expires within 60 days",
        "permit_expires is empty",
        'district = "centre"',
    ]
)


def expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        FIELD_TESTS,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: f"({p[0]}) and ({p[1]})"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]}) or ({p[1]})"),
            inner.map(lambda e: f"not ({e})"),
        ),
        max_leaves=8,
    )


@settings(max_examples=150, deadline=None)
@given(expressions(), expressions())
def test_boolean_algebra_holds(left: str, right: str) -> None:
    a, b = set(members(left)), set(members(right))
    everyone = {p.email for p in PEOPLE}
    assert set(members(f"({left}) and ({right})")) == a & b
    assert set(members(f"({left}) or ({right})")) == a | b
    assert set(members(f"not ({left})")) == everyone - a
    assert set(members(f"not (({left}) or ({right}))")) == set(members(f"not ({left}) and not ({right})"))


def test_a_column_only_later_imports_have_can_be_named_bare(service: Campaigns, tmp_path: Path) -> None:
    # The bare names were sampled from the first 1,000 contacts: a column brought by a later file of new
    # residents was an "unknown field" although the contacts had it.
    first = [resident(i) for i in range(1005)]
    for row in first:
        row.pop("district")
    write_csv(tmp_path / "a.csv", first, fields=[f for f in FIELDS if f != "district"])
    assert not service.import_contacts(tmp_path / "a.csv").errors
    later = [resident(2000 + i, dossier=f"D{i}") for i in range(3)]
    write_csv(tmp_path / "b.csv", later, fields=[*FIELDS, "dossier"])
    assert not service.import_contacts(tmp_path / "b.csv").errors
    assert service.segment_count('dossier = "D1"') == 1
    assert service.segment_count('dossier is not empty and district = "centre"') == 3
    with pytest.raises(SegmentSyntaxError, match="unknown field 'dosier'"):
        service.segment_count('dosier = "D1"')


def test_an_attribute_named_with_capitals_finds_the_imported_column(
    service: Campaigns, tmp_path: Path
) -> None:
    # The import lower-cases the header ("District" becomes "district"); writing the column as it
    # appears in the spreadsheet matched nobody, silently.
    (tmp_path / "r.csv").write_text("Email;District\na@example.org;Centre\n", encoding="utf-8")
    assert not service.import_contacts(tmp_path / "r.csv").errors
    assert service.segment_count('attributes.District = "Centre"') == 1
    assert service.segment_count("attr.DISTRICT is not empty") == 1


@pytest.mark.parametrize("days", ["3000000", "99999999999", "-800000"])
def test_within_a_huge_number_of_days_reaches_the_end_of_the_calendar_instead_of_crashing(days: str) -> None:
    segment = parse_segment(f"permit_expires within {days} days")
    today = date(2026, 12, 4)
    later = Contact(email="a@x.be", permit_expires=date(9999, 12, 31))
    earlier = Contact(email="b@x.be", permit_expires=date(1, 1, 1))
    future = not days.startswith("-")
    assert segment.matches(later, today) is future
    assert segment.matches(earlier, today) is not future


@pytest.mark.parametrize(
    ("separator", "expected"),
    [
        ("\u2028", r"line 1, col 16: unexpected character '\u2028'"),  # shown, not invisible
        ("\x0b", r"line 1, col 16: unexpected character '\x0b'"),
        ("\x0c", "line 2, col 2: unexpected character '$'"),  # a form feed is white space
    ],
)
def test_pasted_unusual_line_separators_do_not_crash_the_error_message(separator: str, expected: str) -> None:
    # Text pasted from a web page or a PDF can hold U+2028 or a form feed; Python's splitlines counts
    # those as line breaks and lark does not, so pointing at the error raised IndexError.
    with pytest.raises(SegmentSyntaxError) as caught:
        parse_segment(f'language = "fr"{separator} \n $')
    assert str(caught.value).startswith(expected)
