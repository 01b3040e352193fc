"""The nudge policy: who gets a reminder for an abandoned journey, and who does not and why.

For each abandoned journey, in order:

1. one decision per journey, ever: a journey already nudged, claimed or held out is skipped;
2. no nudge during quiet hours (nights and public holidays, Europe/Brussels by default);
3. a contact with explicit consent is needed (through the :class:`ContactLookup` port);
4. the journey is re-read: a journey that completed, or became active again, since detection is left
   alone (before the holdout draw, so that neither group keeps such journeys);
5. a deterministic share of journeys (hash of the journey id) is held out and recorded, to measure
   the uplift; it is drawn among contactable, consenting journeys so both groups are alike;
6. at most ``weekly_cap`` nudges per citizen over the last seven days;
7. the message goes through the ``Mailer`` port, recorded first as ``claimed`` (so a crash never sends
   twice) and then as ``sent``, ``deferred`` (temporary refusal: retried next run) or ``failed``.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from contact_center.errors import ConfigurationError
from contact_center.journeys.abandonment import AbandonedJourney, find_abandoned, journey_state
from contact_center.journeys.contacts import ContactLookup
from contact_center.journeys.help import HelpFinder, KnowledgeSearch
from contact_center.journeys.links import sign_resume_link
from contact_center.journeys.messages import build_nudge, choose_language
from contact_center.journeys.quiet_hours import QuietHours
from contact_center.journeys.store import JourneyStore, nudges_table
from contact_center.settings import Settings

if TYPE_CHECKING:
    from channels.mailer import Mailer

__all__ = ["NudgeOutcome", "NudgeReport", "in_holdout", "run_nudges"]

Outcome = Literal["sent", "would_send", "held", "holdout", "skipped", "deferred", "failed"]
_FINAL_STATUSES = ("sent", "holdout", "claimed", "failed")


def in_holdout(journey_id: str, share: float) -> bool:
    """Whether ``journey_id`` falls in the holdout group: the same answer on every run and machine."""
    bucket = int.from_bytes(hashlib.sha256(journey_id.encode("utf-8")).digest()[:8], "big") / 2**64
    return bucket < share


class NudgeOutcome(BaseModel):
    """What the policy did with one abandoned journey."""

    journey_id: str
    procedure: str
    step: str
    outcome: Outcome
    reason: str = ""
    language: str | None = None
    message_id: str | None = None


class NudgeReport(BaseModel):
    """A nudge run: every abandoned journey considered, with its outcome and reason."""

    as_of: datetime
    dry_run: bool
    outcomes: list[NudgeOutcome] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Journeys per outcome."""
        return dict(Counter(o.outcome for o in self.outcomes))

    def reasons(self) -> dict[str, int]:
        """Held and skipped journeys per reason (reasons without their variable details)."""
        return dict(
            Counter(
                o.reason.split(";")[0].split(" (")[0]
                for o in self.outcomes
                if o.outcome in ("held", "skipped")
            )
        )


@dataclass
class _Run:
    store: JourneyStore
    settings: Settings
    now: float
    dry_run: bool
    sent_this_run: Counter[str]

    def existing(self) -> dict[str, str]:
        with self.store.begin() as conn:
            rows = conn.execute(select(nudges_table.c.journey_id, nudges_table.c.status)).all()
        return {r.journey_id: r.status for r in rows}

    def sent_last_week(self, citizen_ref: str) -> int:
        with self.store.begin() as conn:
            stored = conn.execute(
                select(func.count())
                .select_from(nudges_table)
                .where(
                    nudges_table.c.citizen_ref == citizen_ref,
                    nudges_table.c.status.in_(("sent", "claimed")),
                    nudges_table.c.sent_at > self.now - 7 * 86400,
                )
            ).scalar_one()
        return int(stored) + (self.sent_this_run[citizen_ref] if self.dry_run else 0)

    def record(self, journey: AbandonedJourney, status: str, **values: object) -> bool:
        """Insert the journey's decision; False when another run decided it first."""
        row = {
            "journey_id": journey.journey_id,
            "procedure": journey.procedure,
            "citizen_ref": journey.citizen_ref,
            "step": journey.step,
            "status": status,
            "decided_at": self.now,
            **values,
        }
        try:
            with self.store.begin() as conn:
                conn.execute(
                    nudges_table.delete().where(
                        nudges_table.c.journey_id == journey.journey_id, nudges_table.c.status == "deferred"
                    )
                )
                conn.execute(nudges_table.insert().values(**row))
        except IntegrityError:
            return False
        return True

    def release(self, journey_id: str) -> None:
        """Withdraw this run's claim on a journey that has not been sent, so a later run may decide it."""
        with self.store.begin() as conn:
            conn.execute(
                nudges_table.delete().where(
                    nudges_table.c.journey_id == journey_id, nudges_table.c.status == "claimed"
                )
            )

    def finish(self, journey_id: str, **values: object) -> None:
        with self.store.begin() as conn:
            conn.execute(update(nudges_table).where(nudges_table.c.journey_id == journey_id).values(**values))


async def run_nudges(
    store: JourneyStore,
    settings: Settings,
    *,
    contacts: ContactLookup,
    mailer: Mailer | None,
    search: KnowledgeSearch | None = None,
    as_of: datetime | None = None,
    procedure: str | None = None,
    dry_run: bool = False,
) -> NudgeReport:
    """Apply the nudge policy to the journeys abandoned as of ``as_of`` (default now).

    With ``dry_run`` nothing is sent or recorded and ``mailer`` may be None; the report says what
    would be sent and what would be held back, and why. Without ``dry_run``, raises ConfigurationError
    when ``CC_SECRET_KEY`` is unset or the published default (resume links could be forged).

    Example::

        report = asyncio.run(run_nudges(store, settings, contacts=FileContactLookup("contacts.csv"),
                                        mailer=MaildirMailer(settings.data_dir / "outbox")))
    """
    if mailer is None and not dry_run:
        raise ValueError("a Mailer is needed to send nudges; pass one, or use dry_run=True")
    key = settings.secret_key.get_secret_value()
    default_key = Settings.model_fields["secret_key"].default
    if not dry_run and (not key.strip() or key == default_key.get_secret_value()):
        # The default key is in the source: links signed with it could be forged for any journey.
        raise ConfigurationError(
            "CC_SECRET_KEY is not set (or is the published default), so resume links could be forged; "
            "set CC_SECRET_KEY to a long random secret shared with the portal, then run again"
        )
    cfg = settings.journeys
    if cfg.link_ttl_hours <= 0:
        raise ConfigurationError(
            f"CC_JOURNEYS__LINK_TTL_HOURS={cfg.link_ttl_hours}: resume links would have expired before "
            "the e-mail arrives; give a number of hours above 0 (default 168)"
        )
    if not 0.0 <= cfg.holdout_share <= 1.0:
        raise ConfigurationError(
            f"CC_JOURNEYS__HOLDOUT_SHARE={cfg.holdout_share} is not a share; give a number from 0 to 1 "
            "(default 0.10)"
        )
    when = as_of or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError(f"{when.isoformat()} has no timezone; give an offset such as +01:00")
    quiet = QuietHours(cfg.quiet_hours, cfg.timezone, cfg.holiday_country)
    catalog = store.catalog()
    finder = HelpFinder(search, catalog, fallback_languages=cfg.fallback_languages)
    run = _Run(store, settings, when.timestamp(), dry_run, Counter())
    report = NudgeReport(as_of=when, dry_run=dry_run)
    existing = run.existing()
    quiet_reason = quiet.reason(when)
    started = time.time()

    for journey in find_abandoned(store, procedure=procedure, as_of=when):

        def out(
            outcome: Outcome, reason: str = "", *, j: AbandonedJourney = journey, **kw: str | None
        ) -> None:
            report.outcomes.append(
                NudgeOutcome(
                    journey_id=j.journey_id,
                    procedure=j.procedure,
                    step=j.step,
                    outcome=outcome,
                    reason=reason,
                    **kw,
                )
            )

        status = existing.get(journey.journey_id)
        if status in _FINAL_STATUSES:
            out("skipped", f"already decided ({status}); at most one nudge per journey")
            continue
        if journey.idle_seconds > cfg.max_idle_days * 86400:
            out("skipped", f"idle for more than {cfg.max_idle_days} days; too late to help")
            continue
        if quiet_reason:
            out("held", quiet_reason)
            continue
        if not journey.citizen_ref:
            out("held", "no citizen_ref on the journey's events; nobody to contact")
            continue
        contact = contacts.lookup(journey.citizen_ref)
        if contact is None:
            out("held", "no contact for this citizen")
            continue
        if not contact.consent:
            out("held", "no consent to be contacted")
            continue
        # Re-read before the holdout draw too: a held-out journey that finished meanwhile would count
        # as a success the nudged group can never have (its own such journeys are skipped).
        state = journey_state(store, journey.procedure, journey.journey_id)
        if state is None or state[0]:
            out("skipped", "finished since detection")
            continue
        if state[1] > journey.last_event_at.timestamp():
            out("skipped", "active again since detection")
            continue
        if in_holdout(journey.journey_id, cfg.holdout_share):
            if not dry_run:
                run.record(journey, "holdout")
            out(
                "holdout",
                f"holdout group ({cfg.holdout_share:.0%} of journeys get no nudge, to measure the uplift)",
            )
            continue
        if run.sent_last_week(journey.citizen_ref) >= cfg.weekly_cap:
            out("held", f"weekly cap reached ({cfg.weekly_cap} nudges per citizen in 7 days)")
            continue

        proc = catalog[journey.procedure]
        language = choose_language([contact.language, journey.language, *cfg.fallback_languages])
        help_language, hits = finder.hits(journey.procedure, journey.step, language)
        expires_at = datetime.fromtimestamp(run.now + cfg.link_ttl_hours * 3600, tz=UTC)
        link = sign_resume_link(
            proc.resume_url,
            procedure=proc.slug,
            journey_id=journey.journey_id,
            step=journey.step,
            key=key,
            expires_at=expires_at,
        )
        message = build_nudge(
            procedure=proc,
            journey_id=journey.journey_id,
            step=journey.step,
            language=language,
            to=contact.email,
            sender=cfg.sender,
            link=link,
            expires_at=expires_at.astimezone(quiet.zone),
            hits=hits,
            now=datetime.fromtimestamp(max(run.now, started), tz=UTC),
        )
        message_id = str(message["Message-ID"])
        if dry_run:
            run.sent_this_run[journey.citizen_ref] += 1
            out(
                "would_send",
                f"help in {help_language}: {len(hits)} passage(s)",
                language=language,
                message_id=message_id,
            )
            continue
        if not run.record(journey, "claimed", sent_at=run.now, language=language, message_id=message_id):
            out("skipped", "already decided by a concurrent run")
            continue
        if run.sent_last_week(journey.citizen_ref) > cfg.weekly_cap:
            # Another run claimed a nudge for this citizen between our cap check and our claim. Counted
            # again once claimed, the later of two claims always sees both, so the cap holds; both may
            # step back, and the next run sends.
            run.release(journey.journey_id)
            out(
                "held",
                f"weekly cap reached ({cfg.weekly_cap} nudges per citizen in 7 days; a concurrent run)",
            )
            continue
        assert mailer is not None
        result = await mailer.send(message)
        if result.accepted:
            run.finish(journey.journey_id, status="sent", reply=result.reply)
            out("sent", f"{result.code} {result.reply}".strip(), language=language, message_id=message_id)
        elif result.temporary:
            # Deferred rows do not count as the journey's nudge: the next run may try again.
            run.finish(
                journey.journey_id, status="deferred", sent_at=None, reply=f"{result.code} {result.reply}"
            )
            out(
                "deferred",
                f"{result.code} {result.reply}; retried next run",
                language=language,
                message_id=message_id,
            )
        else:
            run.finish(
                journey.journey_id, status="failed", sent_at=None, reply=f"{result.code} {result.reply}"
            )
            out("failed", f"{result.code} {result.reply}", language=language, message_id=message_id)
    return report
