"""A small OpenAI-compatible chat completions server on 127.0.0.1, for tests that use the real client.

The real ``openai`` client (or ``langchain_openai.ChatOpenAI``) talks HTTP to it, so retries, timeouts,
streaming and parsing are exercised for real; only the model is scripted. Starlette app, uvicorn in a
background thread, an ephemeral port.

Usage::

    from tests.fakes.openai_server import FakeOpenAIServer, Fault

    with FakeOpenAIServer(replies=["first reply", Fault.status(429), "after the retry"]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=1)
        client.chat.completions.create(model="fake", messages=[...])
        server.requests[0]["messages"]        # what the client sent

Replies are served in order, one per request (the last one repeats when the script runs out), or
computed by ``responder(request_json) -> Reply`` for replies that depend on the prompt. A reply is:

- a ``str``: the assistant message's content;
- a ``dict``: the assistant ``message`` object as is (e.g. with ``tool_calls``);
- a :class:`Fault`: ``Fault.status(429)`` / ``Fault.status(500)`` (an OpenAI-style error body, with
  ``Retry-After: 0`` on 429 so retries are quick), ``Fault.timeout(seconds)`` (the server waits that long
  before answering: set the client's timeout below it), ``Fault.garbage()`` (200 with a non-JSON body).

``"stream": true`` requests get server-sent events: the content in word-sized chunks then ``[DONE]``.
Served endpoints: ``POST /v1/chat/completions`` (also without ``/v1``) and ``GET /v1/models``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["FakeOpenAIServer", "Fault", "Reply"]


@dataclass(frozen=True)
class Fault:
    """A scripted failure: an HTTP error status, a delay past the client's timeout, or a garbage body."""

    kind: str
    status_code: int = 500
    seconds: float = 0.0

    @classmethod
    def status(cls, code: int) -> Fault:
        """Answer with this HTTP status and an OpenAI-style error body (429 carries ``Retry-After: 0``)."""
        return cls("status", status_code=code)

    @classmethod
    def timeout(cls, seconds: float = 5.0) -> Fault:
        """Wait ``seconds`` before answering (shortened when the server stops)."""
        return cls("timeout", seconds=seconds)

    @classmethod
    def garbage(cls) -> Fault:
        """Answer 200 with a body that is not JSON."""
        return cls("garbage", status_code=200)


Reply = str | dict[str, Any] | Fault


class FakeOpenAIServer:
    """OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1; see the module docstring.

    Attributes:
        requests: the JSON body of every chat completion request received, in order.
        base_url: ``http://127.0.0.1:<port>/v1`` once started.
    """

    def __init__(
        self,
        replies: Sequence[Reply] = ("ok",),
        *,
        responder: Callable[[dict[str, Any]], Reply] | None = None,
        model: str = "fake-model",
    ) -> None:
        if not replies and responder is None:
            raise ValueError("give at least one reply or a responder")
        self._replies = list(replies)
        self._responder = responder
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- scripting -------------------------------------------------------------------------------

    def script(self, replies: Sequence[Reply]) -> None:
        """Replace the remaining scripted replies."""
        with self._lock:
            self._replies = list(replies)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self._responder is not None:
                return self._responder(body)
            if len(self._replies) > 1:
                return self._replies.pop(0)
            return self._replies[0]

    # -- HTTP ------------------------------------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "invalid_request_error", "request body is not JSON")
        if not isinstance(body, dict) or "messages" not in body:
            return _error(400, "invalid_request_error", "'messages' is required")
        reply = self._next_reply(body)
        if isinstance(reply, Fault):
            if reply.kind == "status":
                headers = {"Retry-After": "0"} if reply.status_code == 429 else None
                kind = "rate_limit_exceeded" if reply.status_code == 429 else "server_error"
                return _error(reply.status_code, kind, f"scripted fault {reply.status_code}", headers)
            if reply.kind == "timeout":
                deadline = time.monotonic() + reply.seconds
                while time.monotonic() < deadline and not self._stopping.is_set():
                    await asyncio.sleep(0.02)
                reply = "late reply"
            else:
                return PlainTextResponse("<html>not json</html>", status_code=200)
        message: dict[str, Any] = (
            {"role": "assistant", "content": reply}
            if isinstance(reply, str)
            else {"role": "assistant", **reply}
        )
        model = str(body.get("model") or self.model)
        if body.get("stream"):
            return StreamingResponse(_sse(message, model), media_type="text/event-stream")
        content = message.get("content") or ""
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in body["messages"]),
                    "completion_tokens": len(str(content).split()),
                    "total_tokens": 0,
                },
            }
        )

    async def _models(self, request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "test"}]}
        )

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL to give the client as ``base_url``."""
        if not self.port:
            raise RuntimeError("the server is not started: use it as a context manager or call start()")
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        """Start serving on an ephemeral port of 127.0.0.1; returns when it accepts connections."""
        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
        ]
        config = uvicorn.Config(
            Starlette(routes=routes),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-openai", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start within 10 s")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Stop serving (pending slow replies are cut short) and wait for the thread."""
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _sse(message: dict[str, Any], model: str) -> AsyncIterator[str]:
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
    }
    content = str(message.get("content") or "")
    words = content.split(" ")
    first = {"role": "assistant", "content": ""}
    yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': first, 'finish_reason': None}]})}\n\n"
    for i, word in enumerate(words):
        piece = word if i == len(words) - 1 else word + " "
        chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n"
    last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield f"data: {json.dumps(last)}\n\n"
    yield "data: [DONE]\n\n"
