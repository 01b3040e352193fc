"""A real SMTP peer for tests: aiosmtpd on 127.0.0.1 that records Message-IDs and can refuse on demand."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RecordingHandler:
    """Accepts mail and records it; ``rcpt_reply``/``data_reply`` may return a refusal such as "451 4.7.1 slow down"."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.messages: list[Message] = []
        self.message_ids: list[str] = []
        self.raw: list[bytes] = []
        self.mail_options: list[list[str]] = []  # the MAIL FROM parameters of each accepted message
        self.rcpt_reply: Callable[[str], str | None] = lambda _addr: None
        self.data_reply: Callable[[Message], str | None] = lambda _msg: None
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        refusal = self.rcpt_reply(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        refusal = self.data_reply(message)
        if refusal:
            return refusal
        with self.lock:
            self.messages.append(message)
            self.raw.append(envelope.original_content or envelope.content)
            self.mail_options.append(list(envelope.mail_options))
            self.message_ids.append(str(message["Message-ID"]))
        return "250 2.0.0 Ok: queued"

    def count(self) -> int:
        with self.lock:
            return len(self.message_ids)

    def duplicates(self) -> dict[str, int]:
        with self.lock:
            return {mid: n for mid, n in Counter(self.message_ids).items() if n > 1}


class SMTPPeer:
    """Starts and stops an aiosmtpd Controller on a fixed loopback port (so it can be restarted)."""

    def __init__(self, handler: RecordingHandler, port: int | None = None, **server_kwargs: Any) -> None:
        self.handler = handler
        self.port = port or free_port()
        self.server_kwargs = server_kwargs
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10, **self.server_kwargs
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 made with the openssl command."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
