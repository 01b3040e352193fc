from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contact_center.errors import ConfigurationError, ResumeLinkError
from contact_center.journeys import QuietHours, in_holdout, sign_resume_link, verify_resume_link

TEMPLATE = "https://example.brussels/procedures/marriage/{journey_id}/{step}"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_a_signed_link_resumes_the_exact_step_until_it_expires() -> None:
    url = sign_resume_link(
        TEMPLATE,
        procedure="m",
        journey_id="j 1",
        step="documents",
        key="k",
        expires_at=NOW + timedelta(hours=1),
    )
    assert url.startswith("https://example.brussels/procedures/marriage/j%201/documents?exp=")
    assert verify_resume_link(url, journey_id="j 1", step="documents", key="k", now=NOW) == NOW + timedelta(
        hours=1
    )
    with pytest.raises(ResumeLinkError, match="signature does not match"):
        verify_resume_link(url, journey_id="j 1", step="payment", key="k", now=NOW)
    with pytest.raises(ResumeLinkError, match="signature does not match"):
        verify_resume_link(url, journey_id="j 1", step="documents", key="other", now=NOW)
    with pytest.raises(ResumeLinkError, match="expired"):
        verify_resume_link(url, journey_id="j 1", step="documents", key="k", now=NOW + timedelta(hours=2))
    tampered = url.replace("exp=", "exp=9")
    with pytest.raises(ResumeLinkError, match="signature does not match"):
        verify_resume_link(tampered, journey_id="j 1", step="documents", key="k", now=NOW)


def test_quiet_hours_in_brussels_time_and_on_public_holidays() -> None:
    quiet = QuietHours("20:00-09:00", "Europe/Brussels", "BE")
    # 07:30 UTC on a Monday in November is 08:30 in Brussels: still quiet.
    assert "quiet hours" in (quiet.reason(datetime(2026, 11, 23, 7, 30, tzinfo=UTC)) or "")
    assert quiet.reason(datetime(2026, 11, 23, 8, 30, tzinfo=UTC)) is None
    assert "quiet hours" in (quiet.reason(datetime(2026, 11, 23, 19, 30, tzinfo=UTC)) or "")
    # 11 November (Armistice) is a Belgian public holiday.
    assert "Armistice" in (quiet.reason(datetime(2026, 11, 11, 12, 0, tzinfo=UTC)) or "")
    assert (
        quiet.next_open(datetime(2026, 11, 10, 21, 0, tzinfo=UTC)).isoformat() == "2026-11-12T09:00:00+01:00"
    )


def test_bad_quiet_hours_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="CC_JOURNEYS__QUIET_HOURS"):
        QuietHours("evening")
    with pytest.raises(ConfigurationError, match="CC_JOURNEYS__TIMEZONE"):
        QuietHours("20:00-09:00", "Mars/Olympus")


def test_holdout_is_deterministic_and_close_to_its_share() -> None:
    ids = [f"journey-{i}" for i in range(4000)]
    held = [i for i in ids if in_holdout(i, 0.10)]
    assert held == [i for i in ids if in_holdout(i, 0.10)]
    assert 0.085 < len(held) / len(ids) < 0.115
    assert not any(in_holdout(i, 0.0) for i in ids)


def test_a_resume_url_with_a_fragment_keeps_the_signature_in_the_query() -> None:
    # Portals that route on the client side put the step in the fragment; the browser never sends the
    # fragment to the server, so exp and sig must sit in the query, before it.
    url = sign_resume_link(
        "https://example.brussels/procedures/marriage/{journey_id}?lang=fr#/step/{step}",
        procedure="m",
        journey_id="j/1 é?#",
        step="documents",
        key="k",
        expires_at=NOW + timedelta(hours=1),
    )
    assert url.startswith("https://example.brussels/procedures/marriage/j%2F1%20%C3%A9%3F%23?lang=fr&exp=")
    assert url.endswith("#/step/documents")
    assert verify_resume_link(
        url, journey_id="j/1 é?#", step="documents", key="k", now=NOW
    ) == NOW + timedelta(hours=1)


def _link_to_j1_documents() -> str:
    return sign_resume_link(
        TEMPLATE,
        procedure="m",
        journey_id="j1",
        step="documents",
        key="k",
        expires_at=NOW + timedelta(hours=1),
    )


def test_a_signature_edited_into_non_ascii_text_is_refused_as_altered() -> None:
    url = _link_to_j1_documents()
    with pytest.raises(ResumeLinkError, match="signature does not match"):
        verify_resume_link(
            url.replace("sig=", "sig=%C3%A9"), journey_id="j1", step="documents", key="k", now=NOW
        )


def test_checking_a_link_against_a_naive_time_says_what_is_wrong() -> None:
    url = _link_to_j1_documents()
    with pytest.raises(ValueError, match="has no timezone"):
        verify_resume_link(url, journey_id="j1", step="documents", key="k", now=datetime(2026, 11, 23, 10, 0))
