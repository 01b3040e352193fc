"""Grounding check: the facts in a generated answer must come from the passages it cites.

A language model may write a plausible fee, date or phone number that no City page states. Before a
generated answer is shown, every number (amounts, dates, delays, phone numbers, postcodes, house numbers),
e-mail address, web address and street address in it is looked up in the cited passages; one that is not
there fails the check and the extractive answer (the passages themselves) is shown instead.

Numbers are compared as numbers ("25,00 €" matches "25 EUR"; "02 279 22 11" matches "02/279.22.11"), so a
model may reformat but not invent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from knowledge_base.text import fold

__all__ = ["GroundingReport", "check_grounding"]

_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_RE = re.compile(r"https?://[^\s)>\]]+|www\.[^\s)>\]]+")
# A phone number written in groups; compared digits-only.
_PHONE_RE = re.compile(
    r"(?:\+|\b00)\d{2,3}(?:[ ./-]?\(0\))?(?:[ ./-]?\d{1,4}){2,5}|\b0\d{1,3}(?:[ ./-]?\d{2,3}){2,4}"
)
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
_STREET_RE = re.compile(
    r"\b(?:rue|avenue|boulevard|bd|place|chaussee|quai|square|impasse|straat|laan|plein|steenweg|kaai|"
    r"street|road)\b(?: [a-z'-]+){1,4}",
)
_CITATION_MARK_RE = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True, slots=True)
class GroundingReport:
    """The outcome of a grounding check; ``unsupported`` lists what no cited passage states."""

    unsupported: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every checked fact is in a cited passage."""
        return not self.unsupported


def _number(token: str) -> str:
    """A canonical form: "1.250,00" -> "1250", "25,50" -> "25.5", "02" -> "02"."""
    token = token.strip(".,")
    grouped = re.fullmatch(r"(\d{1,3}(?:[.,]\d{3})+)(?:[.,](\d{1,2}))?", token)
    if grouped:
        token = re.sub(r"\D", "", grouped.group(1)) + (f".{grouped.group(2)}" if grouped.group(2) else "")
    token = token.replace(",", ".")
    if "." in token:
        token = token.rstrip("0").rstrip(".")
    return token


def _numbers(text: str) -> set[str]:
    out: set[str] = set()
    for token in _NUMBER_RE.findall(text):
        out.add(_number(token))
        # "10.30" in a passage may be an hour ("10.30 h") or parts of a date: allow its pieces
        out.update(p for p in re.split(r"[.,]", token) if p)
    return out


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def check_grounding(answer: str, passages: Iterable[str]) -> GroundingReport:
    """Check that every number, e-mail, URL and street in ``answer`` appears in ``passages``.

    >>> check_grounding("Le tarif est de 25 €.", ["Coût : 25 EUR"]).ok
    True
    >>> check_grounding("Le tarif est de 30 €.", ["Coût : 25 EUR"]).unsupported
    ['30']
    """
    source = "\n".join(passages)
    source_folded = fold(source)
    answer = _CITATION_MARK_RE.sub(" ", answer)
    unsupported: list[str] = []
    for email in _EMAIL_RE.findall(answer):
        if email.lower() not in source.lower():
            unsupported.append(email)
    for url in _URL_RE.findall(answer):
        if url.rstrip(".,;").lower() not in source.lower():
            unsupported.append(url)
    without_links = _URL_RE.sub(" ", _EMAIL_RE.sub(" ", answer))
    source_digits = {_digits(m) for m in _PHONE_RE.findall(source)}
    for phone in _PHONE_RE.findall(without_links):
        digits = _digits(phone)
        if (
            len(digits) >= 8
            and digits not in source_digits
            and not any(digits.endswith(s[-8:]) for s in source_digits if len(s) >= 8)
        ):
            unsupported.append(phone.strip())
    known = _numbers(source)
    for token in _NUMBER_RE.findall(_PHONE_RE.sub(" ", without_links)):
        if _number(token) not in known:
            unsupported.append(token)
    for street in _STREET_RE.findall(fold(without_links)):
        # the street type and the next word must appear together in a passage
        head = " ".join(street.split()[:2])
        if head not in source_folded:
            unsupported.append(street)
    return GroundingReport(unsupported=list(dict.fromkeys(unsupported)))
