from __future__ import annotations

import email.policy
import os
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from campaigns import Campaigns, Contact, TemplateSet, load_templates, plan_languages
from campaigns import templates as templates_module
from campaigns.templates import RenderedMessage, wire_message
from contact_center.errors import TemplateRenderError
from contact_center.settings import Settings
from tests.campaigns.helpers import make_settings, resident, write_csv

AVAILABLE = ["fr", "nl", "en"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", ("fr",)),
        ("nl", ("nl",)),
        ("en", ("en", "fr", "nl")),  # courtesy part first, then the two official languages
        ("es", ("fr", "nl")),  # no Spanish template: bilingual only
        ("", ("fr", "nl")),
    ],
)
def test_administrative_policy_follows_the_language_law(language: str, expected: tuple[str, ...]) -> None:
    assert (
        plan_languages(language, AVAILABLE, policy="administrative", fallback=["fr", "nl", "en"]) == expected
    )


def test_courtesy_part_can_be_turned_off_and_contact_language_policy() -> None:
    assert plan_languages("en", AVAILABLE, policy="administrative", fallback=[], courtesy=False) == (
        "fr",
        "nl",
    )
    assert plan_languages("en", AVAILABLE, policy="contact-language", fallback=["fr"]) == ("en",)
    assert plan_languages("es", AVAILABLE, policy="contact-language", fallback=["nl", "fr"]) == ("nl",)
    assert plan_languages("es", ["de"], policy="contact-language", fallback=["nl"]) == ("de",)


def _create(service: Campaigns, templates: Path, segment: str = "consent = true", **kw: Any) -> None:
    service.create(
        "renewal",
        segment=segment,
        templates=templates,
        from_addr="Bureau des étrangers <etrangers@example.brussels>",
        **kw,
    )


def test_preview_in_each_language(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None]
) -> None:
    populated([resident(1, "nl"), resident(2, "en"), resident(3, "fr")])
    _create(service, templates_dir)
    nl = service.preview("renewal", "resident1@example.org")
    assert str(nl["Subject"]).startswith("Uw verblijfsvergunning vervalt op")
    assert nl["Content-Language"] == "nl"
    en = service.preview("renewal", "resident2@example.org")
    assert en["Content-Language"] == "en, fr, nl"
    text = en.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.index("Dear First2") < text.index("Bonjour First2") < text.index("Beste First2")
    html = en.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert '<div lang="en">' in html and '<div lang="nl">' in html
    forced = service.preview("renewal", "resident2@example.org", language="nl")
    assert forced["Content-Language"] == "nl"
    assert forced["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://example.brussels/unsubscribe?t=" in forced["List-Unsubscribe"]
    assert "<mailto:unsubscribe@example.brussels?subject=unsubscribe%20" in forced["List-Unsubscribe"]
    with pytest.raises(TemplateRenderError, match="no 'de' template"):
        service.preview("renewal", "resident2@example.org", language="de")


def test_a_byte_order_mark_in_a_template_file_is_not_sent(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None]
) -> None:
    # Notepad and some editors save UTF-8 with a BOM; it must not become an invisible first character.
    for name in ("nl.subject.txt", "nl.txt"):
        path = templates_dir / name
        path.write_text("\ufeff" + path.read_text(encoding="utf-8"), encoding="utf-8")
    populated([resident(1, "nl")])
    _create(service, templates_dir)
    message = service.preview("renewal", "resident1@example.org")
    assert str(message["Subject"]).startswith("Uw verblijfsvergunning vervalt op")
    assert message.get_body(("plain",)).get_content().startswith("Beste First1")  # type: ignore[union-attr]


def test_html_is_escaped_text_is_not(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None]
) -> None:
    populated([resident(1, "fr", first_name="<b>Zoë & co</b>")])
    _create(service, templates_dir)
    message = service.preview("renewal", "resident1@example.org")
    assert "&lt;b&gt;Zoë &amp; co&lt;/b&gt;" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Bonjour <b>Zoë & co</b>" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_missing_variable_blocks_scheduling_and_names_the_contacts(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None]
) -> None:
    (templates_dir / "nl.txt").write_text(
        "Beste {{ first_name }}, uw dossier {{ dossier_number }}\n", encoding="utf-8"
    )
    populated([resident(i, "nl" if i % 2 else "fr") for i in range(1, 30)])
    _create(service, templates_dir)
    problems = service.check("renewal")
    assert len(problems) == 1
    assert problems[0].language == "nl" and "'dossier_number' is undefined" in problems[0].error
    assert problems[0].count == 15 and problems[0].contacts[0] == "resident1@example.org"
    with pytest.raises(TemplateRenderError) as info:
        service.schedule("renewal")
    assert "resident1@example.org" in str(info.value) and "and 5 more" in str(info.value)
    assert service.status("renewal").counts["pending"] == 0  # nothing queued


def test_sandbox_blocks_attribute_tricks(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None]
) -> None:
    (templates_dir / "fr.txt").write_text(
        "{{ first_name.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8"
    )
    populated([resident(1, "fr")])
    _create(service, templates_dir)
    assert service.check("renewal")[0].error.startswith("access to attribute")


def test_template_folder_errors(tmp_path: Path, templates_dir: Path, service: Campaigns) -> None:
    with pytest.raises(TemplateRenderError, match="does not exist"):
        load_templates(tmp_path / "nowhere")
    (templates_dir / "de.txt").write_text("Hallo", encoding="utf-8")
    with pytest.raises(TemplateRenderError, match=r"'de' .* lacks de.subject.txt"):
        load_templates(templates_dir)
    (templates_dir / "de.txt").unlink()
    (templates_dir / "fr.txt").write_text("Bonjour {{ first_name ", encoding="utf-8")
    with pytest.raises(TemplateRenderError, match=r"fr.txt, line 1"):
        load_templates(templates_dir)


def test_administrative_policy_requires_french_and_dutch(
    tmp_path: Path, templates_dir: Path, service: Campaigns
) -> None:
    for name in ("nl.txt", "nl.subject.txt", "nl.html"):
        (templates_dir / name).unlink()
    with pytest.raises(TemplateRenderError, match="needs French and Dutch templates; missing: nl"):
        _create(service, templates_dir)
    _create(service, templates_dir, language_policy="contact-language")


def test_contact_language_policy_from_settings(tmp_path: Path, templates_dir: Path) -> None:
    settings: Settings = make_settings(
        tmp_path / "d", language_policy="contact-language", fallback_languages=["en"]
    )
    service = Campaigns(settings)

    service.import_contacts(write_csv(tmp_path / "r.csv", [resident(1, "es")]))
    _create(service, templates_dir)
    assert service.preview("renewal", "resident1@example.org")["Content-Language"] == "en"


def test_headers_survive_the_wire_in_any_script(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None]
) -> None:
    subject = "Votre titre de séjour — {{ first_name }} — تصريح الإقامة — 在留カード " * 2
    (templates_dir / "fr.subject.txt").write_text(subject, encoding="utf-8")
    populated([resident(1, "fr", first_name="Zoë", last_name="Ağaoğlu")])
    _create(service, templates_dir)
    message = service.preview("renewal", "resident1@example.org")
    assert str(message["Subject"]) == " ".join(subject.replace("{{ first_name }}", "Zoë").split())
    assert message["To"].addresses[0].display_name == "Zoë Ağaoğlu"
    assert message["From"].addresses[0].display_name == "Bureau des étrangers"


def test_one_render_per_language_matches_rendering_each_part() -> None:
    """Subject, text and HTML render as one template per language; the result is the parts' own."""
    sources = {
        "fr": {
            "subject": "{% set who = 'x' %}Titre de {{ first_name }}\n",
            "text": "Bonjour {{ first_name }} ({{ who | default('no set leaks') }}),\n{{ permit_expires|date }}\n",
            "html": "<p>{{ first_name }} &amp; {{ last_name }} {% for i in range(2) %}{{ i }}{% endfor %}</p>\n",
        },
        "nl": {"subject": "Titel", "text": "Beste {{ first_name }}"},
    }
    templates = TemplateSet(sources)
    contact = Contact(email="a@example.org", first_name="<b>Zoë</b>", last_name="O'Brien & co", language="fr")
    extra = {"unsubscribe_url": "https://example.brussels/u?t=1&x=2", "campaign": "c"}
    for languages in (("fr",), ("nl",), ("fr", "nl")):
        combined = templates.render(contact, languages, extra)
        templates._combined = dict.fromkeys(templates._combined)  # force one render per part
        separate = templates.render(contact, languages, extra)
        templates = TemplateSet(sources)
        assert combined == separate
    fr = templates.render(contact, ("fr",), extra)
    assert fr.subject == "Titre de <b>Zoë</b>" and "(no set leaks)" in fr.text
    assert fr.html == '<div lang="fr"><p>&lt;b&gt;Zoë&lt;/b&gt; &amp; O&#39;Brien &amp; co 01</p></div>'


def _parts(wire: bytes) -> list[EmailMessage]:
    parsed = message_from_bytes(wire, policy=email.policy.default)
    return [p for p in parsed.walk() if not p.is_multipart()]  # type: ignore[misc]


def _content(part: EmailMessage) -> str:
    """A text part's content with the wire's CRLF line endings read as a mail client shows them."""
    return str(part.get_content()).replace("\r\n", "\n")


def test_bodies_travel_as_text_and_long_lines_as_quoted_printable() -> None:
    contact = Contact(email="a@example.org", first_name="Zoë", last_name="Peeters", language="fr")
    long_line = "Pièces à fournir : " + "passeport, photo, preuve d'adresse; " * 40  # ~1,400 octets
    rendered = RenderedMessage(
        ("fr",), "Titre de séjour", f"Bonjour Zoë,\n{long_line}\r\nMerci.\n", "<p>ok</p>"
    )
    wire = wire_message(rendered, from_addr="B <b@example.brussels>", to=contact, message_id="<m@x>")
    assert all(len(line) <= 998 for line in wire.split(b"\r\n"))
    assert b"\n" not in wire.replace(b"\r\n", b"")  # CRLF only: no bare line feed or carriage return
    text, html = _parts(wire)
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert _content(text) == f"Bonjour Zoë,\n{long_line}\nMerci.\n"
    assert (html["Content-Transfer-Encoding"], _content(html)) == ("7bit", "<p>ok</p>")
    short = RenderedMessage(("fr",), "Titre", "Déjà vu\n", None)
    (only,) = _parts(wire_message(short, from_addr="b@example.brussels", to=contact, message_id="<n@x>"))
    assert (only["Content-Transfer-Encoding"], _content(only)) == ("8bit", "Déjà vu\n")


def test_text_that_looks_like_the_boundary_does_not_split_the_message() -> None:
    """Bodies are no longer base64, so a contact's data could hold the next boundaries themselves."""
    upcoming = next(templates_module._BOUNDARIES)
    forged = "".join(f"--=_cc_{os.getpid():x}_{n:x}\n" for n in range(upcoming, upcoming + 10))
    contact = Contact(email="a@example.org", first_name="Zoë", last_name="", language="fr")
    rendered = RenderedMessage(("fr",), "S", f"Bonjour\n{forged}fin\n", f"<p>{forged}</p>")
    wire = wire_message(rendered, from_addr="b@example.brussels", to=contact, message_id="<m@x>")
    text, html = _parts(wire)
    assert _content(text) == rendered.text
    assert _content(html) == rendered.html


def test_a_line_break_in_a_name_cannot_add_a_header() -> None:
    for first in (
        "Ana\r\nBcc: evil@example.org",
        "Ana\nBcc: evil@example.org",
        "Ana\u2028Bcc: evil@example.org",
    ):
        contact = Contact(email="a@example.org", first_name=first, last_name="Peeters", language="fr")
        rendered = RenderedMessage(("fr",), "Titre", "Bonjour\n", None)
        wire = wire_message(rendered, from_addr="b@example.brussels", to=contact, message_id="<m@x>")
        parsed = message_from_bytes(wire, policy=email.policy.default)
        assert parsed["Bcc"] is None
        assert parsed["To"].addresses[0].display_name == "Ana Bcc: evil@example.org Peeters"
        assert parsed["To"].addresses[0].addr_spec == "a@example.org"


def test_a_template_file_that_is_not_utf8_is_named(templates_dir: Path) -> None:
    # Notepad's "ANSI" (Windows-1252) is a common way to save fr.txt with its accents.
    (templates_dir / "fr.txt").write_bytes("Votre titre de séjour expire.\n".encode("cp1252"))
    with pytest.raises(TemplateRenderError, match=r"fr\.txt, line 1 is not UTF-8.*save it as UTF-8"):
        load_templates(templates_dir)


def test_a_campaign_name_with_a_line_break_is_refused_before_it_reaches_a_header(
    service: Campaigns, templates_dir: Path
) -> None:
    # The name goes in every message's X-Campaign header: a line break there started a header of its own.
    from contact_center.errors import CampaignError

    with pytest.raises(CampaignError, match="line break or control character"):
        service.create(
            "renewal\nBcc: everyone@example.org",
            segment="consent = true",
            templates=templates_dir,
            from_addr="etrangers@example.brussels",
        )
    assert service.list_campaigns() == []


def test_a_template_failing_on_a_contacts_value_is_a_render_problem_not_a_traceback(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None]
) -> None:
    # Template code that works for most contacts and fails on one value (not a Jinja error): it used to
    # end check and schedule with a ZeroDivisionError traceback.
    (templates_dir / "fr.txt").write_text("Bonjour, part {{ 100 // (district|int) }}\n", encoding="utf-8")
    populated([resident(1, district="5"), resident(2, district="centre"), resident(3, district="4")])
    _create(service, templates_dir)
    problems = service.check("renewal")
    assert len(problems) == 1
    assert "ZeroDivisionError" in problems[0].error and problems[0].contacts == ["resident2@example.org"]
    with pytest.raises(TemplateRenderError) as info:
        service.schedule("renewal")
    assert "resident2@example.org" in str(info.value)
