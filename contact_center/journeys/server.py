"""The journeys HTTP endpoint: ``POST /events`` (a batch) and ``GET /funnel/{procedure}``.

Run it with ``contact-center journeys serve --port 8030``. Events are validated one by one; the
answer says how many were added, how many were replays, and which were rejected (by index in the
batch, with the reason). Database work runs in a thread so the event loop keeps accepting requests.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contact_center.errors import JourneyError, ProceduresFileError
from contact_center.journeys.events import JourneyEvent, RejectedEvent, check_unicode, parse_event
from contact_center.journeys.funnel import Breakdown, compute_funnel
from contact_center.journeys.procedures import parse_duration
from contact_center.journeys.store import JourneyStore

__all__ = ["MAX_BATCH", "create_app"]

MAX_BATCH = 5000
_MAX_BODY = 8 * 1024 * 1024


_UNENCODED_PLUS = re.compile(r"^(.*\d[T ]\d.*\d) (\d\d(?::?\d\d)?)$")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        # An unencoded '+' in a query string arrives as a space: ?as_of=...T12:00+01:00.
        plus = _UNENCODED_PLUS.sub(r"\1+\2", value)
        try:
            parsed = datetime.fromisoformat(plus)
        except ValueError:
            raise ValueError(
                f"{name}={value!r} is not an ISO date or time (write a '+' offset as %2B)"
            ) from None
    if parsed.tzinfo is None:
        from zoneinfo import ZoneInfo

        # A date in the query string is a Brussels calendar date: that is what service owners mean.
        parsed = parsed.replace(tzinfo=ZoneInfo("Europe/Brussels"))
    return parsed


def create_app(store: JourneyStore) -> Starlette:
    """The Starlette application over ``store``."""

    def ingest(raw_events: list[Any], escapes: bool) -> dict[str, Any]:
        items: list[JourneyEvent | RejectedEvent] = []
        for index, raw in enumerate(raw_events):
            try:
                if escapes:
                    check_unicode(raw)
                items.append(parse_event(raw))
            except ValueError as exc:
                event_id = raw.get("event_id") if isinstance(raw, dict) else None
                items.append(RejectedEvent(index, str(exc), event_id if isinstance(event_id, str) else None))
        result = store.ingest(items)
        return {
            "received": result.read,
            "added": result.added,
            "duplicates": result.duplicates,
            # Every rejection is counted; the first 1,000 are listed.
            "rejected_count": result.rejected_count,
            "rejected": [
                {"index": r["line"], "reason": r["reason"], "event_id": r["event_id"]}
                for r in result.rejected
            ],
            "flagged": [f.model_dump() for f in result.flagged],
        }

    async def post_events(request: Request) -> JSONResponse:
        too_large = _error(
            413, f"body larger than {_MAX_BODY} bytes; send at most {MAX_BATCH} events per request"
        )
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > _MAX_BODY:
            return too_large
        # Read with the limit in hand: a chunked request announces no length.
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > _MAX_BODY:
                return too_large
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(400, f"the body is not JSON: {exc}")
        except RecursionError:
            return _error(
                400,
                'the body is JSON nested too deeply; send a JSON array of flat events, or {"events": [...]}',
            )
        events = data.get("events") if isinstance(data, dict) else data
        if not isinstance(events, list):
            return _error(400, 'expected a JSON array of events, or {"events": [...]}')
        if len(events) > MAX_BATCH:
            return _error(413, f"{len(events)} events in one request; send at most {MAX_BATCH} per request")
        try:
            result = await run_in_threadpool(ingest, events, b"\\u" in body)
        except JourneyError as exc:
            return _error(500, str(exc))
        return JSONResponse(result, status_code=200)

    async def get_funnel(request: Request) -> JSONResponse:
        procedure = request.path_params["procedure"]
        q = request.query_params
        by = q.get("by") or None
        if by not in (None, "channel", "language"):
            return _error(400, f"by={by!r}: use channel or language")
        try:
            start = _parse_time(q.get("from"), "from")
            end = _parse_time(q.get("to"), "to")
            as_of = _parse_time(q.get("as_of"), "as_of")
            raw_within = q.get("within")
            within = None if not raw_within else timedelta(seconds=parse_duration(raw_within))
            breakdown: Breakdown | None = by  # type: ignore[assignment]
            funnel = await run_in_threadpool(
                lambda: compute_funnel(
                    store, procedure, start=start, end=end, by=breakdown, as_of=as_of, within=within
                )
            )
        except ProceduresFileError as exc:
            return _error(404, str(exc))
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse(json.loads(funnel.model_dump_json()))

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/events", post_events, methods=["POST"]),
            Route("/funnel/{procedure}", get_funnel, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )
