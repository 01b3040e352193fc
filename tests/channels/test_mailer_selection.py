from __future__ import annotations

from pathlib import Path

from channels import MaildirMailer, mailer_from_settings
from channels.smtp import SMTPMailer
from contact_center.settings import Settings, SMTPSettings


def test_without_a_relay_mail_goes_to_the_outbox_in_the_data_dir(tmp_path: Path) -> None:
    mailer = mailer_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(mailer, MaildirMailer)
    assert mailer.path == tmp_path / "outbox"


def test_setting_a_relay_host_switches_to_smtp(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, smtp=SMTPSettings(host="127.0.0.1", port=2525, tls="none"))
    assert isinstance(mailer_from_settings(settings), SMTPMailer)
    assert not (tmp_path / "outbox").exists()
