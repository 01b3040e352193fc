"""Tests of contact_center.privacy: what a citizen's message looks like before and after redaction.

The checksums are re-implemented here from their specifications (an oracle independent of the module),
so generated numbers are valid or invalid by construction, not by the code under test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import contact_center.privacy as privacy
from contact_center.errors import ContactCenterError, PrivacyError
from contact_center.privacy import (
    PIIMatch,
    detect,
    is_valid_iban,
    is_valid_national_number,
    redact,
)

# --- independent oracles ----------------------------------------------------------------------------

# SEPA members and associated territories with their IBAN lengths (EPC list), written out again here.
SEPA_IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26,
    "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28,
    "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "VA": 22,
}  # fmt: skip


def nn_check(first9: str, born_2000_or_later: bool) -> int:
    """Check digits of a national number: 97 minus the remainder (prefixed by 2 from 2000)."""
    return 97 - int(("2" if born_2000_or_later else "") + first9) % 97


def nn_oracle(digits: str) -> bool:
    month, day = int(digits[2:4]), int(digits[4:6])
    if not (month <= 12 or 20 <= month <= 32 or 40 <= month <= 52) or day > 31:
        return False
    return int(digits[9:]) in (nn_check(digits[:9], False), nn_check(digits[:9], True))


def iban_numeric(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s))


def make_iban(country: str, bban: str) -> str:
    check = 98 - iban_numeric(bban + country + "00") % 97
    return f"{country}{check:02d}{bban}"


def iban_oracle(compact: str) -> bool:
    return iban_numeric(compact[4:] + compact[:4]) % 97 == 1


def group4(compact: str) -> str:
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


NN_FORMATS: dict[str, Callable[[str], str]] = {
    "compact": lambda d: d,
    "dotted": lambda d: f"{d[:2]}.{d[2:4]}.{d[4:6]}-{d[6:9]}.{d[9:]}",
    "spaced": lambda d: f"{d[:2]} {d[2:4]} {d[4:6]} {d[6:9]} {d[9:]}",
    "date-block": lambda d: f"{d[:6]} {d[6:9]} {d[9:]}",
    "hyphens": lambda d: f"{d[:6]}-{d[6:9]}-{d[9:]}",
}

SENTENCES = [
    "Bonjour, mon numéro est {} merci.",
    "Mijn nummer: {}. Alvast bedankt!",
    "Here it is ({}) for the marriage file",
    "{}",
    "NN {}, RRN",
]


@st.composite
def national_numbers(draw: st.DrawFn) -> tuple[str, bool]:
    """11 digits of a valid national number (bis numbers included) and its century."""
    yy = draw(st.integers(0, 99))
    month = draw(st.integers(0, 12)) + draw(st.sampled_from([0, 20, 40]))
    day = draw(st.integers(0, 31))
    serial = draw(st.integers(1, 998))
    born_2000 = draw(st.booleans())
    first9 = f"{yy:02d}{month:02d}{day:02d}{serial:03d}"
    return f"{first9}{nn_check(first9, born_2000):02d}", born_2000


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(SEPA_IBAN_LENGTHS)))
    length = SEPA_IBAN_LENGTHS[country] - 4
    # Most BBANs are digits; some countries (GB, NL, MT...) carry a bank code in letters.
    alphabet = "0123456789" if draw(st.booleans()) else "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    bban = draw(st.text(alphabet=alphabet, min_size=length, max_size=length))
    return make_iban(country, bban)


def mutate_digit(value: str, index: int, new: str) -> str:
    return value[:index] + new + value[index + 1 :]


def kinds_and_texts(text: str) -> list[tuple[str, str]]:
    return [(m.kind, m.text) for m in detect(text)]


# --- the public API ---------------------------------------------------------------------------------


def test_public_api_is_pinned() -> None:
    assert sorted(privacy.__all__) == [
        "IBAN_LENGTHS",
        "LABELS",
        "PIIKind",
        "PIIMatch",
        "RedactionResult",
        "RedactionStyle",
        "detect",
        "is_valid_iban",
        "is_valid_national_number",
        "redact",
    ]


def test_the_module_imports_nothing_heavy() -> None:
    source = privacy.__file__
    with open(source, encoding="utf-8") as f:
        imports = [line for line in f if line.startswith(("import ", "from "))]
    allowed: tuple[str, ...] = ("from __future__", "import bisect", "import itertools", "import re")
    allowed += ("from collections",)
    allowed += ("from dataclasses", "from typing", "from contact_center.errors")
    assert [line for line in imports if not line.startswith(allowed)] == []


# --- national register numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("85.07.30-033.28", True),  # born 1985
        ("85073003328", True),
        ("85 07 30 033 28", True),
        ("85.07.30-033.29", False),  # one check digit off
        ("85.07.30-033.57", True),  # the same digits under the 2000 rule: accepted, redaction errs safe
        ("00000000097", True),  # born 1900, birth date unknown: 97 - 0 % 97 = 97
        ("1234567890", False),  # 10 digits
        ("123456789012", False),  # 12 digits
        ("85.13.30-033.28", False),  # month 13 does not exist
        ("", False),
        ("85.07.30-O33.28", False),  # a letter O typed for a zero
    ],
)
def test_is_valid_national_number(value: str, valid: bool) -> None:
    assert is_valid_national_number(value) is valid


def test_both_century_rules_are_accepted() -> None:
    first9 = "050101012"  # born 1 January 2005 or 1905
    after_2000 = f"{first9}{nn_check(first9, True):02d}"
    before_2000 = f"{first9}{nn_check(first9, False):02d}"
    assert after_2000 != before_2000
    assert is_valid_national_number(after_2000)
    assert is_valid_national_number(before_2000)
    assert kinds_and_texts(f"mon fils: {after_2000}") == [("national_number", after_2000)]


@pytest.mark.parametrize("bis_offset", [20, 40])
def test_bis_numbers_are_national_numbers(bis_offset: int) -> None:
    first9 = f"85{7 + bis_offset:02d}30033"
    number = f"{first9}{nn_check(first9, False):02d}"
    assert is_valid_national_number(number)
    assert redact(f"bisnummer {number}").text == "bisnummer [NATIONAL_NUMBER]"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    nn=national_numbers(),
    fmt=st.sampled_from(sorted(NN_FORMATS)),
    sentence=st.sampled_from(SENTENCES),
)
def test_valid_national_numbers_are_always_redacted(nn: tuple[str, bool], fmt: str, sentence: str) -> None:
    digits, _ = nn
    written = NN_FORMATS[fmt](digits)
    text = sentence.format(written)
    assert is_valid_national_number(written)
    assert kinds_and_texts(text) == [("national_number", written)]
    result = redact(text)
    assert result.text == sentence.format("[NATIONAL_NUMBER]")
    assert digits not in result.text.replace(" ", "").replace(".", "").replace("-", "")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    nn=national_numbers(),
    index=st.integers(0, 10),
    new_digit=st.sampled_from("0123456789"),
    fmt=st.sampled_from(sorted(NN_FORMATS)),
    sentence=st.sampled_from(SENTENCES),
)
def test_a_national_number_with_one_digit_changed_is_not_flagged(
    nn: tuple[str, bool], index: int, new_digit: str, fmt: str, sentence: str
) -> None:
    digits, _ = nn
    assume(digits[index] != new_digit)
    mutated = mutate_digit(digits, index, new_digit)
    # One changed digit always breaks its own century's check, but may by chance satisfy the other one.
    assume(not nn_oracle(mutated))
    written = NN_FORMATS[fmt](mutated)
    text = sentence.format(written)
    assert not is_valid_national_number(written)
    # Not flagged as anything: a number that fails the check is not personal data we can recognise.
    assert detect(text) == []
    assert redact(text).text == text


# --- IBANs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iban",
    [
        "BE68 5390 0754 7034",
        "BE68539007547034",
        "be68 5390 0754 7034",
        "BE68-5390-0754-7034",
        "NL91 ABNA 0417 1643 00",
        "FR14 2004 1010 0505 0001 3M02 606",
        "DE89 3704 0044 0532 0130 00",
        "GB29 NWBK 6016 1331 9268 19",
        "LU28 0019 4006 4475 0000",
        "MA64 0115 1900 0001 2050 0053 4921",  # not in the registry: never flagged
    ],
)
def test_ibans_are_found_whole_or_grouped(iban: str) -> None:
    registered = not iban.startswith("MA")
    assert is_valid_iban(iban) is registered
    text = f"Remboursement sur le compte {iban}, s'il vous plaît."
    if registered:
        assert kinds_and_texts(text) == [("iban", iban)]
        assert redact(text).text == "Remboursement sur le compte [IBAN], s'il vous plaît."
    else:
        assert [m for m in detect(text) if m.kind == "iban"] == []


@pytest.mark.parametrize(
    "value",
    [
        "BE68 5390 0754 7035",  # one digit changed
        "BE68 5390 0754 703",  # too short for Belgium
        "BE68 5390 0754 70341",  # too long for Belgium
        "XX68 5390 0754 7034",  # no such country
        "BE6853900754703A",
    ],
)
def test_invalid_ibans_are_not_flagged(value: str) -> None:
    assert not is_valid_iban(value)
    assert [m for m in detect(f"IBAN: {value}.") if m.kind in ("iban", "national_number")] == []


def test_iban_lengths_cover_sepa() -> None:
    assert {c: privacy.IBAN_LENGTHS.get(c) for c in SEPA_IBAN_LENGTHS} == SEPA_IBAN_LENGTHS


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(iban=ibans(), grouped=st.booleans(), sentence=st.sampled_from(SENTENCES))
def test_valid_ibans_are_always_redacted(iban: str, grouped: bool, sentence: str) -> None:
    written = group4(iban) if grouped else iban
    text = sentence.format(written)
    assert is_valid_iban(written)
    assert kinds_and_texts(text) == [("iban", written)]
    assert redact(text).text == sentence.format("[IBAN]")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    iban=ibans(),
    position=st.integers(2, 40),
    new_digit=st.sampled_from("0123456789"),
    grouped=st.booleans(),
    sentence=st.sampled_from(SENTENCES),
)
def test_an_iban_with_one_digit_changed_is_not_flagged(
    iban: str, position: int, new_digit: str, grouped: bool, sentence: str
) -> None:
    index = position % len(iban)
    assume(index >= 2 and iban[index].isdigit() and iban[index] != new_digit)
    mutated = mutate_digit(iban, index, new_digit)
    assert not iban_oracle(mutated)  # mod-97 catches every single substitution
    written = group4(mutated) if grouped else mutated
    assert not is_valid_iban(written)
    flagged = [m for m in detect(sentence.format(written)) if m.kind in ("iban", "national_number")]
    assert flagged == []


# --- phone numbers and e-mail addresses -------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "02 279 22 11",
        "02/279.22.11",
        "022792211",
        "(02) 279 22 11",
        "010 23 45 67",
        "0470 12 34 56",
        "0470/12.34.56",
        "0470123456",
        "0499 123 456",
        "0800 12 345",
        "+32 2 279 22 11",
        "+32 (0)2 279 22 11",
        "+32 470 12 34 56",
        "+32470123456",
        "0032 2 279 22 11",
        "0032 470 12 34 56",
        "+33 1 23 45 67 89",
        "+31 20 123 4567",
        "+1 (555) 123-4567",
        "+44 20 7946 0958",
        "+212 6 12 34 56 78",
    ],
)
def test_phone_numbers_are_found(phone: str) -> None:
    text = f"Vous pouvez me joindre au {phone} après 17h."
    assert kinds_and_texts(text) == [("phone", phone)]
    assert redact(text).text == "Vous pouvez me joindre au [PHONE] après 17h."


def test_a_number_after_a_phone_number_stays_out_of_it() -> None:
    assert kinds_and_texts("bel 02 279 22 11 2026 of +33 1 23 45 67 89 2026") == [
        ("phone", "02 279 22 11"),
        ("phone", "+33 1 23 45 67 89"),
    ]


def test_a_phone_number_after_a_file_number_is_found() -> None:
    assert redact("dossier 2026/0012 0470 12 34 56").text == "dossier 2026/0012 [PHONE]"


@pytest.mark.parametrize(
    "email",
    ["jan.peeters@example.be", "élise+mariage@brucity.example.brussels", "a_b-c@sub.domain.co.uk"],
)
def test_email_addresses_are_found(email: str) -> None:
    text = f"Write to {email}."
    assert kinds_and_texts(text) == [("email", email)]
    assert redact(text).text == "Write to [EMAIL]."


def test_an_email_address_made_of_digits_is_one_email() -> None:
    assert kinds_and_texts("0470123456@sms.example.be") == [("email", "0470123456@sms.example.be")]


# --- no false positives -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Le coût est de 1.250,00 € ou € 1,250.00, soit 12 500 EUR au total.",
        "Rendez-vous le 12/03/2026 à 10:30, ou le 12.03.2026, ou le 2026-03-12.",
        "Afspraak op 04/9/2026 om 10u, 04/05/2026 12 personen.",
        "Adresse: Boulevard Anspach 6, 1000 Bruxelles (B-1000).",
        "Dossier 2026/0012, procédure n° 2026/001234, PV 12/2026/0012.",
        "Numéro d'entreprise 0123.456.789 et TVA BE 0123.456.789.",
        "Communication structurée +++090/9337/55493+++ à mentionner.",
        "Reference 12345678901 and 85.07.30-033.29 fail the check.",
        "Version 3.2.1, 80% of 2 500 people, 3 x 4 = 12, année 2026.",
        "The fee rose from 0,50 to 1,00 on 01.01.2026.",
        "",
    ],
)
def test_no_false_positive_on_ordinary_numbers(text: str) -> None:
    assert detect(text) == []
    assert redact(text).text == text


@settings(max_examples=300)
@given(
    day=st.integers(1, 31),
    month=st.integers(1, 12),
    year=st.integers(1950, 2050),
    sep=st.sampled_from(["/", ".", "-"]),
    amount=st.integers(0, 10_000_000),
    cents=st.integers(0, 99),
    postcode=st.integers(1000, 9999),
    hour=st.integers(0, 23),
)
def test_no_false_positive_on_generated_dates_amounts_and_postcodes(
    day: int, month: int, year: int, sep: str, amount: int, cents: int, postcode: int, hour: int
) -> None:
    grouped = f"{amount:,}".replace(",", ".")
    text = (
        f"Le {day:02d}{sep}{month:02d}{sep}{year} à {hour}h, {grouped},{cents:02d} €, "
        f"{postcode} Bruxelles, {year}-{month:02d}-{day:02d}, dossier {year}/{amount % 10000:04d}."
    )
    assert detect(text) == []


# --- redaction --------------------------------------------------------------------------------------

ROUND_TRIPS = [
    (
        "fr",
        "Bonjour, je suis né le 30/07/1985, mon NN est 85.07.30-033.28 et mon compte BE68 5390 0754 7034. "
        "Rappelez-moi au 0470 12 34 56 ou écrivez à jan.peeters@example.be. Le dossier 2026/0012 coûte 75 €.",
        "Bonjour, je suis né le 30/07/1985, mon NN est [NATIONAL_NUMBER] et mon compte [IBAN]. "
        "Rappelez-moi au [PHONE] ou écrivez à [EMAIL]. Le dossier 2026/0012 coûte 75 €.",
    ),
    (
        "nl",
        "Mijn rijksregisternummer is 85073003328, rekening NL91ABNA0417164300; bel +32 2 279 22 11 "
        "of mail an.janssens@example.be voor 1000 Brussel, 12,50 EUR.",
        "Mijn rijksregisternummer is [NATIONAL_NUMBER], rekening [IBAN]; bel [PHONE] "
        "of mail [EMAIL] voor 1000 Brussel, 12,50 EUR.",
    ),
    (
        "en",
        "My national number is 85 07 30 033 28 and my IBAN is FR14 2004 1010 0505 0001 3M02 606. "
        "Call me on +33 1 23 45 67 89 (not before 09:00 on 12.03.2026) or at john@example.org!",
        "My national number is [NATIONAL_NUMBER] and my IBAN is [IBAN]. "
        "Call me on [PHONE] (not before 09:00 on 12.03.2026) or at [EMAIL]!",
    ),
]


def restore(redacted: str, matches: tuple[PIIMatch, ...]) -> str:
    out = redacted
    for match in matches:
        out = out.replace(privacy.LABELS[match.kind], match.text, 1)
    return out


@pytest.mark.parametrize(("language", "original", "expected"), ROUND_TRIPS)
def test_round_trip_in_fr_nl_en(language: str, original: str, expected: str) -> None:
    result = redact(original)
    assert result.text == expected, language
    assert [original[m.start : m.end] for m in result.matches] == [m.text for m in result.matches]
    assert {m.kind for m in result.matches} == {"national_number", "iban", "phone", "email"}
    assert result.found and result.kinds() == {"national_number", "iban", "phone", "email"}
    assert restore(result.text, result.matches) == original


@pytest.mark.parametrize(("language", "original", "expected"), ROUND_TRIPS)
def test_mask_style_keeps_length_and_offsets(language: str, original: str, expected: str) -> None:
    result = redact(original, style="mask")
    assert len(result.text) == len(original)
    for match in result.matches:
        masked = result.text[match.start : match.end]
        assert set(masked) - set(" .-/()+@") <= {"*"}, (language, masked)
    assert "85" not in result.text[result.matches[0].start : result.matches[0].end]
    assert redact(result.text).matches == ()  # nothing recognisable is left


def test_kinds_restricts_what_is_redacted() -> None:
    text = "NN 85.07.30-033.28, tel 02 279 22 11"
    assert redact(text, kinds=["national_number"]).text == "NN [NATIONAL_NUMBER], tel 02 279 22 11"
    assert [m.kind for m in detect(text, kinds={"phone"})] == ["phone"]


def test_text_without_pii_comes_back_unchanged() -> None:
    text = "Je veux me marier à Bruxelles, je dois faire quoi ?\x00\t\n"
    result = redact(text)
    assert result.text == text and result.matches == () and not result.found


def test_a_long_message_is_redacted_entirely() -> None:
    line = "NN 85.07.30-033.28 IBAN BE68 5390 0754 7034 tel 0470 12 34 56 mail a@example.be, 150 €.\n"
    result = redact(line * 2000)
    assert len(result.matches) == 8000
    assert result.text == ("NN [NATIONAL_NUMBER] IBAN [IBAN] tel [PHONE] mail [EMAIL], 150 €.\n" * 2000)


# --- bad input --------------------------------------------------------------------------------------


def test_bad_input_gets_a_clear_error() -> None:
    with pytest.raises(PrivacyError, match=r"needs a str, got bytes; decode bytes first"):
        detect(b"85073003328")  # type: ignore[arg-type]
    with pytest.raises(
        PrivacyError, match=r"unknown redaction style 'stars'; choose among \['label', 'mask'\]"
    ):
        redact("x", style="stars")  # type: ignore[arg-type]
    with pytest.raises(PrivacyError, match=r"unknown PII kind\(s\) \['passport'\]"):
        detect("x", kinds=["passport"])  # type: ignore[list-item]
    with pytest.raises(PrivacyError, match=r"not the string 'iban'; use \['iban'\]"):
        detect("x", kinds="iban")  # type: ignore[arg-type]
    assert issubclass(PrivacyError, ContactCenterError) and issubclass(PrivacyError, ValueError)


def test_validators_reject_non_numbers_without_raising() -> None:
    assert not is_valid_national_number("hello world")
    assert not is_valid_iban("hello world")
    assert not is_valid_iban("")
    assert not is_valid_national_number("٨٥٠٧٣٠٠٣٣٢٨")  # Arabic-Indic digits are not a Belgian number


@settings(max_examples=300)
@given(text=st.text(alphabet="0123456789 +()./-@aBEé\n", max_size=200))
def test_any_text_gives_ordered_disjoint_matches_that_quote_the_source(text: str) -> None:
    matches = detect(text)
    assert all(text[m.start : m.end] == m.text and m.start < m.end for m in matches)
    assert all(a.end <= b.start for a, b in itertools.pairwise(matches))
    result = redact(text)
    assert result.matches == tuple(matches)
    assert restore(result.text, result.matches) == text
