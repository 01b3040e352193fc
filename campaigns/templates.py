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
import email.policy
import hashlib
import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from email.charset import Charset
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from campaigns.contacts import CORE_FIELDS, Contact
from contact_center.errors import TemplateRenderError

__all__ = [
    "CampaignMessage",
    "LanguagePolicy",
    "RenderedMessage",
    "TemplateSet",
    "build_message",
    "load_templates",
    "message_id_for",
    "plan_languages",
]

LanguagePolicy = Literal["administrative", "contact-language"]
_OFFICIAL = ("fr", "nl")
# Long header lines are allowed (RFC 5322 caps lines at 998): with the default 78 the List-Unsubscribe
# URLs, which cannot be folded, would be turned into encoded-words that mail clients do not parse.
_FAST_POLICY = email.policy.compat32.clone(max_line_length=998)
_UTF8 = Charset("utf-8")  # base64 bodies: binascii is fast, and long lines need no care
_PART_SEPARATOR = "\n\n" + "-" * 40 + "\n\n"


def _format_date(value: Any, fmt: str = "%d/%m/%Y") -> str:
    if isinstance(value, date):
        return value.strftime(fmt)
    return "" if value is None else str(value)


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


class TemplateSet:
    """The templates of one campaign, compiled once, keyed by language."""

    def __init__(self, sources: Mapping[str, Mapping[str, str]]) -> None:
        """``sources`` maps language -> {"subject": ..., "text": ..., "html": ... (optional)}."""
        self.sources: dict[str, dict[str, str]] = {lang: dict(parts) for lang, parts in sources.items()}
        self._compiled: dict[str, dict[str, Any]] = {}
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

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the campaign has templates for, sorted."""
        return tuple(sorted(self.sources))

    def render(self, contact: Contact, languages: Sequence[str], extra: Mapping[str, Any]) -> RenderedMessage:
        """Render the parts for ``languages`` (in that order) for one contact.

        Raises :class:`jinja2.TemplateError` (``UndefinedError`` for a missing variable); callers that
        check a whole segment collect these per contact.
        """
        context = template_context(contact, extra)
        subjects: list[str] = []
        texts: list[str] = []
        htmls: list[str] = []
        with_html = all("html" in self._compiled[lang] for lang in languages)
        for lang in languages:
            compiled = self._compiled[lang]
            ctx = {**context, "language": lang}
            subjects.append(" ".join(compiled["subject"].render(ctx).split()))
            texts.append(compiled["text"].render(ctx).strip())
            if with_html:
                htmls.append(f'<div lang="{lang}">{compiled["html"].render(ctx)}</div>')
        html = "\n<hr>\n".join(htmls) if with_html else None
        return RenderedMessage(
            tuple(languages), " / ".join(subjects), _PART_SEPARATOR.join(texts) + "\n", html
        )


_FILE_SUFFIX = {"subject": "subject.txt", "text": "txt", "html": "html"}


def template_context(contact: Contact, extra: Mapping[str, Any]) -> dict[str, Any]:
    """Variables a template sees: every contact field and attribute by name, ``attributes``, plus ``extra``."""
    context: dict[str, Any] = dict(contact.attributes)
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
        sources.setdefault(lang.lower(), {})[part] = path.read_text(encoding="utf-8")
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


def _mailbox(display: str, address: str) -> str:
    if not display:
        return address
    if display.isascii():
        return formataddr((display, address))
    return f"{_encoded(display)} <{address}>"


@lru_cache(maxsize=64)
def _from_header(from_addr: str) -> str:
    display, address = parseaddr(from_addr)
    return _mailbox(display, address or from_addr)


def _base64_body(text: str) -> str:
    return base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")


_BOUNDARIES = itertools.count(1)


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

    Headers are encoded here (RFC 2047, base64 bodies) and stored under the compat32 policy, because the
    default policy re-parses every header and cost milliseconds per message, which dominated a
    campaign's throughput. ``email.message_from_bytes(m.as_bytes(), policy=email.policy.default)``
    gives the modern API back when needed (``preview`` does).
    """
    headers = [
        ("From", _from_header(from_addr)),
        ("To", _mailbox(f"{to.first_name} {to.last_name}".strip(), to.email)),
        ("Subject", _encoded(rendered.subject)),
        ("Date", formatdate(localtime=False)),
        ("Message-ID", message_id),
    ]
    if list_unsubscribe:
        headers.append(("List-Unsubscribe", ", ".join(f"<{u}>" for u in list_unsubscribe)))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    if campaign:
        headers.append(("X-Campaign", _encoded(campaign)))
    headers.append(("Content-Language", ", ".join(rendered.languages)))
    headers.append(("MIME-Version", "1.0"))
    message = CampaignMessage(policy=_FAST_POLICY)
    for name, value in headers:
        message.add_header(name, value)
    wire = [f"{name}: {value}" for name, value in headers]
    if rendered.html is None:
        body = _base64_body(rendered.text)
        message.add_header("Content-Type", 'text/plain; charset="utf-8"')
        message.add_header("Content-Transfer-Encoding", "base64")
        message.set_payload(body)
        wire += ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: base64", "", body]
    else:
        # "=_" never occurs in base64 bodies or in our headers, so a counter is a safe boundary (and
        # os.urandom, behind the stdlib's random boundaries, was a measurable cost per message).
        boundary = f"=_cc_{os.getpid():x}_{next(_BOUNDARIES):x}"
        message.add_header("Content-Type", f'multipart/alternative; boundary="{boundary}"')
        wire += [f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
        for text, subtype in ((rendered.text, "plain"), (rendered.html, "html")):
            body = _base64_body(text)
            part = CampaignMessage(policy=_FAST_POLICY)
            part.add_header("Content-Type", f'text/{subtype}; charset="utf-8"')
            part.add_header("Content-Transfer-Encoding", "base64")
            part.set_payload(body)
            message.attach(part)
            wire += [
                f"--{boundary}",
                f'Content-Type: text/{subtype}; charset="utf-8"',
                "Content-Transfer-Encoding: base64",
                "",
                body,
            ]
        wire += [f"--{boundary}--", ""]
    message._wire = "\r\n".join(wire).encode("ascii")
    return message
