"""Templates: per-language subject, text and HTML parts rendered in a Jinja2 sandbox, and the language policy.

A template directory holds ``<lang>.subject.txt``, ``<lang>.txt`` and optionally ``<lang>.html`` for each
language (``fr.subject.txt``, ``fr.txt``, ``fr.html``, ``nl.subject.txt``...). Rendering uses a
``SandboxedEnvironment`` with ``StrictUndefined``: a missing variable is an error, never an empty string.

The default, *administrative*, policy follows Brussels' law on the use of languages in administrative
matters: a contact whose language is French or Dutch is written to in that language; anyone else gets one
bilingual FR + NL message, preceded by a courtesy part in their own language when the campaign has a
template for it. The *contact-language* policy (for non-administrative mail) picks the contact's language,
then the configured fallback order.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email
import email.policy
import hashlib
import itertools
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import idna
from jinja2 import StrictUndefined, Template, TemplateError, TemplateRuntimeError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from campaigns.contacts import CORE_FIELDS, Contact
from contact_center.errors import TemplateRenderError

__all__ = [
    "CampaignMessage",
    "LanguagePolicy",
    "RenderedMessage",
    "TemplateSet",
    "build_message",
    "from_address",
    "load_templates",
    "message_from_wire",
    "message_id_for",
    "plan_languages",
    "wire_address",
    "wire_message",
]

LanguagePolicy = Literal["administrative", "contact-language"]
_OFFICIAL = ("fr", "nl")
# Long header lines are allowed (RFC 5322 caps lines at 998): with the default 78 the List-Unsubscribe
# URLs, which cannot be folded, would be turned into encoded-words that mail clients do not parse.
_FAST_POLICY = email.policy.compat32.clone(max_line_length=998)
_PART_SEPARATOR = "\n\n" + "-" * 40 + "\n\n"


def _format_date(value: Any, fmt: str = "%d/%m/%Y") -> str:
    if isinstance(value, date):
        return _strftime(value, fmt)
    return "" if value is None else str(value)


@lru_cache(maxsize=4096)
def _strftime(value: date, fmt: str) -> str:
    # A campaign's recipients share few dates, and date.strftime costs microseconds a call.
    return value.strftime(fmt)


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=False)
    env.filters["date"] = _format_date
    return env


_TEXT_ENV = _environment(False)
_HTML_ENV = _environment(True)


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """The rendered parts of one message, before it becomes an e-mail."""

    languages: tuple[str, ...]
    subject: str
    text: str
    html: str | None

    @property
    def language_key(self) -> str:
        """How the ledger and the status name this variant: ``fr``, ``nl``, ``fr+nl``, ``en+fr+nl``."""
        return "+".join(self.languages)


# Between the parts of a combined render (below). Should a contact's data contain it, the parts are
# rendered one by one instead, so the output never depends on it.
_SPLIT = "\x00\x1f\x00"


def _strip_one_newline(source: str) -> str:
    """What ``keep_trailing_newline=False`` does to a template on its own: drop one final line break."""
    for ending in ("\r\n", "\n", "\r"):
        if source.endswith(ending):
            return source[: -len(ending)]
    return source


class TemplateSet:
    """The templates of one campaign, compiled once, keyed by language.

    Each language's parts are compiled on their own (so a syntax error names its file and line) and
    also as one combined template, subject, text and HTML, each in its own scope, the HTML inside an
    autoescape block: one render call per language instead of three, which halves the rendering cost
    of a message.
    """

    def __init__(self, sources: Mapping[str, Mapping[str, str]]) -> None:
        """``sources`` maps language -> {"subject": ..., "text": ..., "html": ... (optional)}."""
        self.sources: dict[str, dict[str, str]] = {lang: dict(parts) for lang, parts in sources.items()}
        self._compiled: dict[str, dict[str, Any]] = {}
        self._combined: dict[str, Template | None] = {}
        for lang, parts in self.sources.items():
            compiled: dict[str, Any] = {}
            for part, text in parts.items():
                env = _HTML_ENV if part == "html" else _TEXT_ENV
                try:
                    compiled[part] = env.from_string(text)
                except TemplateSyntaxError as exc:
                    raise TemplateRenderError(
                        f"template {lang}.{_FILE_SUFFIX[part]}, line {exc.lineno}: {exc.message}. Fix the template."
                    ) from None
            self._compiled[lang] = compiled
            self._combined[lang] = self._combine(parts)

    @staticmethod
    def _combine(parts: Mapping[str, str]) -> Template | None:
        pieces = [
            "{% with %}" + _strip_one_newline(parts["subject"]) + "{% endwith %}",
            "{% with %}" + _strip_one_newline(parts["text"]) + "{% endwith %}",
        ]
        if "html" in parts:
            pieces.append(
                "{% with %}{% autoescape true %}"
                + _strip_one_newline(parts["html"])
                + "{% endautoescape %}{% endwith %}"
            )
        if any(_SPLIT in piece for piece in pieces):
            return None
        try:
            return _TEXT_ENV.from_string(_SPLIT.join(pieces))
        except TemplateSyntaxError:
            return None  # a part whose tags do not nest inside another's: rendered on its own

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the campaign has templates for, sorted."""
        return tuple(sorted(self.sources))

    def _render_parts(self, lang: str, ctx: dict[str, Any], with_html: bool) -> tuple[str, str, str]:
        compiled = self._compiled[lang]
        combined = self._combined[lang]
        if combined is not None:
            # Rendered in the caller's dict (``shared``), without the two copies ``render`` makes.
            parts = "".join(combined.root_render_func(combined.new_context(ctx, shared=True))).split(_SPLIT)
            if len(parts) == (3 if "html" in compiled else 2):
                return parts[0], parts[1], parts[2] if with_html else ""
        return (
            compiled["subject"].render(ctx),
            compiled["text"].render(ctx),
            compiled["html"].render(ctx) if with_html else "",
        )

    def render(self, contact: Contact, languages: Sequence[str], extra: Mapping[str, Any]) -> RenderedMessage:
        """Render the parts for ``languages`` (in that order) for one contact.

        Raises :class:`jinja2.TemplateError` (``UndefinedError`` for a missing variable); callers that
        check a whole segment collect these per contact.
        """
        try:
            return self._render(contact, languages, extra)
        except TemplateError:
            raise
        except Exception as exc:
            # A template's own code failing on one contact's values ({{ 100 // (district|int) }} with a
            # district that is not a number): a render problem of that contact like a missing variable,
            # not a traceback that stops a check or a whole send.
            raise TemplateRuntimeError(f"{type(exc).__name__}: {exc}") from exc

    def _render(
        self, contact: Contact, languages: Sequence[str], extra: Mapping[str, Any]
    ) -> RenderedMessage:
        context = template_context(contact, extra)
        subjects: list[str] = []
        texts: list[str] = []
        htmls: list[str] = []
        with_html = all("html" in self._compiled[lang] for lang in languages)
        for lang in languages:
            context["language"] = lang
            subject, text, html = self._render_parts(lang, context, with_html)
            subjects.append(" ".join(subject.split()))
            texts.append(text.strip())
            if with_html:
                htmls.append(f'<div lang="{lang}">{html}</div>')
        html_out = "\n<hr>\n".join(htmls) if with_html else None
        return RenderedMessage(
            tuple(languages), " / ".join(subjects), _PART_SEPARATOR.join(texts) + "\n", html_out
        )


_FILE_SUFFIX = {"subject": "subject.txt", "text": "txt", "html": "html"}


def template_context(contact: Contact, extra: Mapping[str, Any]) -> dict[str, Any]:
    """Variables a template sees: every contact field and attribute by name, ``attributes``, plus ``extra``."""
    # Jinja's globals (range, dict, namespace...) first, as ``Template.render`` would provide them.
    context: dict[str, Any] = {**_TEXT_ENV.globals, **contact.attributes}
    for name in CORE_FIELDS:
        context[name] = getattr(contact, name)
    context["attributes"] = contact.attributes
    context["contact"] = contact
    context.update(extra)
    return context


def load_templates(directory: Path | str) -> TemplateSet:
    """Read a template directory (``fr.subject.txt``, ``fr.txt``, ``fr.html``, ...) into a :class:`TemplateSet`.

    Each language needs at least a subject and a text part; the HTML part is optional.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise TemplateRenderError(
            f"template directory {directory} does not exist; pass a folder with fr.txt, fr.subject.txt..."
        )
    sources: dict[str, dict[str, str]] = {}
    for path in sorted(directory.iterdir()):
        name = path.name
        if name.endswith(".subject.txt"):
            lang, part = name[: -len(".subject.txt")], "subject"
        elif name.endswith(".txt"):
            lang, part = name[: -len(".txt")], "text"
        elif name.endswith(".html"):
            lang, part = name[: -len(".html")], "html"
        else:
            continue
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise TemplateRenderError(
                f"template {name}, line {line} is not UTF-8 (Windows-1252 or 'ANSI'?); save it as UTF-8 "
                "and run the command again"
            ) from None
        sources.setdefault(lang.lower(), {})[part] = text
    if not sources:
        raise TemplateRenderError(
            f"no templates in {directory}: expected files such as fr.subject.txt, fr.txt, fr.html"
        )
    for lang, parts in sources.items():
        missing = [p for p in ("subject", "text") if p not in parts]
        if missing:
            files = ", ".join(f"{lang}.{_FILE_SUFFIX[p]}" for p in missing)
            raise TemplateRenderError(
                f"language {lang!r} in {directory} lacks {files}; add it or remove the language"
            )
    return TemplateSet(sources)


def plan_languages(
    contact_language: str,
    available: Sequence[str],
    *,
    policy: LanguagePolicy,
    fallback: Sequence[str],
    courtesy: bool = True,
) -> tuple[str, ...]:
    """Which template languages one contact's message is made of, in order.

    >>> plan_languages("nl", ["fr", "nl", "en"], policy="administrative", fallback=["fr"])
    ('nl',)
    >>> plan_languages("en", ["fr", "nl", "en"], policy="administrative", fallback=["fr"])
    ('en', 'fr', 'nl')
    >>> plan_languages("es", ["fr", "nl", "en"], policy="contact-language", fallback=["en", "fr"])
    ('en',)
    """
    lang = (contact_language or "").lower()
    have = set(available)
    if policy == "administrative":
        if lang in _OFFICIAL and lang in have:
            return (lang,)
        plan = [lang] if courtesy and lang and lang in have and lang not in _OFFICIAL else []
        return (*plan, *(o for o in _OFFICIAL if o in have))
    for candidate in (lang, *fallback):
        if candidate in have:
            return (candidate,)
    return (sorted(have)[0],)


def message_id_for(campaign_id: int, email: str, domain: str) -> str:
    """The deterministic Message-ID of a campaign's message to one recipient (same on every retry)."""
    digest = hashlib.sha256(f"{campaign_id}\x00{email}".encode()).hexdigest()[:24]
    return f"<cc{campaign_id}.{digest}@{domain}>"


def _encoded(value: str) -> str:
    """RFC 2047 encoded-words (UTF-8, base64) for a non-ASCII header value; ASCII passes through.

    Written out here because ``email.header.Header`` re-measures every candidate split and cost more
    than the rest of a message's construction.
    """
    if value.isascii():
        return value
    data = value.encode("utf-8")
    words: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + 45, len(data))  # 45 bytes -> 60 base64 chars: each word stays within 75
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # never cut a UTF-8 sequence in two
        words.append("=?utf-8?b?" + base64.b64encode(data[start:end]).decode("ascii") + "?=")
        start = end
    return " ".join(words)


# RFC 5322 specials that make a display name need quotes (the set email.utils.formataddr uses).
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_ESCAPES = re.compile(r'[\\"]')


def from_address(from_addr: str) -> str:
    """The address of a campaign's ``--from`` (``Name <a@b>`` or a bare address), as written."""
    return parseaddr(from_addr)[1] or from_addr


def wire_address(address: str) -> str:
    """An address as it goes in a header or the SMTP envelope: an internationalised domain in its ASCII (IDNA) form.

    A non-ASCII local part has no ASCII form; it stays as it is (RFC 6532, sent with SMTPUTF8).
    """
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    if at and not domain.isascii():
        with contextlib.suppress(idna.IDNAError):  # left as it is: the relay's reply then says why
            domain = idna.encode(domain, uts46=True).decode("ascii")
    return f"{local}@{domain}" if at else address


def _mailbox(display: str, address: str) -> str:
    address = wire_address(address)
    # A name holding a line break (a quoted CSV field can) must not start a header of its own.
    if not display.isprintable():
        display = " ".join("".join(c if c.isprintable() else " " for c in display).split())
    if not display:
        return address
    if display.isascii():
        if _SPECIALS.search(display):
            display = '"' + _ESCAPES.sub(r"\\\g<0>", display) + '"'
        return f"{display} <{address}>"
    return f"{_encoded(display)} <{address}>"


@lru_cache(maxsize=64)
def _from_header(from_addr: str) -> str:
    display, address = parseaddr(from_addr)
    return _mailbox(display, address or from_addr)


# RFC 5322 caps a line at 998 octets, CRLF excluded; RFC 2045 forbids NUL in 7bit and 8bit bodies.
_MAX_LINE = 998


def _body(text: str, kind: bytes) -> bytes:
    """A text part, its headers and its body (CRLF line endings), in the lightest safe encoding.

    ASCII text goes as ``7bit`` and other text as ``8bit`` (the SMTP adapter announces
    ``BODY=8BITMIME``, or re-encodes the parts for a relay without it): no base64 to inflate the
    bytes by a third. Text with a line longer than 998 octets or a NUL goes as quoted-printable.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    data = text.encode("utf-8")
    if (len(data) <= _MAX_LINE or max(map(len, data.split(b"\n"))) <= _MAX_LINE) and b"\0" not in data:
        cte = b"7bit" if data.isascii() else b"8bit"
    else:
        cte = b"quoted-printable"
        data = binascii.b2a_qp(data, istext=True)
    return (
        b"Content-Type: text/"
        + kind
        + b'; charset="utf-8"\r\nContent-Transfer-Encoding: '
        + cte
        + b"\r\n\r\n"
        + data.replace(b"\n", b"\r\n")
    )


_BOUNDARIES = itertools.count(1)
_date_cache: tuple[int, str] = (0, "")


def _date_header() -> str:
    """The Date header value, formatted once per second rather than once per message."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, localtime=False))
    return _date_cache[1]


class CampaignMessage(EmailMessage):
    """An e-mail that also carries its wire form, written once while it was built.

    Serialising through ``email.generator`` re-folds every header and cost more than building the
    message; ``as_bytes`` returns the prepared bytes instead (CRLF line endings, or the policy's),
    and falls back to the generator as soon as a header is changed.
    """

    _wire: bytes | None = None

    def __setitem__(self, name: str, val: Any) -> None:
        self._wire = None
        super().__setitem__(name, val)

    def __delitem__(self, name: str) -> None:
        self._wire = None
        super().__delitem__(name)

    def as_bytes(self, unixfrom: bool = False, policy: Any = None) -> bytes:
        """The message as bytes; the prepared wire form when nothing changed since it was built."""
        if self._wire is None or unixfrom:
            return super().as_bytes(unixfrom, policy)
        linesep = (policy or self.policy).linesep
        return self._wire if linesep == "\r\n" else self._wire.replace(b"\r\n", linesep.encode())


@lru_cache(maxsize=256)
def _trailing_headers(list_unsubscribe: bool, campaign: str, languages: tuple[str, ...]) -> str:
    """The headers every message of a campaign and language variant shares, joined once."""
    headers = ["List-Unsubscribe-Post: List-Unsubscribe=One-Click"] if list_unsubscribe else []
    if campaign:
        headers.append("X-Campaign: " + _encoded(campaign))
    headers.append("Content-Language: " + ", ".join(languages))
    headers.append("MIME-Version: 1.0")
    return "\r\n".join(headers)


def wire_message(
    rendered: RenderedMessage,
    *,
    from_addr: str,
    to: Contact,
    message_id: str,
    list_unsubscribe: Sequence[str] = (),
    campaign: str = "",
) -> bytes:
    """The message's wire form (RFC 5322, CRLF): what the SMTP adapter sends as it is.

    Headers are encoded here (RFC 2047 encoded-words) and never folded (lines stay under 998
    characters); bodies go as 7bit or 8bit text, quoted-printable when a line is too long, with Message-ID, Content-Language, List-Unsubscribe and List-Unsubscribe-Post.
    Written as bytes directly: building an ``EmailMessage`` and serialising it through the stdlib's
    generator cost more than rendering the templates.
    """
    headers = [
        "From: " + _from_header(from_addr),
        "To: " + _mailbox(f"{to.first_name} {to.last_name}".strip(), to.email),
        "Subject: " + _encoded(rendered.subject),
        "Date: " + _date_header(),
        "Message-ID: " + message_id,
    ]
    if list_unsubscribe:
        headers.append("List-Unsubscribe: " + ", ".join(f"<{u}>" for u in list_unsubscribe))
    headers.append(_trailing_headers(bool(list_unsubscribe), campaign, rendered.languages))
    # UTF-8 only for an address whose local part is not ASCII (RFC 6532); every other header is ASCII.
    if rendered.html is None:
        return ("\r\n".join(headers) + "\r\n").encode("utf-8") + _body(rendered.text, b"plain")
    # A counter makes a cheap boundary (os.urandom, behind the stdlib's random boundaries, was a
    # measurable cost per message); bodies are no longer base64, so one whose text happens to hold
    # the prefix gets a random boundary instead, absent from both parts.
    boundary = f"=_cc_{os.getpid():x}_{next(_BOUNDARIES):x}"
    while "=_cc_" in rendered.text or "=_cc_" in rendered.html:
        boundary = f"=_cc_{os.urandom(12).hex()}"
        if boundary not in rendered.text and boundary not in rendered.html:
            break
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    delimiter = f"--{boundary}\r\n".encode("ascii")
    return b"".join(
        (
            ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8"),
            delimiter,
            _body(rendered.text, b"plain"),
            b"\r\n",
            delimiter,
            _body(rendered.html, b"html"),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        )
    )


def message_from_wire(wire: bytes) -> EmailMessage:
    """An ``EmailMessage`` (compat32 policy) over a wire form, whose ``as_bytes`` gives that wire form back."""
    message = email.message_from_bytes(wire, _class=CampaignMessage, policy=_FAST_POLICY)
    assert isinstance(message, CampaignMessage)
    message._wire = wire
    return message


def build_message(
    rendered: RenderedMessage,
    *,
    from_addr: str,
    to: Contact,
    message_id: str,
    list_unsubscribe: Sequence[str] = (),
    campaign: str = "",
) -> EmailMessage:
    """Turn rendered parts into an e-mail with Message-ID, Content-Language and List-Unsubscribe headers.

    The message is :func:`wire_message`'s bytes parsed under the compat32 policy (the default policy
    re-parses every header and cost milliseconds per message); ``as_bytes`` returns those bytes as
    they are. ``email.message_from_bytes(m.as_bytes(), policy=email.policy.default)`` gives the
    modern API back when needed (``preview`` does).
    """
    return message_from_wire(
        wire_message(
            rendered,
            from_addr=from_addr,
            to=to,
            message_id=message_id,
            list_unsubscribe=list_unsubscribe,
            campaign=campaign,
        )
    )
