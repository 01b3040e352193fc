"""Cost of redacting one citizen message with contact_center.privacy.

Run: ``python benchmarks/bench_privacy.py [--repeat N]``. Prints a Markdown table (p50, p95, max in
microseconds per message) for docs/benchmarks.md. Each case is timed ``--repeat`` times after a warm-up;
messages are fixed so runs compare.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from contact_center.privacy import redact

_PLAIN_FR = "Je veux me marier à Bruxelles, je dois faire quoi ? Et ça coûte combien pour le 12/03/2026 ?"
_PII_FR = (
    "Bonjour, mon NN est 85.07.30-033.28, compte BE68 5390 0754 7034, appelez-moi au 0470 12 34 56 "
    "ou écrivez à jan.peeters@example.be pour le dossier 2026/0012 (75 €)."
)
_PII_NL = "Mijn rijksregisternummer is 85073003328, bel +32 2 279 22 11 of mail an@example.be."
_LONG = (_PLAIN_FR + " " + _PII_FR + " ") * 8  # about 2,000 characters: the default max_question_chars

CASES: dict[str, str] = {
    "short, no PII (FR, 94 chars)": _PLAIN_FR,
    "short, 4 kinds of PII (FR, 165 chars)": _PII_FR,
    "short, 3 kinds of PII (NL, 84 chars)": _PII_NL,
    f"long, 32 PII ({len(_LONG)} chars)": _LONG,
}


def _measure(text: str, repeat: int) -> list[float]:
    for _ in range(min(repeat, 100)):
        redact(text)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        redact(text)
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def main() -> None:
    """Time redaction per message and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000, help="timed runs per case (default 2000)")
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, {args.repeat} runs per case\n")
    print("| message | p50 µs | p95 µs | max µs |")
    print("|---|---:|---:|---:|")
    for name, text in CASES.items():
        samples = sorted(_measure(text, args.repeat))
        p95 = samples[int(0.95 * (len(samples) - 1))]
        print(f"| {name} | {statistics.median(samples):.1f} | {p95:.1f} | {samples[-1]:.1f} |")


if __name__ == "__main__":
    main()
