"""The campaigns API: one :class:`Campaigns` object over the campaign tables, used by the CLI and by Python callers.

Example::

    from campaigns import Campaigns
    cc = Campaigns()                                   # Settings() from CC_* variables
    cc.import_contacts("residents.csv")
    cc.segment_count('permit_expires within 60 days and language in ("nl", "fr")')
    cc.create("renewal-2026-12", segment=..., templates="templates/renewal/", from_addr="...")
    cc.schedule("renewal-2026-12", at="2026-12-01 09:00", window="mon-fri 09:00-17:00", rate="50/s")
    await cc.run(once=True)
    cc.status("renewal-2026-12").to_json()
"""

from __future__ import annotations

import email.policy
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email import message_from_bytes, message_from_string
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import idna
import sqlalchemy as sa
from jinja2 import TemplateError

from campaigns import ledger as ledger_ops
from campaigns.contacts import Contact, ImportReport, import_contacts, iter_contacts, normalize_email
from campaigns.schedule import SendWindow, estimate_finish, format_local, parse_local_time, parse_rate
from campaigns.segments import Segment, _UnknownField, brussels_today, parse_segment
from campaigns.tables import campaigns as campaigns_table
from campaigns.tables import contacts as contacts_table
from campaigns.tables import ledger as ledger_table
from campaigns.tables import open_engine, suppressions
from campaigns.templates import (
    LanguagePolicy,
    TemplateSet,
    build_message,
    from_address,
    load_templates,
    message_id_for,
    plan_languages,
    wire_address,
)
from campaigns.unsubscribe import make_token, unsubscribe_links
from contact_center.errors import CampaignError, NotFoundError, ScheduleError, TemplateRenderError
from contact_center.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from campaigns.worker import ProgressCallback, RunReport
    from channels.mailer import Mailer, SendResult

__all__ = ["CampaignStatus", "Campaigns", "RenderProblem", "ScheduleReport"]

_SHOW_CONTACTS = 10
_HORIZON_SECONDS = 3650 * 86400.0


def _check_sender(from_addr: str) -> None:
    """Refuse a ``--from`` whose address cannot go on the wire of every relay.

    Its domain may be internationalised (it goes out in its IDNA form, as recipients' domains do), but
    a non-ASCII local part needs SMTPUTF8: through a relay without it, every message of the campaign
    would fail (the SMTP adapter sets such a sender aside with 554 5.6.7).
    """
    address = from_address(from_addr)
    local, at, domain = address.rpartition("@")
    if not (at and local.strip() and domain.strip(" >")):
        raise CampaignError(f"--from {from_addr!r} has no e-mail address; write 'Name <address@domain>'")
    if not local.isascii():
        raise CampaignError(
            f"--from {from_addr!r}: the part before the @ ({local!r}) is not ASCII, and a relay without "
            "SMTPUTF8 would refuse every message of the campaign; use an ASCII address (the name and the "
            "domain may keep their accents), e.g. 'Bureau des étrangers <etrangers@example.brussels>'"
        )
    if not domain.isascii():
        try:
            idna.encode(domain, uts46=True)
        except idna.IDNAError as exc:
            raise CampaignError(
                f"--from {from_addr!r}: the domain {domain!r} is not a valid internationalised domain "
                f"name ({exc}); check its spelling"
            ) from None


def _id_domain(from_addr: str) -> str:
    """The domain of a campaign's Message-IDs: the sender's, in its ASCII (IDNA) form like the From header."""
    return wire_address(from_address(from_addr)).rpartition("@")[2].strip(" >")


@dataclass(slots=True)
class RenderProblem:
    """One template error and the contacts it affects (the first few addresses, and how many in all)."""

    language: str
    error: str
    contacts: list[str] = field(default_factory=list)
    count: int = 0

    def __str__(self) -> str:
        more = f" and {self.count - len(self.contacts)} more" if self.count > len(self.contacts) else ""
        return f"[{self.language}] {self.error}: {', '.join(self.contacts)}{more}"


@dataclass(slots=True)
class ScheduleReport:
    """What scheduling did: recipients queued, suppressed at the outset, and when sending starts."""

    campaign: str
    recipients: int
    suppressed: int
    starts_at: float
    by_language: dict[str, int]


@dataclass(slots=True)
class CampaignStatus:
    """A campaign's progress, read from the ledger."""

    campaign: str
    status: str
    counts: dict[str, int]
    uncertain: int
    by_language: dict[str, dict[str, int]]
    errors: list[tuple[int | None, str, int]]
    rate: float | None
    sent_last_minute: int
    scheduled_at: float | None
    window: str | None
    estimated_finish: float | None
    deadline: float | None
    finish_beyond_horizon: bool = False
    """The estimate runs past ten years (``estimated_finish`` is then ``None``)."""

    @property
    def total(self) -> int:
        """Every ledger row of the campaign."""
        return sum(self.counts.values())

    @property
    def warnings(self) -> list[str]:
        """Things the user should act on (a finish past the deadline, a campaign awaiting confirmation)."""
        out: list[str] = []
        if (
            self.deadline is not None
            and self.estimated_finish is not None
            and self.estimated_finish > self.deadline
        ):
            out.append(
                f"estimated finish {format_local(self.estimated_finish)} is after the deadline "
                f"{format_local(self.deadline)}: raise the rate or widen the window"
            )
        if self.finish_beyond_horizon:
            out.append(
                "at this rate and window the campaign would take more than 10 years: raise the rate or widen the window"
            )
        if self.status == "needs-confirmation":
            out.append(
                f"the start time is past by more than the grace period; run "
                f"'contact-center campaigns confirm {self.campaign}' to send anyway"
            )
        if self.uncertain:
            out.append(
                f"{self.uncertain} message(s) were in flight during a crash and may have arrived twice"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """The ``status --json`` document."""
        return {
            "campaign": self.campaign,
            "status": self.status,
            "counts": self.counts,
            "uncertain": self.uncertain,
            "by_language": self.by_language,
            "rate": self.rate,
            "sent_last_minute": self.sent_last_minute,
            "errors": [{"code": code, "reply": reply, "count": n} for code, reply, n in self.errors],
            "scheduled_at": self.scheduled_at,
            "window": self.window,
            "estimated_finish": self.estimated_finish,
            "deadline": self.deadline,
            "warnings": self.warnings,
        }


class Campaigns:
    """Contacts, segments, templates, schedules and the send ledger of the Foreigners' Office campaigns."""

    def __init__(self, settings: Settings | None = None, *, engine: Engine | None = None) -> None:
        self.settings = settings or Settings()
        self.engine = engine or open_engine(self.settings.sqlalchemy_url)

    # -- contacts -------------------------------------------------------------------------------

    def import_contacts(self, path: Path | str) -> ImportReport:
        """Import a residents CSV; see :func:`campaigns.contacts.import_contacts`."""
        return import_contacts(self.engine, path)

    def known_attributes(self) -> set[str]:
        """Attribute names present on contacts (sampled), usable bare in segments."""
        names: set[str] = set()
        with self.engine.connect() as conn:
            for (attrs,) in conn.execute(sa.select(contacts_table.c.attributes).limit(1000)):
                names.update((attrs or {}).keys())
        return names

    def parse_segment(self, expression: str) -> Segment:
        """Parse a segment expression against the contact fields and the attributes in the table."""
        known = self.known_attributes()
        while True:
            try:
                return parse_segment(expression, known_attributes=known)
            except _UnknownField as exc:
                # The sample only sees the first contacts; a column that only later imports brought is
                # looked up before the name is called unknown.
                if exc.name in known or not self._has_attribute(exc.name):
                    raise
                known.add(exc.name)

    def _has_attribute(self, name: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.scalar(
                sa.select(contacts_table.c.id)
                .where(contacts_table.c.attributes[name].as_string().is_not(None))
                .limit(1)
            )
        return found is not None

    def segment_members(self, expression: str, today: date | None = None) -> Iterator[Contact]:
        """Stream the contacts in a segment."""
        segment = self.parse_segment(expression)
        day = today or brussels_today()
        return (c for c in iter_contacts(self.engine) if segment.matches(c, day))

    def segment_count(self, expression: str, today: date | None = None) -> int:
        """How many contacts a segment holds, before anything is created."""
        return sum(1 for _ in self.segment_members(expression, today))

    # -- campaigns ------------------------------------------------------------------------------

    def _row(self, name: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(campaigns_table).where(campaigns_table.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no campaign named {name!r}; 'contact-center campaigns list' shows them")
        return row

    def list_campaigns(self) -> list[tuple[str, str, int]]:
        """Every campaign as (name, status, recipients)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    campaigns_table.c.name, campaigns_table.c.status, campaigns_table.c.recipients
                ).order_by(campaigns_table.c.id)
            ).all()
        return [(r.name, r.status, r.recipients) for r in rows]

    def create(
        self,
        name: str,
        *,
        segment: str,
        templates: Path | str,
        from_addr: str,
        language_policy: LanguagePolicy | None = None,
        replace: bool = False,
    ) -> bool:
        """Create a draft campaign: checks the segment, compiles the templates and stores both.

        The templates are copied into the database, so later edits of the files do not change a
        scheduled campaign. ``replace`` (``create --replace``) stores them again, with the segment, the
        sender and the policy given, over a campaign of that name that is still a draft; a campaign
        already scheduled keeps what its ledger was filled with. Returns True when a draft was replaced.
        """
        if not name.strip() or not name.isprintable():
            # The name goes in each message's X-Campaign header, where a line break starts a new header.
            raise CampaignError(
                f"campaign name {name!r} is empty or holds a line break or control character; "
                "give a one-line name such as 'renewal-2026-12'"
            )
        self.parse_segment(segment)
        template_set = load_templates(templates)
        policy: LanguagePolicy = language_policy or self.settings.campaigns.language_policy
        if policy == "administrative":
            missing = [lang for lang in ("fr", "nl") if lang not in template_set.languages]
            if missing:
                raise TemplateRenderError(
                    f"the administrative language policy needs French and Dutch templates; missing: "
                    f"{', '.join(missing)}. Add {missing[0]}.subject.txt and {missing[0]}.txt, or use "
                    "--language-policy contact-language for non-administrative mail"
                )
        _check_sender(from_addr)
        values = {
            "segment": segment,
            "from_addr": from_addr,
            "templates": template_set.sources,
            "language_policy": policy,
        }
        with self.engine.begin() as conn:
            status = conn.scalar(sa.select(campaigns_table.c.status).where(campaigns_table.c.name == name))
            if status is None:
                conn.execute(
                    campaigns_table.insert().values(
                        name=name, status="draft", created_at=time.time(), **values
                    )
                )
                return False
            if not replace:
                raise CampaignError(
                    f"a campaign named {name!r} already exists; pick another name, or add --replace to "
                    "store these templates, segment and sender over it while it is a draft"
                )
            if status != "draft":
                raise CampaignError(
                    f"campaign {name!r} is {status}: its ledger holds the messages it was scheduled with, so "
                    "--replace only changes a draft; create the corrected campaign under another name"
                )
            conn.execute(
                sa.update(campaigns_table)
                .where(campaigns_table.c.name == name, campaigns_table.c.status == "draft")
                .values(**values)
            )
            return True

    def _templates(self, row: Any) -> TemplateSet:
        return TemplateSet(row.templates)

    def _plan(
        self, row: Any, templates: TemplateSet, contact: Contact, language: str | None = None
    ) -> tuple[str, ...]:
        cfg = self.settings.campaigns
        if language:
            if language not in templates.languages:
                raise TemplateRenderError(
                    f"campaign {row.name!r} has no {language!r} template; it has {', '.join(templates.languages)}"
                )
            return (language,)
        return plan_languages(
            contact.language,
            templates.languages,
            policy=row.language_policy,
            fallback=cfg.fallback_languages,
            courtesy=cfg.courtesy_part,
        )

    def _extra(self, campaign: str, email: str) -> tuple[dict[str, Any], tuple[str, str]]:
        cfg = self.settings.campaigns
        token = make_token(self.settings.secret_key.get_secret_value(), email, campaign)
        links = unsubscribe_links(cfg.unsubscribe_base_url, cfg.unsubscribe_mailto, token)
        return {"unsubscribe_url": links[0], "campaign": campaign}, links

    def _message(
        self, row: Any, contact: Contact, languages: tuple[str, ...], *, unsubscriber: str | None = None
    ) -> EmailMessage:
        # ``unsubscriber``: whose address the unsubscribe links name (test sends: the staff address).
        extra, links = self._extra(row.name, unsubscriber or contact.email)
        try:
            rendered = self._templates(row).render(contact, languages, extra)
        except TemplateError as exc:
            raise TemplateRenderError(
                f"template [{'+'.join(languages)}] fails for {contact.email}: {exc}"
            ) from None
        domain = _id_domain(row.from_addr)
        return build_message(
            rendered,
            from_addr=row.from_addr,
            to=contact,
            message_id=message_id_for(row.id, contact.email, domain),
            list_unsubscribe=links,
            campaign=row.name,
        )

    def preview(self, name: str, contact: str, *, language: str | None = None) -> EmailMessage:
        """The message one contact would receive (``language`` forces one template language)."""
        row = self._row(name)
        address = normalize_email(contact)
        found = next(iter_contacts(self.engine, emails=[address]), None)
        if found is None:
            raise NotFoundError(f"no contact {address!r}; import it first with 'campaigns contacts import'")
        built = self._message(row, found, self._plan(row, self._templates(row), found, language))
        # Re-parsed with the modern policy so callers get get_body()/get_content() and decoded headers.
        wire = built.as_bytes()
        head = wire.replace(b"\r\n", b"\n").partition(b"\n\n")[0]
        # An address with a non-ASCII local part is UTF-8 in the headers (RFC 6532): parsed as text,
        # or it would read back as surrogate escapes.
        parsed = (
            message_from_bytes(wire, policy=email.policy.default)
            if head.isascii()
            else message_from_string(wire.decode("utf-8"), policy=email.policy.default)
        )
        assert isinstance(parsed, EmailMessage)
        return parsed

    def check(self, name: str, today: date | None = None) -> list[RenderProblem]:
        """Render every template for every recipient in the segment; returns the problems (empty when fine)."""
        row = self._row(name)
        problems, _ = self._walk(row, today, collect=False)
        return problems

    def _walk(
        self, row: Any, today: date | None, *, collect: bool
    ) -> tuple[list[RenderProblem], list[dict[str, Any]]]:
        templates = self._templates(row)
        segment = self.parse_segment(row.segment)
        day = today or brussels_today()
        problems: dict[tuple[str, str], RenderProblem] = {}
        out: list[dict[str, Any]] = []
        for contact in iter_contacts(self.engine):
            if not segment.matches(contact, day):
                continue
            languages = self._plan(row, templates, contact)
            extra, _ = self._extra(row.name, contact.email)
            try:
                templates.render(contact, languages, extra)
            except TemplateError as exc:
                key = ("+".join(languages), str(exc))
                problem = problems.setdefault(key, RenderProblem(key[0], key[1]))
                problem.count += 1
                if len(problem.contacts) < _SHOW_CONTACTS:
                    problem.contacts.append(contact.email)
                continue
            if collect:
                out.append({"email": contact.email, "language": "+".join(languages)})
        return list(problems.values()), out

    def schedule(
        self,
        name: str,
        *,
        at: str | None = None,
        window: str | None = None,
        rate: str | None = None,
        deadline: str | None = None,
        confirm_late: bool = False,
        today: date | None = None,
    ) -> ScheduleReport:
        """Check every template for every recipient, fill the ledger, and set the start time (default: now).

        Raises :class:`TemplateRenderError` listing the affected contacts when any message fails to
        render, and :class:`ScheduleError` when the start is past by more than the grace period and
        ``confirm_late`` is not set. Rescheduling a campaign that has not started keeps its ledger.
        """
        row = self._row(name)
        if row.status in ("running", "finished"):
            raise ScheduleError(f"campaign {name!r} is {row.status}; it cannot be rescheduled")
        now = time.time()
        starts = parse_local_time(at).timestamp() if at else now
        grace = self.settings.campaigns.grace_minutes * 60
        if now - starts > grace and not confirm_late:
            raise ScheduleError(
                f"the start {format_local(starts)} is more than {self.settings.campaigns.grace_minutes} minutes in "
                "the past; pass --confirm-late to send anyway, or give a later --at"
            )
        if window:
            SendWindow.parse(window)
        rate_value = parse_rate(rate) if rate else None
        deadline_value = parse_local_time(deadline).timestamp() if deadline else None
        recipients = suppressed = 0
        by_language: Counter[str] = Counter()
        if row.status == "draft":
            problems, _ = self._walk(row, today, collect=False)
            if problems:
                raise TemplateRenderError(
                    f"campaign {name!r} does not render for every recipient; fix the templates or the contacts:\n"
                    + "\n".join(f"  {p}" for p in problems)
                )
            recipients, suppressed, by_language = self._fill_ledger(row, today)
        else:
            with self.engine.connect() as conn:
                counts = ledger_ops.count_states(conn, row.id)
            recipients, suppressed = sum(counts.values()), counts["suppressed"]
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(campaigns_table)
                .where(campaigns_table.c.id == row.id)
                .values(
                    status="scheduled",
                    scheduled_at=starts,
                    send_window=window,
                    rate=rate_value,
                    deadline=deadline_value,
                    confirmed_late=confirm_late,
                    recipients=recipients,
                )
            )
        return ScheduleReport(name, recipients, suppressed, starts, dict(by_language))

    def _fill_ledger(self, row: Any, today: date | None) -> tuple[int, int, Counter[str]]:
        templates = self._templates(row)
        segment = self.parse_segment(row.segment)
        day = today or brussels_today()
        domain = _id_domain(row.from_addr)
        with self.engine.connect() as conn:
            blocked = dict(conn.execute(sa.select(suppressions.c.email, suppressions.c.reason)).all())
        counts: Counter[str] = Counter()
        suppressed = 0

        def rows() -> Iterator[dict[str, Any]]:
            nonlocal suppressed
            for contact in iter_contacts(self.engine):
                if not segment.matches(contact, day):
                    continue
                language = "+".join(self._plan(row, templates, contact))
                counts[language] += 1
                reason = blocked.get(contact.email)
                if reason is not None:
                    suppressed += 1
                yield {
                    "campaign_id": row.id,
                    "email": contact.email,
                    "language": language,
                    "message_id": message_id_for(row.id, contact.email, domain),
                    "state": "suppressed" if reason else "pending",
                    "reply": f"suppressed: {reason}" if reason else "",
                    "attempts": 0,
                    "next_attempt_at": 0.0,
                    "in_flight": False,
                    "uncertain": False,
                }

        # Chunked commits, not one huge transaction: a million recipients must not hold the write lock
        # for minutes. The campaign stays a draft until the fill completes, and a re-run skips rows present.
        total = ledger_ops.populate(self.engine, rows())
        return total, suppressed, counts

    def confirm(self, name: str) -> None:
        """Allow a campaign whose start is long past to send now (after a worker outage, say)."""
        row = self._row(name)
        if row.status not in ("needs-confirmation", "scheduled"):
            raise CampaignError(
                f"campaign {name!r} is {row.status}; only a scheduled campaign can be confirmed"
            )
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(campaigns_table)
                .where(campaigns_table.c.id == row.id)
                .values(status="scheduled", confirmed_late=True)
            )

    def pause(self, name: str) -> None:
        """Stop sending after the messages in flight; :meth:`resume` continues from the ledger."""
        row = self._row(name)
        if row.status not in ("scheduled", "running"):
            raise CampaignError(
                f"campaign {name!r} is {row.status}; only a scheduled or running campaign pauses"
            )
        self._set_status(row.id, "paused")

    def resume(self, name: str) -> None:
        """Continue a paused campaign; rows already sent are never sent again."""
        row = self._row(name)
        if row.status != "paused":
            raise CampaignError(f"campaign {name!r} is {row.status}, not paused")
        # A resumed campaign is not "late": it was started on time, so it goes straight to running.
        self._set_status(row.id, "running")

    def _set_status(self, campaign_id: int, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(campaigns_table).where(campaigns_table.c.id == campaign_id).values(status=status)
            )

    def status(self, name: str) -> CampaignStatus:
        """Counts per state and language, uncertain rows, errors by SMTP reply, rate and finish estimate."""
        row = self._row(name)
        now = time.time()
        with self.engine.connect() as conn:
            counts = ledger_ops.count_states(conn, row.id)
            by_language: dict[str, dict[str, int]] = {}
            for language, state, n in conn.execute(
                sa.select(ledger_table.c.language, ledger_table.c.state, sa.func.count())
                .where(ledger_table.c.campaign_id == row.id)
                .group_by(ledger_table.c.language, ledger_table.c.state)
            ):
                by_language.setdefault(language, {})[state] = int(n)
            uncertain = conn.scalar(
                sa.select(sa.func.count()).where(
                    ledger_table.c.campaign_id == row.id, ledger_table.c.uncertain.is_(True)
                )
            )
            errors = [
                (code, reply, int(n))
                for code, reply, n in conn.execute(
                    sa.select(ledger_table.c.code, ledger_table.c.reply, sa.func.count())
                    .where(
                        ledger_table.c.campaign_id == row.id, ledger_table.c.state.in_(("failed", "deferred"))
                    )
                    .group_by(ledger_table.c.code, ledger_table.c.reply)
                    .order_by(sa.func.count().desc())
                    .limit(20)
                )
            ]
            recent = conn.scalar(
                sa.select(sa.func.count()).where(
                    ledger_table.c.campaign_id == row.id, ledger_table.c.sent_at >= now - 60
                )
            )
        rate = row.rate if row.rate is not None else self.settings.campaigns.rate_per_second
        remaining = counts["pending"] + counts["claimed"] + counts["deferred"]
        finish: float | None = None
        if row.scheduled_at is not None and rate and rate > 0 and row.status not in ("finished", "draft"):
            start = max(now, row.scheduled_at)
            window = SendWindow.parse(row.send_window) if row.send_window else None
            finish = estimate_finish(remaining, rate, start, window)
        # The estimate looks ten years ahead (inf past that); such a date cannot even be printed.
        beyond = finish is not None and finish > now + _HORIZON_SECONDS
        if beyond:
            finish = None
        return CampaignStatus(
            campaign=name,
            status=row.status,
            counts=counts,
            uncertain=int(uncertain or 0),
            by_language=by_language,
            errors=errors,
            rate=rate if rate and rate > 0 else None,
            sent_last_minute=int(recent or 0),
            scheduled_at=row.scheduled_at,
            window=row.send_window,
            estimated_finish=finish,
            deadline=row.deadline,
            finish_beyond_horizon=beyond,
        )

    def export(self, name: str, out: TextIO) -> int:
        """Write the campaign's ledger as CSV to ``out``; returns the row count."""
        return ledger_ops.export_csv(self.engine, self._row(name).id, out)

    # -- sending --------------------------------------------------------------------------------

    def mailer(self) -> Mailer:
        """The configured transport: the SMTP relay when ``CC_SMTP__HOST`` is set, else the Maildir outbox."""
        from channels.mailer import mailer_from_settings

        return mailer_from_settings(self.settings)

    async def test_send(self, name: str, to: str, *, mailer: Mailer | None = None) -> list[SendResult]:
        """Send one test message per template language (plus the bilingual FR + NL message) to ``to``.

        Each is rendered for a real contact of the segment when one fits, so attributes resolve;
        subjects are prefixed with ``[TEST]``. Nothing is written to the ledger.
        """
        row = self._row(name)
        address = normalize_email(to)
        templates = self._templates(row)
        segment = self.parse_segment(row.segment)
        sample: Contact | None = None
        by_language: dict[str, Contact] = {}
        for contact in iter_contacts(self.engine):
            if segment.matches(contact, brussels_today()):
                sample = sample or contact
                by_language.setdefault(contact.language, contact)
            if all(lang in by_language for lang in templates.languages):
                break
        if sample is None:
            raise CampaignError(
                f"segment of {name!r} is empty: there is no contact to render the test messages for"
            )
        variants: list[tuple[str, ...]] = [(lang,) for lang in templates.languages]
        if row.language_policy == "administrative":
            variants.append(("fr", "nl"))
        own = mailer or self.mailer()
        results: list[SendResult] = []
        try:
            for languages in variants:
                contact = by_language.get(languages[0], sample)
                # The links name the staff address: trying the unsubscribe button must not suppress
                # the resident whose data filled the message.
                message = self._message(row, contact, languages, unsubscriber=address)
                subject = str(message["Subject"])
                del message["Subject"], message["To"], message["Message-ID"]
                message["Subject"] = f"[TEST {'+'.join(languages)}] {subject}"
                message["To"] = address
                message["Message-ID"] = (
                    f"<test.{time.time_ns()}.{'-'.join(languages)}@{_id_domain(row.from_addr)}>"
                )
                results.append(await own.send(message))
        finally:
            if mailer is None:
                await own.aclose()
        return results

    async def run(
        self,
        *,
        once: bool = True,
        campaign: str | None = None,
        mailer: Mailer | None = None,
        worker_id: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> RunReport:
        """Run the worker in this process: send what is due and resume what was interrupted."""
        from campaigns.worker import Worker

        own = mailer or self.mailer()
        try:
            worker = Worker(self.engine, self.settings, own, worker_id=worker_id, on_progress=on_progress)
            return await worker.run(once=once, campaign=campaign)
        finally:
            if mailer is None:
                await own.aclose()

    def process_bounces(self, maildir: Path | str) -> Any:
        """Read RFC 3464 delivery reports from a Maildir; see :func:`campaigns.bounces.process_bounces`."""
        from campaigns.bounces import process_bounces

        return process_bounces(self.engine, maildir)
