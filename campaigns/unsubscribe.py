"""One-click unsubscribe (RFC 8058): HMAC-signed tokens and the HTTP endpoint that honours them.

Every campaign message carries ``List-Unsubscribe: <https://.../unsubscribe?t=TOKEN>, <mailto:...>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``. A mail client's one-click POST to the URL
suppresses the address; a GET only shows a confirmation button, because link scanners fetch URLs without
the resident asking. Repeating the request is harmless (idempotent).
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from contact_center.errors import CampaignError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from starlette.applications import Starlette

__all__ = [
    "InvalidTokenError",
    "UnsubscribeMailReport",
    "make_token",
    "process_unsubscribe_mail",
    "unsubscribe_app",
    "unsubscribe_links",
    "verify_token",
]


class InvalidTokenError(CampaignError):
    """An unsubscribe token that is malformed or whose signature does not match."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=16)
def _keyed(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode(), b"unsubscribe\x00", "sha256")


def _signature(secret: str, payload: bytes) -> bytes:
    # A copy of the keyed state, rather than hmac.digest: OpenSSL 3 looks the digest up again on each
    # one-shot call, which made it twice the cost of the copy (once per message).
    mac = _keyed(secret).copy()
    mac.update(payload)
    return mac.digest()[:16]


def make_token(secret: str, email: str, campaign: str) -> str:
    """A URL-safe token naming the address and campaign, signed with the library's secret key."""
    payload = f"{campaign}\x00{email}".encode()
    return f"{_b64(payload)}.{_b64(_signature(secret, payload))}"


def verify_token(secret: str, token: str) -> tuple[str, str]:
    """Check a token's signature and return ``(email, campaign)``; raises :class:`InvalidTokenError`."""
    try:
        payload_part, signature_part = token.strip().split(".", 1)
        payload = _unb64(payload_part)
        signature = _unb64(signature_part)
        campaign, email = payload.decode().split("\x00", 1)
    except (ValueError, UnicodeDecodeError):
        raise InvalidTokenError(
            "malformed unsubscribe token; use the link from the e-mail as it is"
        ) from None
    if not hmac.compare_digest(signature, _signature(secret, payload)):
        raise InvalidTokenError(
            "unsubscribe token signature does not match; the link was altered or the key changed"
        )
    return email, campaign


def unsubscribe_links(base_url: str, mailto: str, token: str) -> tuple[str, str]:
    """The https and mailto forms of the List-Unsubscribe header for one token."""
    separator = "&" if "?" in base_url else "?"
    # Tokens are URL-safe base64 and '.', so only the space needs escaping.
    return f"{base_url}{separator}t={token}", f"mailto:{mailto}?subject=unsubscribe%20{token}"


_PAGE = """<!doctype html><html lang="fr"><meta charset="utf-8"><title>{title}</title>
<body><p>{body}</p></body></html>"""
_CONFIRM = """<!doctype html><html lang="fr"><meta charset="utf-8"><title>Désinscription / Uitschrijven</title>
<body><form method="post"><input type="hidden" name="t" value="{token}">
<p>Ne plus recevoir ces messages ? / Deze berichten niet meer ontvangen?</p>
<button type="submit">Se désinscrire / Uitschrijven</button></form></body></html>"""


_MAX_FORM = 16 * 1024


def unsubscribe_app(
    engine: Engine, secret: str, *, on_unsubscribe: Callable[[str, str], None] | None = None
) -> Starlette:
    """The Starlette app serving ``/unsubscribe`` (GET: confirmation form; POST: suppress, RFC 8058).

    Run it with ``uvicorn`` (the CLI's ``campaigns unsubscribe-server`` does). ``on_unsubscribe`` is
    called with ``(email, campaign)`` after each new suppression.
    """
    from html import escape
    from urllib.parse import parse_qs

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from campaigns.contacts import suppress

    async def handle(request: Request) -> Response:
        token = request.query_params.get("t", "")
        if request.method == "POST" and not token:
            # Parsed by hand: starlette's form parser needs python-multipart, which we do not depend on.
            # The form holds one token; a public endpoint does not read a larger body into memory.
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > _MAX_FORM:
                    return PlainTextResponse(
                        "request body too large for an unsubscribe form", status_code=413
                    )
            fields = parse_qs(body.decode("utf-8", "replace"))
            token = fields.get("t", [""])[0]
        if not token:
            return PlainTextResponse(
                "missing token: use the unsubscribe link from the e-mail", status_code=400
            )
        try:
            email, campaign = verify_token(secret, token)
        except InvalidTokenError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        if request.method == "GET":
            return HTMLResponse(_CONFIRM.format(token=escape(token)))
        if suppress(engine, email, "unsubscribed", f"one-click from campaign {campaign}") and on_unsubscribe:
            on_unsubscribe(email, campaign)
        return HTMLResponse(
            _PAGE.format(
                title="Désinscrit / Uitgeschreven",
                body="Vous ne recevrez plus ces messages. / U ontvangt deze berichten niet meer.",
            )
        )

    return Starlette(routes=[Route("/unsubscribe", handle, methods=["GET", "POST"])])


# "%20": some clients copy the link's subject without decoding it.
_MAILED_TOKEN = re.compile(r"unsubscribe(?:\s+|%20)([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)", re.IGNORECASE)


@dataclass(slots=True)
class UnsubscribeMailReport:
    """What a pass over the unsubscribe mailbox did."""

    messages: int = 0
    unsubscribed: int = 0
    invalid: int = 0
    other: int = 0


def process_unsubscribe_mail(engine: Engine, secret: str, maildir: Path | str) -> UnsubscribeMailReport:
    """Act on the ``mailto:`` form of List-Unsubscribe: suppress each address whose request carries a valid token.

    A request (subject ``unsubscribe TOKEN``, as the header's link writes it) is flagged seen once acted
    on. A message with an invalid token, or any other message, is left unread for a person to handle.
    """
    from campaigns.bounces import unread_messages
    from campaigns.contacts import suppress

    report = UnsubscribeMailReport()
    for parsed, seen in unread_messages(maildir, "unsubscribe"):
        report.messages += 1
        text = str(parsed.get("Subject", ""))
        if not parsed.is_multipart() and parsed.get_content_maintype() == "text":
            text += "\n" + str(parsed.get_payload())
        found = _MAILED_TOKEN.search(text)
        if found is None:
            report.other += 1
            continue
        try:
            email, campaign = verify_token(secret, found.group(1))
        except InvalidTokenError:
            report.invalid += 1
            continue
        suppress(engine, email, "unsubscribed", f"by e-mail from campaign {campaign}")
        report.unsubscribed += 1
        seen()
    return report
