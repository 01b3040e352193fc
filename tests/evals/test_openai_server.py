"""The loopback OpenAI-compatible server, driven by the real ``openai`` client."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAIServer, Fault

pytestmark = pytest.mark.slow


def _client(server: FakeOpenAIServer, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", **kw)  # type: ignore[arg-type]


def test_scripted_replies_in_order_and_requests_recorded() -> None:
    with FakeOpenAIServer(replies=["one", "two"]) as server:
        client = _client(server)
        ask = [{"role": "user", "content": "hi"}]
        assert client.chat.completions.create(model="m", messages=ask).choices[0].message.content == "one"  # type: ignore[arg-type]
        assert client.chat.completions.create(model="m", messages=ask).choices[0].message.content == "two"  # type: ignore[arg-type]
        assert client.chat.completions.create(model="m", messages=ask).choices[0].message.content == "two"  # type: ignore[arg-type]
        assert server.requests[0]["messages"] == ask and server.requests[0]["model"] == "m"


def test_streaming() -> None:
    with FakeOpenAIServer(replies=["Le prix est de 25 €."]) as server:
        stream = _client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "prix ?"}], stream=True
        )
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert "".join(pieces) == "Le prix est de 25 €." and len(pieces) > 3


def test_429_is_retried_and_500_surfaces() -> None:
    with FakeOpenAIServer(replies=[Fault.status(429), "after retry"]) as server:
        reply = _client(server, max_retries=1).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
        assert reply.choices[0].message.content == "after retry" and len(server.requests) == 2
    with FakeOpenAIServer(replies=[Fault.status(500)]) as server, pytest.raises(openai.InternalServerError):
        _client(server, max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )


def test_timeout_and_garbage() -> None:
    with FakeOpenAIServer(replies=[Fault.timeout(5)]) as server, pytest.raises(openai.APITimeoutError):
        _client(server, max_retries=0, timeout=0.3).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    with FakeOpenAIServer(replies=[Fault.garbage()]) as server:
        # The openai client returns the body as a bare string when it is not JSON.
        reply = _client(server, max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
        assert reply == "<html>not json</html>"  # type: ignore[comparison-overlap]


def test_responder_and_tool_calls() -> None:
    call = {
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    with FakeOpenAIServer(responder=lambda body: call if body.get("tools") else "plain") as server:
        client = _client(server)
        tools: Any = [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
            }
        ]
        msg = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], tools=tools
        ).choices[0]
        assert msg.finish_reason == "tool_calls" and msg.message.tool_calls[0].function.name == "f"  # type: ignore[union-attr, index]
        assert client.models.list().data[0].id == "fake-model"
