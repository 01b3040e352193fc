"""The nudge e-mail, in French, Dutch or English: where the citizen stopped, what helps, and a link back."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from contact_center.journeys.procedures import Procedure
from contact_center.models import Hit

__all__ = ["NUDGE_LANGUAGES", "build_nudge", "choose_language", "nudge_message_id", "primary_language"]

_TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "subject": "Votre démarche « {title} » vous attend",
        "hello": "Bonjour,",
        "stopped": "Vous avez commencé la démarche « {title} » sur le portail de la Ville de Bruxelles "
        "et vous vous êtes arrêté·e à l'étape « {step} ».",
        "help": "Ces informations peuvent vous aider à la terminer :",
        "resume": "Reprendre exactement où vous en étiez (lien valable jusqu'au {expires}) :",
        "why": "Vous recevez ce message parce que vous avez accepté d'être prévenu·e au sujet de vos "
        "démarches en ligne. Un seul rappel est envoyé par démarche.",
    },
    "nl": {
        "subject": "Uw aanvraag „{title}” wacht op u",
        "hello": "Goedendag,",
        "stopped": "U bent de aanvraag „{title}” gestart op het portaal van de Stad Brussel en gestopt "
        "bij de stap „{step}”.",
        "help": "Deze informatie kan u helpen om ze af te ronden:",
        "resume": "Ga verder waar u gebleven was (link geldig tot {expires}):",
        "why": "U ontvangt dit bericht omdat u ermee instemde herinnerd te worden aan uw online aanvragen. "
        "Per aanvraag wordt slechts één herinnering verstuurd.",
    },
    "en": {
        "subject": "Your “{title}” application is waiting for you",
        "hello": "Hello,",
        "stopped": "You started “{title}” on the City of Brussels portal and stopped at the step “{step}”.",
        "help": "This information may help you finish it:",
        "resume": "Pick up exactly where you left off (link valid until {expires}):",
        "why": "You receive this message because you agreed to be reminded about your online procedures. "
        "Only one reminder is sent per procedure.",
    },
}
NUDGE_LANGUAGES: tuple[str, ...] = tuple(_TEXT)
_EXCERPT = 400


def primary_language(lang: str | None) -> str:
    """The language without its region (``nl-BE``, ``fr_BE`` are ``nl`` and ``fr``); "" for none.

    >>> primary_language("nl-BE")
    'nl'
    """
    return lang.strip().lower().replace("_", "-").split("-")[0] if lang else ""


def choose_language(candidates: Sequence[str | None]) -> str:
    """The first candidate language a nudge can be written in; English as the last resort.

    A region is ignored (``nl-BE``, ``fr_BE`` are Dutch and French).

    >>> choose_language(["de", "nl-BE", "fr"])
    'nl'
    """
    for lang in candidates:
        primary = primary_language(lang)
        if primary in _TEXT:
            return primary
    return "en"


def nudge_message_id(journey_id: str, sender: str) -> str:
    """A Message-ID derived from the journey, so a retried send is recognisably the same message."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "contact-center.brussels"
    digest = hashlib.sha256(journey_id.encode("utf-8")).hexdigest()[:32]
    return f"<journey-nudge.{digest}@{domain}>"


def _excerpt(text: str, heading: str) -> str:
    flat = " ".join(text.split())
    # Chunks repeat their document title and section as context; the bullet already shows them.
    if flat.startswith(heading):
        flat = flat[len(heading) :].lstrip(" :-—")
    return flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 1].rsplit(" ", 1)[0] + "…"


def build_nudge(
    *,
    procedure: Procedure,
    journey_id: str,
    step: str,
    language: str,
    to: str,
    sender: str,
    link: str,
    expires_at: datetime,
    hits: Sequence[Hit],
    now: datetime,
) -> EmailMessage:
    """The nudge message for one journey, with the help passages cited and the signed resume link."""
    words = _TEXT[language]
    title = procedure.title(language)
    step_label = procedure.step_title(step, language)
    lines = [words["hello"], "", words["stopped"].format(title=title, step=step_label), ""]
    if hits:
        lines += [words["help"], ""]
        for hit in hits:
            heading = f"{hit.title} — {hit.section}" if hit.section else hit.title
            lines += [f"• {heading}", f"  {_excerpt(hit.text, heading)}"]
            if hit.source_url:
                lines.append(f"  {hit.source_url}")
            lines.append("")
    lines += [words["resume"].format(expires=f"{expires_at:%Y-%m-%d %H:%M %Z}"), link, "", "--", words["why"]]
    msg = EmailMessage()
    msg["Subject"] = words["subject"].format(title=title)
    name, addr = parseaddr(sender)
    msg["From"] = Address(display_name=name, addr_spec=addr) if name else addr
    msg["To"] = to
    msg["Date"] = formatdate(now.timestamp(), localtime=False)
    msg["Message-ID"] = nudge_message_id(journey_id, sender)
    msg["Content-Language"] = language
    # Lets the bounce and reply handling of the channels package tie a reply back to the journey.
    msg["X-CC-Journey"] = journey_id
    msg.set_content("\n".join(lines))
    return msg
