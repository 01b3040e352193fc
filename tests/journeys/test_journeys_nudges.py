from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from channels.mailer import MaildirMailer, SendResult
from contact_center.errors import ConfigurationError
from contact_center.journeys import (
    Contact,
    JourneyStore,
    MappingContactLookup,
    compute_uplift,
    in_holdout,
    parse_event,
    run_nudges,
    verify_resume_link,
)
from contact_center.models import Hit
from contact_center.settings import JourneySettings, Settings
from tests.journeys.journeys_helpers import Journeys, TinyKnowledgeBase

DAY = 24 * 60
# T0 + 3 days 2 hours = Thursday 8 October 2026, 12:00 in Brussels: no quiet hours, no holiday.
NOON = 3 * DAY + 2 * 60


def settings(tmp_path: Path, **journeys: object) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key="test-key",  # type: ignore[arg-type]
        journeys=JourneySettings(**{"holdout_share": 0.0, **journeys}),  # type: ignore[arg-type]
    )


def abandon(journeys: Journeys, journey_id: str, *, citizen: str, language: str = "fr") -> None:
    journeys.through(journey_id, ["identity", "civil-status"], citizen_ref=citizen, language=language)


@pytest.fixture
def outbox(tmp_path: Path) -> MaildirMailer:
    return MaildirMailer(tmp_path / "outbox")


async def test_a_nudge_carries_help_and_a_signed_link_to_the_exact_step(
    store: JourneyStore,
    journeys: Journeys,
    kb: TinyKnowledgeBase,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
) -> None:
    abandon(journeys, "j1", citizen="c1", language="nl")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({"c1": Contact("ana@example.org", "en", True)})
    cfg = settings(tmp_path)
    report = await run_nudges(store, cfg, contacts=contacts, mailer=outbox, search=kb, as_of=at(NOON))
    assert [(o.journey_id, o.outcome, o.language) for o in report.outcomes] == [("j1", "sent", "en")]

    [message] = outbox.messages()
    assert message["To"] == "ana@example.org"
    assert message["Subject"] == "Your “Marriage declaration” application is waiting for you"
    body = message.get_content()
    assert "stopped at the step “documents to bring”" in body
    assert "Documents to bring" in body and "https://www.brussels.be/marriage" in body
    link = next(line for line in body.splitlines() if line.startswith("https://example.brussels/"))
    assert link.startswith("https://example.brussels/procedures/marriage/j1/documents?exp=")
    expires = verify_resume_link(link, journey_id="j1", step="documents", key="test-key", now=at(NOON))
    assert expires == at(NOON).replace(second=0) + timedelta(hours=168)

    again = await run_nudges(store, cfg, contacts=contacts, mailer=outbox, search=kb, as_of=at(NOON + 60))
    assert [o.outcome for o in again.outcomes] == ["skipped"]
    assert "at most one nudge per journey" in again.outcomes[0].reason
    assert len(outbox.messages()) == 1


async def test_what_is_held_back_and_why(
    store: JourneyStore,
    journeys: Journeys,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
) -> None:
    abandon(journeys, "no-consent", citizen="c-no")
    abandon(journeys, "no-contact", citizen="c-unknown")
    for n in range(3):
        abandon(journeys, f"capped-{n}", citizen="c-busy")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup(
        {"c-no": Contact("no@example.org", "fr", False), "c-busy": Contact("busy@example.org", "fr", True)}
    )
    report = await run_nudges(
        store, settings(tmp_path, weekly_cap=2), contacts=contacts, mailer=outbox, as_of=at(NOON)
    )
    outcomes = {o.journey_id: (o.outcome, o.reason) for o in report.outcomes}
    assert outcomes["no-consent"] == ("held", "no consent to be contacted")
    assert outcomes["no-contact"] == ("held", "no contact for this citizen")
    assert sorted(o for o, _ in (outcomes[f"capped-{n}"] for n in range(3))) == ["held", "sent", "sent"]
    assert any("weekly cap reached" in r for _, r in outcomes.values())
    assert len(outbox.messages()) == 2
    # French is the contact's language.
    assert outbox.messages()[0]["Subject"].startswith("Votre démarche")


async def test_nothing_goes_out_during_quiet_hours(
    store: JourneyStore,
    journeys: Journeys,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
) -> None:
    abandon(journeys, "j1", citizen="c1")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({"c1": Contact("a@example.org", "fr", True)})
    night = at(NOON + 10 * 60)  # 22:00 in Brussels
    report = await run_nudges(store, settings(tmp_path), contacts=contacts, mailer=outbox, as_of=night)
    assert report.outcomes[0].outcome == "held"
    assert report.outcomes[0].reason.startswith("quiet hours (20:00-09:00 Europe/Brussels)")
    assert outbox.messages() == []


class _FinishesWhileLookedUp:
    """The citizen completes journey j1 at the moment the policy looks up their contact."""

    def __init__(self, store: JourneyStore, at: Callable[[float], datetime]) -> None:
        self.store, self.at = store, at

    def lookup(self, citizen_ref: str) -> Contact | None:
        late = {
            "event_id": "late",
            "journey_id": "j1",
            "procedure": "marriage-declaration",
            "type": "completed",
            "ts": self.at(NOON - 1).isoformat(),
        }
        self.store.ingest([parse_event(late)])
        return Contact("a@example.org", "fr", True)


async def test_a_journey_finished_between_detection_and_sending_is_left_alone(
    store: JourneyStore,
    journeys: Journeys,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
) -> None:
    abandon(journeys, "j1", citizen="c1")
    store.ingest(journeys.parsed())

    report = await run_nudges(
        store, settings(tmp_path), contacts=_FinishesWhileLookedUp(store, at), mailer=outbox, as_of=at(NOON)
    )
    assert [(o.outcome, o.reason) for o in report.outcomes] == [("skipped", "finished since detection")]
    assert outbox.messages() == []


async def test_holdout_gets_no_nudge_and_is_recorded(
    store: JourneyStore,
    journeys: Journeys,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
) -> None:
    ids = [f"j{n}" for n in range(40)]
    for jid in ids:
        abandon(journeys, jid, citizen=f"c-{jid}")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({f"c-{jid}": Contact(f"{jid}@example.org", "fr", True) for jid in ids})
    cfg = settings(tmp_path, holdout_share=0.25, weekly_cap=5)
    report = await run_nudges(store, cfg, contacts=contacts, mailer=outbox, as_of=at(NOON))
    held_out = {o.journey_id for o in report.outcomes if o.outcome == "holdout"}
    assert held_out == {jid for jid in ids if in_holdout(jid, 0.25)}
    assert 0 < len(held_out) < 40
    assert len(outbox.messages()) == 40 - len(held_out)
    again = await run_nudges(store, cfg, contacts=contacts, mailer=outbox, as_of=at(NOON + 5))
    assert {o.outcome for o in again.outcomes} == {"skipped"}


async def test_dry_run_sends_and_records_nothing(
    store: JourneyStore, journeys: Journeys, tmp_path: Path, at: Callable[[float], datetime]
) -> None:
    abandon(journeys, "j1", citizen="c1")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({"c1": Contact("a@example.org", "fr", True)})
    cfg = settings(tmp_path)
    first = await run_nudges(store, cfg, contacts=contacts, mailer=None, as_of=at(NOON), dry_run=True)
    second = await run_nudges(store, cfg, contacts=contacts, mailer=None, as_of=at(NOON), dry_run=True)
    assert [o.outcome for o in first.outcomes] == [o.outcome for o in second.outcomes] == ["would_send"]
    with pytest.raises(ValueError, match="a Mailer is needed"):
        await run_nudges(store, cfg, contacts=contacts, mailer=None, as_of=at(NOON))


async def test_a_temporary_refusal_is_retried_on_the_next_run(
    store: JourneyStore, journeys: Journeys, tmp_path: Path, at: Callable[[float], datetime]
) -> None:
    class BusyThenOk:
        """A relay that answers 451 once (a fault a Maildir cannot produce), then accepts."""

        def __init__(self) -> None:
            self.codes = [451, 250]
            self.sent: list[EmailMessage] = []

        async def send(self, message: EmailMessage) -> SendResult:
            self.sent.append(message)
            return SendResult(
                str(message["Message-ID"]), self.codes.pop(0), "try later" if len(self.codes) else "ok"
            )

        async def aclose(self) -> None:
            return None

    abandon(journeys, "j1", citizen="c1")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({"c1": Contact("a@example.org", "fr", True)})
    mailer = BusyThenOk()
    first = await run_nudges(store, settings(tmp_path), contacts=contacts, mailer=mailer, as_of=at(NOON))
    second = await run_nudges(
        store, settings(tmp_path), contacts=contacts, mailer=mailer, as_of=at(NOON + 30)
    )
    assert [o.outcome for o in first.outcomes + second.outcomes] == ["deferred", "sent"]
    assert mailer.sent[0]["Message-ID"] == mailer.sent[1]["Message-ID"]


async def test_a_journey_finished_meanwhile_does_not_enter_the_holdout_group(
    store: JourneyStore,
    journeys: Journeys,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
) -> None:
    # A nudged journey that finishes meanwhile is skipped; a held-out one must be too, or the holdout
    # group collects journeys that came back on their own and the uplift comes out too low.
    abandon(journeys, "j1", citizen="c1")
    store.ingest(journeys.parsed())

    cfg = settings(tmp_path, holdout_share=1.0)
    report = await run_nudges(
        store, cfg, contacts=_FinishesWhileLookedUp(store, at), mailer=outbox, as_of=at(NOON)
    )
    assert [(o.outcome, o.reason) for o in report.outcomes] == [("skipped", "finished since detection")]
    assert compute_uplift(store, "marriage-declaration").holdout.journeys == 0


async def test_two_runs_at_once_do_not_exceed_the_weekly_cap(
    store: JourneyStore,
    journeys: Journeys,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
) -> None:
    # Two runs (say, one per procedure, started by two cron jobs) each find one journey of the same
    # citizen; with a cap of 1, at most one nudge may go out, however their steps interleave.
    abandon(journeys, "marriage-1", citizen="c1")
    journeys.through("terrace-1", ["business"], procedure="horeca-terrace-permit", citizen_ref="c1")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({"c1": Contact("a@example.org", "fr", True)})
    cfg = settings(tmp_path, weekly_cap=1)
    both_checked = threading.Barrier(2, timeout=10)

    class SlowKnowledgeBase:
        """Each run reaches the help lookup (after its cap check) before either one claims its nudge."""

        def search(
            self, question: str, k: int = 5, *, language: str | None = None, topic: str | None = None
        ) -> list[Hit]:
            both_checked.wait()
            return []

    def run(procedure: str) -> list[str]:
        report = asyncio.run(
            run_nudges(
                store,
                cfg,
                contacts=contacts,
                mailer=MaildirMailer(tmp_path / "outbox"),
                search=SlowKnowledgeBase(),
                as_of=at(NOON),
                procedure=procedure,
            )
        )
        return [o.outcome for o in report.outcomes]

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(run, ["marriage-declaration", "horeca-terrace-permit"]))
    assert sorted(o for run_outcomes in outcomes for o in run_outcomes).count("sent") <= 1
    assert len(outbox.messages()) <= 1
    # Whatever was held back is tried again by the next run, and the cap then lets one through if none did.
    again = await run_nudges(store, cfg, contacts=contacts, mailer=outbox, as_of=at(NOON + 30))
    assert len(outbox.messages()) == 1
    assert [o.outcome for o in again.outcomes].count("sent") + sum(o.count("sent") for o in outcomes) == 1


async def test_no_nudge_goes_out_with_links_signed_by_the_default_key(
    store: JourneyStore,
    journeys: Journeys,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
) -> None:
    # The default CC_SECRET_KEY is published in the source: anyone could forge a resume link with it.
    abandon(journeys, "j1", citizen="c1")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({"c1": Contact("a@example.org", "fr", True)})
    cfg = Settings(data_dir=tmp_path, journeys=JourneySettings(holdout_share=0.0))
    with pytest.raises(ConfigurationError, match="CC_SECRET_KEY"):
        await run_nudges(store, cfg, contacts=contacts, mailer=outbox, as_of=at(NOON))
    assert outbox.messages() == []
    # A dry run sends no link, so it still shows what would be sent.
    report = await run_nudges(store, cfg, contacts=contacts, mailer=None, as_of=at(NOON), dry_run=True)
    assert [o.outcome for o in report.outcomes] == ["would_send"]


async def test_a_contact_language_with_a_region_is_honoured(
    store: JourneyStore,
    journeys: Journeys,
    kb: TinyKnowledgeBase,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
) -> None:
    # CRMs in Belgium write nl-BE / fr_BE; the contact's language comes before the journey's.
    abandon(journeys, "j1", citizen="c1", language="fr")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({"c1": Contact("jan@example.org", "nl-BE", True)})
    report = await run_nudges(
        store, settings(tmp_path), contacts=contacts, mailer=outbox, search=kb, as_of=at(NOON)
    )
    assert [(o.outcome, o.language) for o in report.outcomes] == [("sent", "nl")]
    assert outbox.messages()[0]["Subject"].startswith("Uw aanvraag")


@pytest.mark.parametrize(
    ("setting", "value"),
    [("link_ttl_hours", 0), ("link_ttl_hours", -24), ("holdout_share", 1.5), ("holdout_share", -0.1)],
)
async def test_impossible_nudge_settings_are_refused_before_anything_is_sent(
    store: JourneyStore,
    journeys: Journeys,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
    setting: str,
    value: float,
) -> None:
    # link_ttl_hours=0 sent links that had expired before the e-mail arrived.
    abandon(journeys, "j1", citizen="c1")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({"c1": Contact("a@example.org", "fr", True)})
    with pytest.raises(ConfigurationError, match=f"CC_JOURNEYS__{setting.upper()}"):
        await run_nudges(
            store, settings(tmp_path, **{setting: value}), contacts=contacts, mailer=outbox, as_of=at(NOON)
        )
    assert outbox.messages() == []


async def test_a_title_written_as_a_yaml_block_still_makes_a_subject(
    store: JourneyStore,
    journeys: Journeys,
    outbox: MaildirMailer,
    tmp_path: Path,
    at: Callable[[float], datetime],
) -> None:
    """A folded YAML scalar (``fr: >``) ends with a newline, which no e-mail header may hold: the whole
    nudge run stopped on "Header values may not contain linefeed or carriage return characters"."""
    from contact_center.journeys import load_procedures

    path = tmp_path / "procedures.yaml"
    path.write_text(
        "procedures:\n"
        "  marriage-declaration:\n"
        "    title:\n"
        "      fr: >\n"
        "        Déclaration\n"
        "        de mariage\n"
        "    steps: [identity, civil-status, documents, appointment, payment]\n"
        "    step_titles:\n"
        "      documents:\n"
        "        fr: |\n"
        "          documents à fournir\n"
        "    idle_window: 48h\n"
        "    resume_url: 'https://example.brussels/procedures/marriage/{journey_id}/{step}'\n",
        encoding="utf-8",
    )
    store.register_procedures(load_procedures(path))
    abandon(journeys, "j1", citizen="c1")
    store.ingest(journeys.parsed())
    contacts = MappingContactLookup({"c1": Contact("ana@example.org", "fr", True)})
    report = await run_nudges(store, settings(tmp_path), contacts=contacts, mailer=outbox, as_of=at(NOON))
    assert [o.outcome for o in report.outcomes] == ["sent"]
    [message] = outbox.messages()
    assert message["Subject"] == "Votre démarche « Déclaration de mariage » vous attend"
    assert "arrêté·e à l'étape « documents à fournir »." in message.get_content()
