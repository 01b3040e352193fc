"""Detecting the language of a citizen's question, offline, among the languages the City serves.

Uses lingua (maintained, offline, accurate on short texts) restricted to the configured languages, so
that a three-word question is never classified as, say, Afrikaans. When lingua cannot decide (numbers
only, a single ambiguous word), the configured default is returned.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["LanguageDetector"]

_LINGUA_NAMES = {
    "fr": "FRENCH",
    "nl": "DUTCH",
    "en": "ENGLISH",
    "de": "GERMAN",
    "es": "SPANISH",
    "it": "ITALIAN",
    "pt": "PORTUGUESE",
    "ar": "ARABIC",
    "tr": "TURKISH",
    "pl": "POLISH",
    "ro": "ROMANIAN",
    "bg": "BULGARIAN",
    "el": "GREEK",
    "ru": "RUSSIAN",
    "uk": "UKRAINIAN",
    "zh": "CHINESE",
}


class LanguageDetector:
    """ISO 639-1 language of a text, among ``languages``.

    >>> LanguageDetector(["fr", "nl", "en"]).detect("Hoeveel kost een identiteitskaart?")
    'nl'
    """

    def __init__(self, languages: Sequence[str], *, default: str = "fr") -> None:
        unknown = [code for code in languages if code not in _LINGUA_NAMES]
        if unknown:
            from contact_center.errors import ConfigurationError

            raise ConfigurationError(
                f"cannot detect language(s) {', '.join(unknown)}; supported: {', '.join(_LINGUA_NAMES)}"
            )
        self.languages = list(dict.fromkeys(languages))
        self.default = default if default in self.languages else self.languages[0]
        self._detector: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._detector is None:
                from lingua import Language, LanguageDetectorBuilder

                langs = [getattr(Language, _LINGUA_NAMES[c]) for c in self.languages]
                if len(langs) == 1:
                    return None
                self._detector = LanguageDetectorBuilder.from_languages(*langs).build()
            return self._detector

    def detect(self, text: str) -> str:
        """The most likely language code, or the default when the text gives no clue."""
        detector = self._load()
        if detector is None:
            return self.default
        language = detector.detect_language_of(text)
        if language is None:
            return self.default
        code = str(language.iso_code_639_1.name).lower()
        return code if code in self.languages else self.default
