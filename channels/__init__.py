"""Channels: the ports through which citizens and the City exchange messages (web chat, e-mail, SMS...)."""

from channels.mailer import MaildirMailer, Mailer, SendResult, WireMailer, WireMessage, mailer_from_settings

__all__ = ["MaildirMailer", "Mailer", "SendResult", "WireMailer", "WireMessage", "mailer_from_settings"]
