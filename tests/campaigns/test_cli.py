"""The ``campaigns`` command group as a user runs it (typer's CliRunner, settings through CC_* variables)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import campaigns
from campaigns.cli import app
from tests.campaigns.helpers import resident, write_csv


def test_full_flow_from_the_command_line(tmp_path: Path, templates_dir: Path) -> None:
    env = {
        "CC_DATA_DIR": str(tmp_path / "data"),
        "CC_SECRET_KEY": "k",
        "CC_CAMPAIGNS__RATE_PER_SECOND": "500",
    }
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.output

    rows = [
        resident(1, "nl"),
        resident(2, "fr"),
        resident(3, "en", permit_expires="31/12/2026"),
        resident(4, "tr"),
    ]
    code, out = run("contacts", "import", str(write_csv(tmp_path / "residents.csv", rows)))
    assert code == 3
    assert (
        "3 new, 0 updated, 1 rejected" in out
        and "line 4: permit_expires '31/12/2026' is not an ISO date" in out
    )
    segment = 'permit_expires within 60 days and language in ("nl", "fr", "tr")'
    assert run("segment", "count", segment) == (0, "3\n")
    code, out = run("segment", "count", 'languge = "fr"')
    assert code == 1 and "line 1, col 1: unknown field 'languge' (did you mean 'language'?)" in out
    code, out = run(
        "create",
        "renewal-2026-12",
        "--segment",
        segment,
        "--templates",
        str(templates_dir),
        "--from",
        "Bureau des étrangers <etrangers@example.brussels>",
    )
    assert code == 0, out
    code, out = run("preview", "renewal-2026-12", "--contact", "resident4@example.org")
    assert code == 0 and "Content-Language: fr, nl" in out
    code, out = run("schedule", "renewal-2026-12", "--window", "daily 00:00-23:59", "--rate", "500/s")
    assert code == 0 and "3 recipients (0 suppressed)" in out, out
    code, out = run("schedule", "renewal-2026-12", "--at", "2020-01-01 09:00")
    assert code == 1 and "--confirm-late" in out
    code, out = run("run", "--once")
    assert code == 0 and "sent 3," in out, out
    code, out = run("status", "renewal-2026-12", "--json")
    status = json.loads(out)
    assert status["campaign"] == "renewal-2026-12"
    assert status["counts"] == {
        "pending": 0,
        "claimed": 0,
        "sent": 3,
        "deferred": 0,
        "failed": 0,
        "suppressed": 0,
    }
    assert status["uncertain"] == 0 and set(status["by_language"]) == {"nl", "fr", "fr+nl"}
    code, out = run("status", "renewal-2026-12")
    assert code == 0 and "finished" in out and "fr+nl" in out
    code, out = run("export", "renewal-2026-12", "-o", str(tmp_path / "ledger.csv"))
    assert code == 0
    with (tmp_path / "ledger.csv").open() as fh:
        assert [r["state"] for r in csv.DictReader(fh)] == ["sent"] * 3
    assert run("list")[1] == "renewal-2026-12\tfinished\t3\n"
    code, out = run("status", "nope")
    assert code == 1 and "no campaign named 'nope'" in out
    assert len(list((tmp_path / "data" / "outbox" / "new").iterdir())) == 3


def test_public_api_is_pinned() -> None:
    assert sorted(campaigns.__all__) == sorted(
        [
            "LEDGER_STATES",
            "AdaptiveRateLimiter",
            "BounceReport",
            "CampaignStatus",
            "Campaigns",
            "Contact",
            "DeliveryStatus",
            "ImportReport",
            "InvalidTokenError",
            "RenderProblem",
            "RenderedMessage",
            "RowError",
            "RunReport",
            "ScheduleReport",
            "Segment",
            "SendWindow",
            "TemplateSet",
            "Worker",
            "estimate_finish",
            "import_contacts",
            "load_templates",
            "make_token",
            "open_engine",
            "parse_delivery_report",
            "parse_segment",
            "plan_languages",
            "process_bounces",
            "suppress",
            "unsubscribe_app",
            "unsuppress",
            "verify_token",
        ]
    )
    assert all(hasattr(campaigns, name) for name in campaigns.__all__)


def test_cli_module_imports_only_typer() -> None:
    code = "import sys, campaigns.cli; print(sorted(m for m in ('sqlalchemy', 'jinja2', 'aiosmtplib', 'lark') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert out.strip() == "[]"


def test_export_cells_that_a_spreadsheet_would_run_as_formulas_are_quoted(
    tmp_path: Path, templates_dir: Path
) -> None:
    # E-mail syntax allows = + - | ' ! in the local part: a resident's address (or a relay's reply)
    # must not become a formula when staff open the export in Excel or LibreOffice (OWASP CSV injection).
    env = {"CC_DATA_DIR": str(tmp_path / "data"), "CC_SECRET_KEY": "k"}
    runner = CliRunner()
    rows = [
        resident(1, email="=cmd|'/Ccalc'!A0@example.org"),
        resident(2, email="+32470@example.org"),
        resident(3, email="-2+3@example.org"),
        resident(4),
    ]
    result = runner.invoke(app, ["contacts", "import", str(write_csv(tmp_path / "r.csv", rows))], env=env)
    assert result.exit_code == 0, result.output
    for args in (
        [
            "create",
            "c",
            "--segment",
            "consent = true",
            "--templates",
            str(templates_dir),
            "--from",
            "B <b@example.brussels>",
        ],
        ["schedule", "c"],
        ["run", "--once"],
        ["export", "c", "-o", str(tmp_path / "ledger.csv")],
    ):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
    with (tmp_path / "ledger.csv").open(newline="", encoding="utf-8") as fh:
        emails = [r["email"] for r in csv.DictReader(fh)]
    assert emails == [
        "'=cmd|'/ccalc'!a0@example.org",
        "'+32470@example.org",
        "'-2+3@example.org",
        "resident4@example.org",
    ]


def test_export_to_a_folder_that_does_not_exist_says_so(tmp_path: Path, templates_dir: Path) -> None:
    env = {"CC_DATA_DIR": str(tmp_path / "data"), "CC_SECRET_KEY": "k"}
    runner = CliRunner()
    runner.invoke(app, ["contacts", "import", str(write_csv(tmp_path / "r.csv", [resident(1)]))], env=env)
    args = ["create", "c", "--segment", "consent = true", "--templates", str(templates_dir)]
    assert runner.invoke(app, [*args, "--from", "B <b@example.brussels>"], env=env).exit_code == 0
    target = tmp_path / "exports" / "ledger.csv"
    result = runner.invoke(app, ["export", "c", "-o", str(target)], env=env)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"cannot write {target}" in result.output and "No such file or directory" in result.output


def test_a_sender_that_needs_smtputf8_is_refused_at_create(tmp_path: Path, templates_dir: Path) -> None:
    # Through a relay without SMTPUTF8 a non-ASCII sender would fail every message of the campaign: such
    # a --from is refused before anything is stored, with what to write instead.
    env = {"CC_DATA_DIR": str(tmp_path / "data"), "CC_SECRET_KEY": "k"}
    runner = CliRunner()
    runner.invoke(app, ["contacts", "import", str(write_csv(tmp_path / "r.csv", [resident(1)]))], env=env)
    args = ["create", "c", "--segment", "consent = true", "--templates", str(templates_dir), "--from"]
    result = runner.invoke(app, [*args, "Bureau <étrangers@bruxelles.example>"], env=env)
    assert result.exit_code == 1
    assert "the part before the @ ('étrangers') is not ASCII" in result.output
    assert "use an ASCII address" in result.output
    result = runner.invoke(app, [*args, "Bureau"], env=env)
    assert result.exit_code == 1 and "has no e-mail address" in result.output
    assert runner.invoke(app, ["list"], env=env).output.strip() == ""
    # An accented domain is fine: it goes out in its IDNA form.
    result = runner.invoke(app, [*args, "Bureau <etrangers@bruxellés.example>"], env=env)
    assert result.exit_code == 0, result.output


def test_create_replace_updates_a_draft_after_a_template_edit_and_never_a_scheduled_campaign(
    tmp_path: Path, templates_dir: Path
) -> None:
    # Staff fix a typo in a template after `create`: --replace stores the edited files over the draft;
    # once scheduled, the ledger holds the campaign as it was, and --replace is refused.
    env = {"CC_DATA_DIR": str(tmp_path / "data"), "CC_SECRET_KEY": "k"}
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.output

    assert run("contacts", "import", str(write_csv(tmp_path / "r.csv", [resident(1, "en")])))[0] == 0
    create = ["create", "renewal", "--segment", "consent = true", "--templates", str(templates_dir)]
    create += ["--from", "Bureau <etrangers@example.brussels>"]
    assert run(*create)[0] == 0
    (templates_dir / "en.txt").write_text("Dear {{ first_name }},\nPlease book an appointment.\n")
    code, out = run(*create)
    assert code == 1 and "already exists" in out and "--replace" in out
    code, out = run(*create, "--replace")
    assert code == 0 and "replaced the draft 'renewal'" in out, out
    code, out = run("preview", "renewal", "--contact", "resident1@example.org", "--language", "en")
    assert code == 0 and "Please book an appointment." in out, out
    assert run("schedule", "renewal")[0] == 0
    (templates_dir / "en.txt").write_text("Dear {{ first_name }},\nA third version.\n")
    code, out = run(*create, "--replace")
    assert code == 1 and "is scheduled" in out and "another name" in out, out
    code, out = run("preview", "renewal", "--contact", "resident1@example.org", "--language", "en")
    assert "Please book an appointment." in out and "A third version." not in out
