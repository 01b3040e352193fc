from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from campaigns import Campaigns, SendWindow, estimate_finish
from campaigns.schedule import BRUSSELS, parse_rate
from campaigns.tables import campaigns
from channels import MaildirMailer
from contact_center.errors import CampaignError, ScheduleError
from tests.campaigns.helpers import resident


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BRUSSELS).timestamp()


def test_window_parsing_and_opening_hours() -> None:
    window = SendWindow.parse("mon-fri 09:00-17:00")
    assert window.is_open(ts("2026-11-23 09:00"))  # Monday
    assert not window.is_open(ts("2026-11-23 17:00"))
    assert not window.is_open(ts("2026-11-22 12:00"))  # Sunday
    assert window.next_open(ts("2026-11-21 20:00")) == ts("2026-11-23 09:00")
    assert SendWindow.parse("sat-mon 08:00-09:00").days == frozenset({5, 6, 0})
    assert SendWindow.parse("daily 10:00-11:00").is_open(ts("2026-11-22 10:30"))
    # Summer time: the window follows local time (07:30 UTC in July is 09:30 in Brussels).
    summer = datetime(2026, 7, 1, 7, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert SendWindow.parse("daily 09:00-10:00").is_open(summer)
    assert not SendWindow.parse("daily 07:00-08:00").is_open(summer)


@pytest.mark.parametrize(
    "bad", ["weekdays 9-5", "mon-fri 17:00-09:00", "mon-fry 09:00-10:00", "mon 25:00-26:00"]
)
def test_bad_windows_are_refused_with_an_example(bad: str) -> None:
    with pytest.raises(ScheduleError, match="window"):
        SendWindow.parse(bad)


def test_rates() -> None:
    assert parse_rate("50/s") == 50
    assert parse_rate("3000/min") == 50
    assert parse_rate("7200/h") == 2
    with pytest.raises(ScheduleError, match="50/s"):
        parse_rate("fast")


def test_finish_estimate_counts_only_open_window_time() -> None:
    window = SendWindow.parse("mon-fri 09:00-17:00")
    # 8 h per day at 1/s: 40,000 messages from Friday 16:00 = 1 h Friday + 8 h Monday + 2 h 6 m 40 s Tuesday.
    finish = estimate_finish(40_000, 1.0, ts("2026-11-27 16:00"), window)
    assert finish == ts("2026-12-01 11:06:40")
    assert estimate_finish(100, 10.0, 1000.0, None) == 1010.0


def _campaign(service: Campaigns, templates: Path) -> None:
    service.create("c", segment="consent = true", templates=templates, from_addr="B <b@example.brussels>")


def test_start_long_past_is_refused_unless_confirmed(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None]
) -> None:
    populated([resident(1)])
    _campaign(service, templates_dir)
    with pytest.raises(ScheduleError, match="more than 60 minutes in the past; pass --confirm-late"):
        service.schedule("c", at="2020-01-01 09:00")
    assert service.schedule("c", at="2020-01-01 09:00", confirm_late=True).recipients == 1


async def test_worker_asks_for_confirmation_when_it_wakes_up_late(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    populated([resident(1), resident(2)])
    _campaign(service, templates_dir)
    service.schedule("c", at="2099-01-01 09:00")
    # The worker was down: the start is now two hours past.
    with service.engine.begin() as conn:
        conn.execute(sa.update(campaigns).values(scheduled_at=datetime.now().timestamp() - 7200))
    outbox = MaildirMailer(tmp_path / "outbox")
    report = await service.run(mailer=outbox)
    assert report.needs_confirmation == ["c"] and report.sent == 0
    status = service.status("c")
    assert status.status == "needs-confirmation"
    assert any("confirm c" in w for w in status.warnings)
    assert outbox.messages() == []
    service.confirm("c")
    report = await service.run(mailer=outbox)
    assert report.sent == 2
    assert service.status("c").status == "finished"
    with pytest.raises(CampaignError, match="finished"):
        service.confirm("c")


async def test_closed_window_sends_nothing_and_status_warns_about_deadline(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    populated([resident(i) for i in range(5)])
    _campaign(service, templates_dir)
    now = datetime.now(BRUSSELS)
    closed_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(now.weekday() + 3) % 7]
    service.schedule("c", window=f"{closed_day} 09:00-09:01", rate="1/min", deadline="2026-01-01 00:00")
    outbox = MaildirMailer(tmp_path / "outbox")
    report = await service.run(mailer=outbox)
    assert report.sent == 0 and outbox.messages() == []
    status = service.status("c")
    assert status.estimated_finish is not None and status.deadline is not None
    assert any("after the deadline" in w for w in status.warnings)


def test_start_that_does_not_exist_or_happens_twice_on_a_dst_night_is_refused(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None]
) -> None:
    populated([resident(1)])
    _campaign(service, templates_dir)
    # 28 March 2027: Brussels clocks jump from 02:00 to 03:00, so 02:30 never happens on the wall clock.
    with pytest.raises(ScheduleError, match=r"2027-03-28 02:30 does not exist in Brussels"):
        service.schedule("c", at="2027-03-28 02:30")
    # 31 October 2027: clocks go back from 03:00 to 02:00, so 02:30 happens twice, an hour apart.
    with pytest.raises(ScheduleError, match=r"2027-10-31 02:30 happens twice in Brussels.*\+02:00.*\+01:00"):
        service.schedule("c", at="2027-10-31 02:30")
    with pytest.raises(ScheduleError, match="does not exist"):
        service.schedule("c", at="2027-12-01 09:00", deadline="2027-03-28 02:15")
    assert service._row("c").status == "draft"
    # With the offset the instant is unambiguous and accepted; ordinary times on those days too.
    report = service.schedule("c", at="2027-10-31 02:30+01:00")
    assert report.starts_at == datetime.fromisoformat("2027-10-31T01:30:00+00:00").timestamp()
    assert (
        service.schedule("c", at="2027-03-28 03:00").starts_at
        == datetime.fromisoformat("2027-03-28T01:00:00+00:00").timestamp()
    )


def test_a_window_edge_inside_the_skipped_spring_hour_follows_the_wall_clock() -> None:
    # 28 March 2027: at 02:00 CET the clocks jump to 03:00 CEST, so local 02:00-03:00 never happens.
    utc = ZoneInfo("UTC")

    def at(hour: int, minute: int) -> float:
        return datetime(2027, 3, 28, hour, minute, tzinfo=utc).timestamp()

    night = SendWindow.parse("daily 01:00-02:30")
    assert night.is_open(at(0, 59))  # 01:59 CET
    assert not night.is_open(at(1, 15))  # 03:15 CEST: past 02:30 on the wall clock
    early = SendWindow.parse("daily 02:30-04:00")
    assert early.is_open(at(1, 0))  # 03:00 CEST, the first minute after the jump
    assert early.next_open(at(0, 30)) == at(1, 0)
    # The estimate counts the window as it really was open that night: 03:00-04:00 CEST.
    assert estimate_finish(1800, 1.0, at(0, 30), early) == at(1, 30)


async def test_a_start_outside_the_window_is_not_late_when_the_window_opens(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    # Scheduled on a Friday evening for "mon-fri 09:00-17:00": on Monday at 09:00 the start is 63 hours
    # past, but the campaign could not send before then; it must go out, not wait for 'confirm'.
    from campaigns import Worker

    populated([resident(1), resident(2)])
    _campaign(service, templates_dir)
    service.schedule("c", at="2099-01-09 18:00", window="mon-fri 09:00-17:00")  # a Friday
    outbox = MaildirMailer(tmp_path / "outbox")

    async def run_at(local: str) -> Any:
        worker = Worker(service.engine, service.settings, outbox, clock=lambda: ts(local))
        return await worker.run(once=True)

    report = await run_at("2099-01-09 18:05")
    assert (report.sent, report.needs_confirmation) == (0, [])
    report = await run_at("2099-01-12 09:00")
    assert (report.sent, report.needs_confirmation) == (2, [])
    # A worker that was down through the opening itself is late: that still asks for confirmation.
    service.create("d", segment="consent = true", templates=templates_dir, from_addr="B <b@example.brussels>")
    service.schedule("d", at="2099-01-12 09:00", window="mon-fri 09:00-17:00")
    report = await run_at("2099-01-12 14:00")
    assert (report.sent, report.needs_confirmation) == (0, ["d"])


async def test_no_message_leaves_after_the_window_closes_while_waiting_for_the_rate(
    service: Campaigns, templates_dir: Path, populated: Callable[..., None], tmp_path: Path
) -> None:
    # At a slow rate the worker waits for the next token; a window that closed meanwhile must hold the
    # message back until the next opening instead of sending it after hours.
    from campaigns import Worker

    populated([resident(i) for i in range(5)])
    _campaign(service, templates_dir)
    service.schedule("c", at="2099-01-12 16:59", window="mon-fri 09:00-17:00", rate="2/s")
    outbox = MaildirMailer(tmp_path / "outbox")
    now = [ts("2099-01-12 16:59:59")]

    class Relay:
        async def send(self, message: Any) -> Any:
            now[0] = ts("2099-01-12 17:00")  # the window closes as the first message goes out
            return await outbox.send(message)

        async def aclose(self) -> None:
            pass

    worker = Worker(service.engine, service.settings, Relay(), clock=lambda: now[0])  # type: ignore[arg-type]
    report = await worker.run(once=True)
    assert report.sent == 1 and len(outbox.messages()) == 1
    assert service.status("c").counts["pending"] == 4


def test_status_of_a_campaign_that_would_take_more_than_ten_years(
    tmp_path: Path, templates_dir: Path
) -> None:
    # One minute a week at one message an hour: the estimate ran past its ten-year horizon, came back
    # infinite, and 'status' died with "OverflowError: timestamp out of range" ('--json' wrote Infinity).
    import json

    from typer.testing import CliRunner

    from campaigns.cli import app
    from tests.campaigns.helpers import write_csv

    env = {"CC_DATA_DIR": str(tmp_path / "data"), "CC_SECRET_KEY": "k"}
    runner = CliRunner()
    csv_path = write_csv(tmp_path / "r.csv", [resident(i) for i in range(12)])
    assert runner.invoke(app, ["contacts", "import", str(csv_path)], env=env).exit_code == 0
    args = ["create", "c", "--segment", "consent = true", "--templates", str(templates_dir)]
    assert runner.invoke(app, [*args, "--from", "B <b@example.brussels>"], env=env).exit_code == 0
    schedule = [
        "schedule",
        "c",
        "--window",
        "mon 09:00-09:01",
        "--rate",
        "1/h",
        "--deadline",
        "2099-01-01 00:00",
    ]
    assert runner.invoke(app, schedule, env=env).exit_code == 0
    result = runner.invoke(app, ["status", "c"], env=env)
    assert result.exit_code == 0, result.output
    assert "more than 10 years" in result.output
    result = runner.invoke(app, ["status", "c", "--json"], env=env)
    document = json.loads(result.output)
    assert document["estimated_finish"] is None
    assert any("more than 10 years" in w for w in document["warnings"])
