"""Text normalisation shared by the analysers: lower case, accents folded (``Délai`` -> ``delai``)."""

from __future__ import annotations

import unicodedata

__all__ = ["fold"]


def fold(text: str) -> str:
    """Lower-case ``text`` and strip its accents; typographic apostrophes become ``'``.

    >>> fold("Où s’adresser ?")
    "ou s'adresser ?"
    """
    nfkd = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in nfkd if not unicodedata.combining(c)).replace("\u2019", "'")
