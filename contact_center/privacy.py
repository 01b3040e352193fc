"""Detection and redaction of personal data in citizens' messages.

Four kinds are found, each validated beyond its shape so that amounts, dates, postcodes and file
numbers ("2026/0012") are left alone:

- ``national_number``: the Belgian national register number (rijksregisternummer / numéro de registre
  national), 11 digits ``YYMMDD SSS CC``, written ``85.07.30-033.28``, ``85073003328``,
  ``85 07 30 033 28``... It counts only when its 97-modulus check holds, under either century rule
  (born before 2000: ``97 - first9 % 97``; from 2000: ``97 - int("2" + first9) % 97``), and its month
  and day are plausible. Bis numbers (month + 20 or + 40) are included.
- ``iban``: an IBAN of a country in the ISO 13616 registry, at that country's exact length, whole or
  grouped by spaces or hyphens, whose mod-97 check holds.
- ``phone``: a Belgian landline or mobile number in the national form (``02 279 22 11``,
  ``0470/12.34.56``) or international form (``+32 2 279 22 11``, ``0032 470 12 34 56``,
  ``+32 (0)2...``), or any ``+CC`` / ``00CC`` international number of plausible length.
- ``email``: an e-mail address.

Example::

    >>> redact("Mon NN est 85.07.30-033.28, appelez-moi au 0470 12 34 56").text
    'Mon NN est [NATIONAL_NUMBER], appelez-moi au [PHONE]'

Only the standard library's ``re`` is used; every pattern is compiled once, at import.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, get_args

from contact_center.errors import PrivacyError

__all__ = [
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

PIIKind = Literal["national_number", "iban", "phone", "email"]
"""The kinds of personal data this module finds."""

RedactionStyle = Literal["label", "mask"]
"""``label`` replaces a match by its placeholder (``[IBAN]``); ``mask`` replaces each of its letters and
digits by ``*`` and keeps the rest, so the text keeps its length and the matches' offsets stay valid."""

_KINDS: tuple[PIIKind, ...] = get_args(PIIKind)
_STYLES: tuple[RedactionStyle, ...] = get_args(RedactionStyle)

LABELS: dict[PIIKind, str] = {
    "national_number": "[NATIONAL_NUMBER]",
    "iban": "[IBAN]",
    "phone": "[PHONE]",
    "email": "[EMAIL]",
}
"""The placeholder each kind is replaced by in the ``label`` style."""

# When two findings overlap, the more specific kind wins: an e-mail address may contain digits that
# look like a phone number, and a valid IBAN or national number must not be split by a phone match.
_PRIORITY: dict[PIIKind, int] = {"email": 0, "iban": 1, "national_number": 2, "phone": 3}

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
"""Total IBAN length (country code and check digits included) per country, from the ISO 13616 registry.

A country missing here is never flagged: mod-97 alone accepts one random string in 97."""


@dataclass(frozen=True, slots=True)
class PIIMatch:
    """One piece of personal data found in a text: ``text == source[start:end]``."""

    kind: PIIKind
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """A redacted text and the matches that were replaced (offsets refer to the original text)."""

    text: str
    matches: tuple[PIIMatch, ...]

    @property
    def found(self) -> bool:
        """Whether anything was redacted."""
        return bool(self.matches)

    def kinds(self) -> set[PIIKind]:
        """The kinds of personal data that were redacted."""
        return {m.kind for m in self.matches}


# --- validators -------------------------------------------------------------------------------------

# Characters people put between the digit groups of a number: space, no-break spaces, dot, hyphen.
_SEP = "[ .\\-\u00a0\u202f]"
_STRIP_SEPARATORS = re.compile(r"[\s.\-/]")
_LETTER_VALUES = str.maketrans({chr(c): str(c - ord("A") + 10) for c in range(ord("A"), ord("Z") + 1)})
_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+")
_IBAN_NOISE = re.compile(r"[\s\-]")


def _national_number_ok(digits: str) -> bool:
    month = int(digits[2:4])
    day = int(digits[4:6])
    # Month 0 / day 0 exist for people whose birth date is unknown; bis numbers add 20 or 40 to the month.
    if not (month <= 12 or 20 <= month <= 32 or 40 <= month <= 52) or day > 31:
        return False
    first9 = int(digits[:9])
    check = int(digits[9:])
    return check == 97 - first9 % 97 or check == 97 - (2_000_000_000 + first9) % 97


def is_valid_national_number(value: str) -> bool:
    """Whether ``value`` is a valid Belgian national register number (bis numbers included).

    Separators (spaces, dots, hyphens, slashes) are ignored. Both century rules are tried, so a number
    of someone born in 1985 or in 2005 is accepted.

    Example::

        >>> is_valid_national_number("85.07.30-033.28")
        True
        >>> is_valid_national_number("85.07.30-033.29")
        False
    """
    digits = _STRIP_SEPARATORS.sub("", value)
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        return False
    return _national_number_ok(digits)


def _iban_checksum_ok(compact: str) -> bool:
    return int((compact[4:] + compact[:4]).translate(_LETTER_VALUES)) % 97 == 1


def is_valid_iban(value: str) -> bool:
    """Whether ``value`` is a valid IBAN: registered country, its exact length, and the mod-97 check.

    Spaces and hyphens are ignored and letters may be lower case.

    Example::

        >>> is_valid_iban("BE68 5390 0754 7034")
        True
        >>> is_valid_iban("BE68 5390 0754 7035")
        False
    """
    compact = _IBAN_NOISE.sub("", value).upper()
    if not compact.isascii() or _IBAN_SHAPE.fullmatch(compact) is None:
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    return _iban_checksum_ok(compact)


# --- patterns ---------------------------------------------------------------------------------------

# The national number as 2-2-2-3-2 digits with optional separators. It must not be a slice of a longer
# number: no letter, digit or "+" right before it, no digit glued by punctuation before or after it.
# The lookahead capture finds overlapping candidates, so a failed one cannot hide a valid one.
_NATIONAL_NUMBER = re.compile(
    rf"(?<![\w+])(?<![0-9][.,/\-])"
    rf"(?=([0-9]{{2}}{_SEP}?[0-9]{{2}}{_SEP}?[0-9]{{2}}{_SEP}?[0-9]{{3}}{_SEP}?[0-9]{{2}})"
    rf"(?![0-9]|[.,/\-][0-9]))"
)


# Where an IBAN may start: two letters and two digits at the start of a word. The rest is matched by the
# pattern for that country's length, so a wrong length never matches and a failed match hides nothing.
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}", re.ASCII)
_IBAN_BODY: dict[int, re.Pattern[str]] = {
    length: re.compile(rf"[A-Za-z]{{2}}[0-9]{{2}}(?:[ \-\u00a0]?[A-Za-z0-9]){{{length - 4}}}(?![A-Za-z0-9])")
    for length in set(IBAN_LENGTHS.values())
}

_EMAIL = re.compile(r"(?<![\w.%+\-])[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}(?![\w\-])")

# A run of digit groups that might hold phone numbers; which part of it is one is decided by
# _phone_spans, group by group, because a regex alone cannot tell "02 279 22 11 2026" from a number.
_PHONE_RUN = re.compile(
    r"(?<![\w+])(?:\(?\+ ?)?\(?[0-9][0-9()]*(?:[ .\-/\u00a0\u202f]{1,2}\(?[0-9][0-9()]*)*", re.ASCII
)
_PHONE_GROUP = re.compile(r"\([0-9]{1,4}\)|[0-9]+")
_PHONE_START = re.compile(r"(?<![0-9])0")  # a group starting with 0: a national or "00" number

# How Belgians group a national number (digits per group); other shapes are dates, amounts or slices of
# longer numbers. 9 digits: landlines and 070/078/0800/0900 numbers; 10 digits: mobiles (045x-049x).
_LANDLINE_SHAPES = {(9,), (2, 7), (3, 6), (2, 3, 2, 2), (3, 2, 2, 2), (2, 3, 4), (4, 2, 3), (3, 3, 3), (4, 5)}
_MOBILE_SHAPES = {(10,), (4, 6), (4, 2, 2, 2), (4, 3, 3), (4, 2, 4), (3, 3, 2, 2), (2, 2, 2, 2, 2)}
_BE_MOBILE = re.compile(r"4[5-9]")

# E.164 country codes are prefix-free: these are the one- and two-digit ones, all others have three.
_CC_ONE = {"1", "7"}
_CC_TWO = {
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48",
    "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81",
    "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
}  # fmt: skip
# Lengths of the national significant number for countries whose citizens often write to Brussels;
# knowing them keeps a trailing unrelated number out of the match. Others get the E.164 bounds.
_NSN_LENGTHS: dict[str, set[int]] = {
    "1": {10}, "7": {10}, "31": {9}, "33": {9}, "34": {9}, "39": set(range(6, 12)), "40": {9},
    "41": {9}, "44": {9, 10}, "48": {9}, "49": set(range(6, 14)), "90": {10}, "212": {9}, "213": {8, 9},
    "216": {8}, "221": {9}, "237": {9}, "243": {9}, "351": {9},
}  # fmt: skip
_MAX_PHONE_GROUPS = 8


@dataclass(frozen=True, slots=True)
class _Group:
    digits: str
    start: int
    end: int
    paren: bool


def _country_code(digits: str) -> str:
    if digits[:1] in _CC_ONE:
        return digits[:1]
    if digits[:2] in _CC_TWO:
        return digits[:2]
    return digits[:3]


def _international_ok(digits: str) -> bool:
    """``digits``: country code and national number, trunk "(0)" already dropped."""
    if not 8 <= len(digits) <= 15 or digits[0] == "0":
        return False
    cc = _country_code(digits)
    nsn = digits[len(cc) :]
    # Only Italy keeps its leading 0 in international form; elsewhere a 0 here is a date or a serial.
    if nsn[:1] == "0" and cc != "39":
        return False
    if cc == "32":
        if _BE_MOBILE.match(nsn):
            return len(nsn) == 9
        return len(nsn) == 8 and nsn[0] != "0"
    allowed = _NSN_LENGTHS.get(cc)
    return len(nsn) in allowed if allowed is not None else len(nsn) >= 6


def _phone_ok(groups: list[_Group], plus: bool) -> bool:
    first = groups[0].digits
    if plus or (first.startswith("00") and len(first) > 2 and first[2] != "0"):
        # A trunk "(0)" after the country code is written but never dialled from abroad.
        kept = [groups[0].digits] + [g.digits for g in groups[1:] if not (g.paren and g.digits == "0")]
        digits = "".join(kept)
        if plus:
            return _international_ok(digits)
        # "00" is also how a date or a national number of someone born in 2000 begins ("002105 033 61",
        # "00210503361"): take it as a dialling prefix only when written "0032 ..." or as a long run.
        if len(groups) > 1 and len(first) != 2 + len(_country_code(first[2:])):
            return False
        if len(groups) == 1 and len(first) <= 11:
            return False
        return _international_ok(digits[2:])
    if any(g.paren for g in groups[1:]) or first[:1] != "0" or first[1:2] in ("", "0"):
        return False
    digits = "".join(g.digits for g in groups)
    shape = tuple(len(g.digits) for g in groups)
    if _BE_MOBILE.match(digits, 1):
        return len(digits) == 10 and shape in _MOBILE_SHAPES
    return len(digits) == 9 and shape in _LANDLINE_SHAPES


def _phone_spans(run: re.Match[str]) -> list[tuple[int, int]]:
    text = run.group()
    base = run.start()
    plus = "+" in text[:3]
    if not plus and _PHONE_START.search(text) is None:
        return []
    groups = [
        _Group(m.group().strip("()"), m.start(), m.end(), m.group().startswith("("))
        for m in _PHONE_GROUP.finditer(text)
    ]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        if not (groups[i].digits[:1] == "0" or groups[i].paren or (plus and i == 0)):
            i += 1  # cannot start a number: saves the inner loop on dates, amounts and file numbers
            continue
        found = 0
        counts = list(itertools.accumulate(len(g.digits) for g in groups[i : i + _MAX_PHONE_GROUPS]))
        # Longest first, so "0470 12 34 56" is not cut to a shorter number that also parses.
        for j in range(i + len(counts), i, -1):
            if 8 <= counts[j - i - 1] <= 17 and _phone_ok(groups[i:j], plus and i == 0):
                found = j
                break
        if found:
            start = 0 if (plus and i == 0) else groups[i].start
            spans.append((base + start, base + groups[found - 1].end))
            i = found
        else:
            i += 1
    return spans


# --- detection and redaction ------------------------------------------------------------------------


def _check_text(text: object, function: str) -> str:
    if not isinstance(text, str):
        raise PrivacyError(f"{function}() needs a str, got {type(text).__name__}; decode bytes first.")
    return text


def _check_kinds(kinds: Collection[str] | None) -> frozenset[str]:
    if kinds is None:
        return frozenset(_KINDS)
    if isinstance(kinds, str):
        raise PrivacyError(f"kinds must be a collection of kinds, not the string {kinds!r}; use [{kinds!r}].")
    unknown = sorted(set(kinds) - set(_KINDS))
    if unknown:
        raise PrivacyError(f"unknown PII kind(s) {unknown}; choose among {list(_KINDS)}.")
    return frozenset(kinds)


def _candidates(text: str, wanted: frozenset[str]) -> list[PIIMatch]:
    found: list[PIIMatch] = []
    if "email" in wanted and "@" in text:
        found += [PIIMatch("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    if not any(c.isdigit() for c in text):
        return found
    if "iban" in wanted:
        for start in _IBAN_START.finditer(text):
            length = IBAN_LENGTHS.get(start.group()[:2].upper())
            m = _IBAN_BODY[length].match(text, start.start()) if length else None
            if m is not None and _iban_checksum_ok(_IBAN_NOISE.sub("", m.group()).upper()):
                found.append(PIIMatch("iban", m.start(), m.end(), m.group()))
    if "national_number" in wanted:
        for m in _NATIONAL_NUMBER.finditer(text):
            value = m.group(1)
            if _national_number_ok(_STRIP_SEPARATORS.sub("", value)):
                found.append(PIIMatch("national_number", m.start(1), m.end(1), value))
    if "phone" in wanted:
        for run in _PHONE_RUN.finditer(text):
            found += [PIIMatch("phone", s, e, text[s:e]) for s, e in _phone_spans(run)]
    return found


def detect(text: str, *, kinds: Collection[PIIKind] | None = None) -> list[PIIMatch]:
    """Find the personal data in ``text``, in order of position, with no two matches overlapping.

    Args:
        text: any text (a chat message, an e-mail body, a transcript).
        kinds: restrict the search to these kinds; default: all of them.

    Raises:
        PrivacyError: ``text`` is not a string, or ``kinds`` names an unknown kind.

    Example::

        >>> [(m.kind, m.text) for m in detect("IBAN BE68 5390 0754 7034, jan@example.be")]
        [('iban', 'BE68 5390 0754 7034'), ('email', 'jan@example.be')]
    """
    text = _check_text(text, "detect")
    wanted = _check_kinds(kinds)
    candidates = _candidates(text, wanted)
    if len(candidates) <= 1:
        return candidates
    candidates.sort(key=lambda m: (_PRIORITY[m.kind], m.start - m.end, m.start))
    starts: list[int] = []
    kept: list[PIIMatch] = []  # sorted by start, pairwise disjoint
    for match in candidates:
        i = bisect.bisect_left(starts, match.start)
        if i > 0 and kept[i - 1].end > match.start:
            continue
        if i < len(kept) and kept[i].start < match.end:
            continue
        starts.insert(i, match.start)
        kept.insert(i, match)
    return kept


def _mask(value: str) -> str:
    return "".join("*" if c.isalnum() else c for c in value)


def redact(
    text: str, *, style: RedactionStyle = "label", kinds: Collection[PIIKind] | None = None
) -> RedactionResult:
    """Replace the personal data in ``text`` and return the new text with what was replaced.

    Args:
        text: any text.
        style: ``"label"`` puts ``[NATIONAL_NUMBER]``, ``[IBAN]``, ``[PHONE]`` or ``[EMAIL]`` in place of
            each match; ``"mask"`` replaces its letters and digits by ``*`` (same length, same offsets).
        kinds: redact only these kinds; default: all of them.

    Raises:
        PrivacyError: ``text`` is not a string, ``style`` or a kind is unknown.

    Example::

        >>> redact("Bel me op +32 470 12 34 56").text
        'Bel me op [PHONE]'
    """
    if style not in _STYLES:
        raise PrivacyError(f"unknown redaction style {style!r}; choose among {list(_STYLES)}.")
    matches = detect(_check_text(text, "redact"), kinds=kinds)
    if not matches:
        return RedactionResult(text, ())
    parts: list[str] = []
    position = 0
    for match in matches:
        parts.append(text[position : match.start])
        parts.append(LABELS[match.kind] if style == "label" else _mask(match.text))
        position = match.end
    parts.append(text[position:])
    return RedactionResult("".join(parts), tuple(matches))
