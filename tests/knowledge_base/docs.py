"""Small procedure pages written by the tests, in every supported format."""

from __future__ import annotations

from pathlib import Path

MARRIAGE_FR = """---
id: test-marriage-fr
title: Déclaration de mariage
language: fr
topic: etat-civil
procedure: test-marriage
source_url: https://example.brussels/mariage
updated: 2026-01-15
---
# Déclaration de mariage

Les futurs époux déclarent leur mariage à l'état civil.

## Documents à fournir
- la carte d'identité des deux futurs époux
- un extrait d'acte de naissance

## Coût
| Acte | Prix |
|---|---|
| Déclaration | 25 EUR |

## Délai
La déclaration se fait au plus tôt six mois avant la date du mariage.
"""

PARKING_NL = """---
id: test-parking-nl
title: Bewonerskaart
language: nl
topic: mobiliteit
procedure: test-parking
source_url: https://example.brussels/parkeren
---
# Bewonerskaart

## Wie kan het aanvragen?
Bewoners met een voertuig ingeschreven op hun adres.

## Kostprijs
De eerste kaart kost 10 euro per jaar.

## Hoe aanvragen?
Online via het portaal of aan het loket.
"""

HTML_PAGE = """<!doctype html>
<html lang="en"><head><title>Bulky waste collection</title>
<meta name="cc:id" content="test-bulky-en"><meta name="cc:topic" content="proprete">
<link rel="canonical" href="https://example.brussels/bulky-waste"></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/menu">MENU NAVIGATION LINK</a></li></ul></nav>
<header><p>Site header banner text</p></header>
<main><article>
<h1>Bulky waste collection</h1>
<p>The City collects bulky household waste at your door on appointment, for residents of Brussels.</p>
<h2>Cost</h2>
<p>The first cubic metre is free of charge; each further cubic metre costs 25 euros.</p>
<h2>How to apply</h2>
<p>Book an appointment by phone on the free number 0800 981 81 at least two weeks in advance.</p>
</article></main>
<footer><p>Footer copyright notice</p></footer>
</body></html>
"""


def write_pdf(path: Path, lines: list[str]) -> Path:
    """Write a minimal, valid one-page PDF whose text layer holds ``lines`` (Helvetica, WinAnsi)."""
    text_ops = ["BT", "/F1 12 Tf", "14 TL", "72 760 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        text_ops.append(f"({escaped}) Tj T*")
    text_ops.append("ET")
    content = "\n".join(text_ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]
    return _write_objects(path, objects)


def write_image_only_pdf(path: Path) -> Path:
    """A valid PDF page with no text at all (as a scanned page would be)."""
    content = b"0 0 1 rg 72 72 200 200 re f"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]
    return _write_objects(path, objects)


def _write_objects(path: Path, objects: list[bytes]) -> Path:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path
