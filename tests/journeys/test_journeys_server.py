from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from contact_center.journeys import JourneyStore
from contact_center.journeys.server import MAX_BATCH, create_app
from tests.journeys.journeys_helpers import Journeys


@pytest.fixture
def base_url(store: JourneyStore) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the journeys server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_post_events_then_read_the_funnel(base_url: str, journeys: Journeys) -> None:
    end = journeys.through("j1", ["identity", "civil-status", "documents", "appointment", "payment"])
    journeys.add("j1", "completed", minutes=end + 1)
    journeys.through("j2", ["identity"])
    batch = [*journeys.events, {"event_id": "bad", "journey_id": "j3", "procedure": "marriage-declaration"}]
    with httpx.Client(base_url=base_url, timeout=10) as client:
        response = client.post("/events", json=batch)
        assert response.status_code == 200
        body = response.json()
        assert (body["received"], body["added"], body["duplicates"]) == (len(batch), len(batch) - 1, 0)
        assert body["rejected"] == [{"index": len(batch) - 1, "reason": "missing 'type'", "event_id": "bad"}]

        replay = client.post("/events", json={"events": journeys.events}).json()
        assert (replay["added"], replay["duplicates"]) == (0, len(journeys.events))

        funnel = client.get("/funnel/marriage-declaration", params={"by": "channel"}).json()
        assert (funnel["journeys"], funnel["completed"], funnel["completion_rate"]) == (2, 1, 0.5)
        assert funnel["steps"][0] == {
            "step": "identity",
            "reached": 2,
            "completed": 2,
            "dropped": 0,
            "median_seconds": 300.0,
            "p90_seconds": 300.0,
            "in_progress": 0,
            "ineligible": 0,
        }
        assert list(funnel["groups"]) == ["web"]

        windowed = client.get("/funnel/marriage-declaration", params={"within": "10m"}).json()
        assert (windowed["within_seconds"], windowed["completed"]) == (600, 0)
        assert client.get("/funnel/marriage-declaration", params={"within": "-1h"}).status_code == 400


def test_an_event_with_a_lone_surrogate_escape_is_rejected_alone(base_url: str, journeys: Journeys) -> None:
    journeys.through("j1", ["identity"])
    good = json.dumps(journeys.events)
    bad = json.dumps({**journeys.events[0], "event_id": "half", "channel": "\ud800"})  # written as \\ud800
    assert "\\ud800" in bad
    with httpx.Client(base_url=base_url, timeout=10) as client:
        response = client.post(
            "/events", content=f"[{good[1:-1]}, {bad}]".encode(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["added"] == len(journeys.events)
    assert [(r["index"], r["event_id"]) for r in body["rejected"]] == [(len(journeys.events), "half")]
    assert "surrogate" in body["rejected"][0]["reason"]


def test_bad_requests_say_what_is_wrong(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        not_json = client.post("/events", content=b"{oops", headers={"content-type": "application/json"})
        assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
        wrong_shape = client.post("/events", json={"event": []})
        assert wrong_shape.status_code == 400 and "expected a JSON array" in wrong_shape.json()["error"]
        too_many = client.post("/events", json=[{}] * (MAX_BATCH + 1))
        assert too_many.status_code == 413 and f"at most {MAX_BATCH}" in too_many.json()["error"]
        unknown = client.get("/funnel/dog-licence")
        assert unknown.status_code == 404 and "unknown procedure 'dog-licence'" in unknown.json()["error"]
        bad_by = client.get("/funnel/marriage-declaration", params={"by": "age"})
        assert bad_by.status_code == 400
        bad_date = client.get("/funnel/marriage-declaration", params={"from": "last week"})
        assert bad_date.status_code == 400 and "from='last week'" in bad_date.json()["error"]


def test_a_body_without_a_length_is_cut_off_at_the_limit(base_url: str) -> None:
    # Chunked transfer sends no Content-Length: the limit must hold while reading, not only up front.
    chunk = b" " * (1024 * 1024)

    def body() -> Iterator[bytes]:
        yield b"["
        for _ in range(16):
            yield chunk
        yield b"]"

    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = client.post("/events", content=body(), headers={"content-type": "application/json"})
        assert response.status_code == 413 and "larger than" in response.json()["error"]
        assert client.get("/healthz").status_code == 200


def test_every_rejection_is_counted_when_only_the_first_are_listed(base_url: str) -> None:
    batch = [{"event_id": f"e{i}", "journey_id": "j"} for i in range(MAX_BATCH)]
    with httpx.Client(base_url=base_url, timeout=30) as client:
        body = client.post("/events", json=batch).json()
    assert body["received"] == MAX_BATCH and body["rejected_count"] == MAX_BATCH
    assert 0 < len(body["rejected"]) < MAX_BATCH
    assert body["rejected"][0] == {"index": 0, "reason": "missing 'procedure'", "event_id": "e0"}


def test_an_offset_written_unencoded_in_the_query_string_is_understood(
    base_url: str, journeys: Journeys
) -> None:
    # In a query string '+' means a space: ?as_of=2026-10-10T12:00+02:00, typed in a browser or curl,
    # arrives as '2026-10-10T12:00 02:00'.
    journeys.through("j1", ["identity"])
    with httpx.Client(base_url=base_url, timeout=10) as client:
        assert client.post("/events", json=journeys.events).status_code == 200
        typed = client.get(
            "/funnel/marriage-declaration?as_of=2026-10-10T12:00+02:00&from=2026-10-01T00:00+02:00"
        )
        encoded = client.get(
            "/funnel/marriage-declaration",
            params={"as_of": "2026-10-10T12:00+02:00", "from": "2026-10-01T00:00+02:00"},
        )
    assert typed.status_code == 200, typed.text
    assert typed.json() == encoded.json()
    assert typed.json()["as_of"] == encoded.json()["as_of"]


def test_an_absurdly_long_conversion_window_is_a_400(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        answer = client.get("/funnel/marriage-declaration", params={"within": "999999999999999d"})
    assert answer.status_code == 400
    assert "longer than ten years" in answer.json()["error"]


def test_a_body_nested_too_deeply_is_a_400_not_a_crash(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        response = client.post(
            "/events", content=b"[" * 100_000, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]
