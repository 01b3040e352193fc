"""Resume links: the procedure's resume URL for one journey and step, HMAC-signed and expiring.

The portal checks the link with :func:`verify_resume_link` before it restores the journey, so a link
cannot be edited to open another journey or another step, and stops working after its TTL.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from contact_center.errors import ResumeLinkError

__all__ = ["sign_resume_link", "verify_resume_link"]


def _key(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else key


def _signature(key: str | bytes, journey_id: str, step: str, expires: int) -> str:
    message = f"resume\n{journey_id}\n{step}\n{expires}".encode()
    return hmac.new(_key(key), message, hashlib.sha256).hexdigest()[:32]


def sign_resume_link(
    template: str, *, procedure: str, journey_id: str, step: str, key: str | bytes, expires_at: datetime
) -> str:
    """The resume URL for ``journey_id`` at ``step``, with ``exp`` and ``sig`` query parameters.

    >>> url = sign_resume_link("https://x.brussels/{journey_id}/{step}", procedure="p", journey_id="j1",
    ...                        step="documents", key="k", expires_at=datetime(2030, 1, 1, tzinfo=UTC))
    >>> url.split("?")[0]
    'https://x.brussels/j1/documents'
    """
    expires = int(expires_at.timestamp())
    base = template.format(
        journey_id=quote(journey_id, safe=""), step=quote(step, safe=""), procedure=quote(procedure, safe="")
    )
    signed = urlencode({"exp": expires, "sig": _signature(key, journey_id, step, expires)})
    # Into the query, before any fragment: a browser never sends the fragment to the portal.
    parts = urlsplit(base)
    query = f"{parts.query}&{signed}" if parts.query else signed
    return urlunsplit(parts._replace(query=query))


def verify_resume_link(
    url: str, *, journey_id: str, step: str, key: str | bytes, now: datetime | None = None
) -> datetime:
    """Check a resume link for ``journey_id`` and ``step``; return when it expires.

    Raises ResumeLinkError when the signature is missing or does not match (the link was altered or
    is for another journey or step) or when the link has expired, and ValueError for a naive ``now``.
    """
    if now is not None and now.utcoffset() is None:
        raise ValueError(f"now={now.isoformat()} has no timezone; pass datetime.now(UTC)")
    query = parse_qs(urlsplit(url).query)
    try:
        expires = int(query["exp"][0])
        sig = query["sig"][0]
    except (KeyError, IndexError, ValueError):
        raise ResumeLinkError(
            "the resume link has no valid 'exp' and 'sig' parameters; ask for a new link"
        ) from None
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (an edited link).
    expected = _signature(key, journey_id, step, expires).encode("ascii")
    if not hmac.compare_digest(sig.encode("utf-8", "surrogateescape"), expected):
        raise ResumeLinkError(
            "the resume link's signature does not match this journey and step; it was altered"
        )
    expires_at = datetime.fromtimestamp(expires, tz=UTC)
    if (now or datetime.now(UTC)) >= expires_at:
        raise ResumeLinkError(
            f"the resume link expired on {expires_at.isoformat()}; sign in to the portal to continue the procedure"
        )
    return expires_at
