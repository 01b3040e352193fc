"""Uplift: did nudges bring abandoned journeys back? Nudged against holdout, per procedure.

The difference of completion rates gets a 95% confidence interval by Newcombe's hybrid score method
(method 10 in Newcombe 1998, built on Wilson intervals): it behaves at small counts and at rates near
0 or 1, where the Wald interval does not. When either group is smaller than ``min_group_size``, the
verdict says so instead of pretending.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import text

from contact_center.journeys.store import JourneyStore

__all__ = ["GroupRate", "Uplift", "compute_uplift", "newcombe_interval", "wilson_interval"]

Verdict = Literal["insufficient_data", "no_detectable_effect", "nudges_help", "nudges_hurt"]
_Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when ``n`` is 0.

    >>> [round(x, 3) for x in wilson_interval(5, 10)]
    [0.237, 0.763]
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, z: float = _Z95) -> tuple[float, float]:
    """Newcombe hybrid score interval for p1 - p2 (x1 of n1 against x2 of n2).

    >>> [round(v, 4) for v in newcombe_interval(56, 70, 48, 80)]
    [0.0524, 0.3339]
    """
    p1 = x1 / n1 if n1 else 0.0
    p2 = x2 / n2 if n2 else 0.0
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, lower), min(1.0, upper)


class GroupRate(BaseModel):
    """Abandoned journeys of one group and how many completed after their decision (GOV.UK: ineligible
    counts)."""

    journeys: int
    completed: int
    rate: float | None


class Uplift(BaseModel):
    """Completion of nudged against holdout abandoned journeys for one procedure."""

    procedure: str
    nudged: GroupRate
    holdout: GroupRate
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float = 0.95
    method: str = "newcombe-wilson"
    verdict: Verdict
    message: str


def _group(x: int, n: int) -> GroupRate:
    return GroupRate(journeys=n, completed=x, rate=round(x / n, 4) if n else None)


def compute_uplift(store: JourneyStore, procedure: str, *, min_group_size: int = 30) -> Uplift:
    """The uplift of nudges on ``procedure``, with its 95% interval and an honest verdict.

    A nudged journey counts as completed when a ``completed`` or ``ineligible`` event is dated after its
    nudge was sent; a holdout journey when one is dated after the run that held it back (the moment it
    would have been nudged).

    Raises ProceduresFileError for a procedure that is not registered.
    """
    store.procedure(procedure)
    # One nudge row per journey (its primary key). A holdout row has no sent_at: its decided_at is the run
    # time at which it would have been sent.
    sql = """
    SELECT n.status AS status, COUNT(*) AS n,
        SUM(CASE WHEN EXISTS (
            SELECT 1 FROM journey_events e
            WHERE e.procedure = n.procedure AND e.journey_id = n.journey_id
                AND e.type IN ('completed', 'ineligible') AND e.ts > COALESCE(n.sent_at, n.decided_at)
        ) THEN 1 ELSE 0 END) AS x
    FROM journey_nudges n
    WHERE n.procedure = :procedure AND n.status IN ('sent', 'holdout')
    GROUP BY n.status
    """
    with store.begin() as conn:
        rows = {
            r.status: (int(r.x or 0), int(r.n)) for r in conn.execute(text(sql), {"procedure": procedure})
        }
    x1, n1 = rows.get("sent", (0, 0))
    x2, n2 = rows.get("holdout", (0, 0))
    nudged, holdout = _group(x1, n1), _group(x2, n2)
    if n1 == 0 or n2 == 0:
        if n1 == 0:
            message = "no nudged journeys yet; run `journeys nudge` over abandoned journeys first"
        else:
            message = (
                "no holdout journeys yet: nudge runs hold some out only when CC_JOURNEYS__HOLDOUT_SHARE "
                "is above 0 (default 0.10); without them the uplift cannot be measured"
            )
        return Uplift(
            procedure=procedure,
            nudged=nudged,
            holdout=holdout,
            difference=None,
            ci_low=None,
            ci_high=None,
            verdict="insufficient_data",
            message=message,
        )
    diff = x1 / n1 - x2 / n2
    low, high = newcombe_interval(x1, n1, x2, n2)
    span = f"{diff:+.1%} (95% CI {low:+.1%} to {high:+.1%})"
    verdict: Verdict
    if n1 < min_group_size or n2 < min_group_size:
        verdict = "insufficient_data"
        message = (
            f"too few journeys to say anything ({n1} nudged, {n2} holdout; need {min_group_size} in each): "
            f"{span}"
        )
    elif low > 0:
        verdict, message = "nudges_help", f"nudged journeys complete more often: {span}"
    elif high < 0:
        verdict, message = "nudges_hurt", f"nudged journeys complete less often: {span}"
    else:
        verdict, message = "no_detectable_effect", f"no difference detectable at 95%: {span}"
    return Uplift(
        procedure=procedure,
        nudged=nudged,
        holdout=holdout,
        difference=round(diff, 4),
        ci_low=round(low, 4),
        ci_high=round(high, 4),
        verdict=verdict,
        message=message,
    )
