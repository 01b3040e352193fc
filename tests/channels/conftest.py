from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels.smtp_peer import RecordingHandler, SMTPPeer


@pytest.fixture
def smtp_peer() -> Iterator[SMTPPeer]:
    peer = SMTPPeer(RecordingHandler())
    peer.start()
    yield peer
    peer.stop()
