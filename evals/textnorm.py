"""Text normalisation for fact matching and number grounding.

An answer states "25 €" where the golden fact says "25 euros", "25 EUR" or "€25,00"; all of them must
match. Text is lower-cased, stripped of accents, split into words, numbers are put in one canonical
form (``1.000`` and ``1 000`` are ``1000``, ``25,00`` is ``25``, ``2,5`` is ``2.5``) and every way of
writing the euro becomes ``eur``, after its amount.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["contains_fact", "extract_numbers", "normalize_tokens"]

# Thousands grouped by space, dot or narrow no-break space (FR/NL), or by comma (EN), then a decimal part.
_NUMBER = re.compile(
    r"\d{1,3}(?:[ .\u00a0\u202f]\d{3})+(?:,\d+)?(?!\d)"
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)"
    r"|\d+(?:[.,]\d+)?"
)
_CURRENCY = {"€": "eur", "eur": "eur", "euro": "eur", "euros": "eur"}
_CITATION_MARK = re.compile(r"\[\d+\]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _canonical_number(raw: str) -> str:
    s = raw.replace("\u00a0", " ").replace("\u202f", " ")
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        s = s.replace(",", "")
    else:
        if re.fullmatch(r"\d{1,3}(?:[ .]\d{3})+(?:,\d+)?", s):
            s = s.replace(" ", "").replace(".", "")
        s = s.replace(",", ".")
    if "." in s:
        whole, frac = s.split(".", 1)
        frac = frac.rstrip("0")
        whole = whole.lstrip("0") or "0"
        return f"{whole}.{frac}" if frac else whole
    return s.lstrip("0") or "0"


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalize_tokens(text: str) -> list[str]:
    """Split ``text`` into normalised tokens: words without accents, canonical numbers, ``eur``.

    >>> normalize_tokens("Coût : €25,00 (vingt-cinq Euros)")
    ['cout', '25', 'eur', 'vingt', 'cinq', 'eur']
    """
    text = _CITATION_MARK.sub(" ", text)
    text = _strip_accents(text.lower()).replace("€", " € ")
    tokens: list[str] = []
    pos = 0
    for match in _NUMBER.finditer(text):
        tokens.extend(_words(text[pos : match.start()]))
        tokens.append(_canonical_number(match.group()))
        pos = match.end()
    tokens.extend(_words(text[pos:]))
    # "€ 25" and "EUR 25" say the same as "25 €": put the currency after its amount.
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] == "eur" and i + 1 < len(tokens) and _is_number(tokens[i + 1]):
            out.extend([tokens[i + 1], "eur"])
            i += 2
            continue
        out.append(tokens[i])
        i += 1
    return out


def _words(chunk: str) -> list[str]:
    out: list[str] = []
    for piece in chunk.split():
        if piece == "€":
            out.append("eur")
            continue
        for word in _WORD.findall(piece):
            currency = _CURRENCY.get(word, word)
            if currency:
                out.append(currency)
    return out


def _is_number(token: str) -> bool:
    return bool(re.fullmatch(r"\d+(?:\.\d+)?", token))


def contains_fact(answer: str, fact: str) -> bool:
    """True when the normalised ``fact`` appears, as whole tokens in order, in the normalised ``answer``.

    >>> contains_fact("La carte coûte 25 EUR.", "25 €")
    True
    >>> contains_fact("La carte coûte 125 EUR.", "25 €")
    False
    """
    needle = normalize_tokens(fact)
    if not needle:
        return False
    hay = normalize_tokens(answer)
    n = len(needle)
    return any(hay[i : i + n] == needle for i in range(len(hay) - n + 1))


def extract_numbers(text: str) -> set[str]:
    """The canonical numbers stated in ``text`` (citation markers such as ``[1]`` left out).

    >>> sorted(extract_numbers("Ouvert de 9 à 12h30, coût 1.000 € [2]"))
    ['1000', '12', '30', '9']
    """
    return {t for t in normalize_tokens(text) if _is_number(t)}
