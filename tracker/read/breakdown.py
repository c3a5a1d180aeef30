"""GET /stats?by= and `tracker stats --by`: the messages of a range of sending days by sender,
campaign, channel or day, from the breakdown views (views/breakdown.py)."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from datetime import date

from tracker.read.errors import BadFilter, BreakdownIncomplete
from tracker.read.models import Breakdown, DayPoint, GroupStats
from tracker.views.projection import DELIVERED_STATES, DIMENSIONS, bucket_value
from tracker.views.store import ViewStore

BY = (*DIMENSIONS, "day")
KNOWN_STATES = frozenset({"deliver", "read", "not_deliver", "expired"})  # a known outcome
QUANTILES = (0.50, 0.95, 0.99)
TOTAL_DIMENSION = "channel"  # every message counts once per dimension: the fewest values


def day_filter(name: str, text: str | None) -> date | None:
    """A sending day given as YYYY-MM-DD (None: not given); anything else is a BadFilter
    naming ``name``."""
    if text is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise BadFilter(f"{name}: {text[:40]!r} is not a UTC date as YYYY-MM-DD")


def breakdown(
    views: ViewStore,
    by: str,
    day_from: date | None = None,
    day_to: date | None = None,
    *,
    daily: bool = True,
) -> Breakdown:
    """The messages sent on the days ``day_from`` to ``day_to`` (both inclusive, UTC; None:
    unbounded) grouped ``by`` sender, campaign, channel or day; each group's ``daily`` points
    are the days it had messages (its rows: never groups x days), none without ``daily``
    (a reading of the totals only, as /metrics'). BadFilter for another ``by``
    or a range that ends before it starts; BreakdownIncomplete for views made before the
    breakdowns (until `tracker rebuild`)."""
    if by not in BY:
        raise BadFilter(f"by: {by[:40]!r} is not one of {', '.join(BY)}")
    if day_from is not None and day_to is not None and day_from > day_to:
        raise BadFilter(f"from: {day_from} is after to: {day_to}")
    if not views.breakdown_complete():
        raise BreakdownIncomplete()
    first = day_from.isoformat() if day_from else None
    last = day_to.isoformat() if day_to else None
    dimension = TOTAL_DIMENSION if by == "day" else by
    rows = views.breakdown_states(dimension, first, last)
    states: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    days: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    total_states: dict[str, int] = defaultdict(int)
    total_days: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for value, day, state, _, n in rows:
        key = day if by == "day" else value
        states[key][state] += n
        total_states[state] += n
        point, whole = days[key][day], total_days[day]
        for counts in (point, whole):
            counts[0] += n
            counts[1] += n if state in DELIVERED_STATES else 0
            counts[2] += n if state in KNOWN_STATES else 0
    buckets: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    total_buckets: dict[int, int] = defaultdict(int)
    for key, bucket, n in views.breakdown_buckets(dimension, first, last, by_day=by == "day"):
        buckets[key][bucket] += n
        total_buckets[bucket] += n
    all_days = sorted(total_days)
    groups = [
        _group(
            key,
            counts,
            buckets.get(key, {}),
            _points(days[key], sorted(days[key])) if daily and by != "day" else [],
        )
        for key, counts in states.items()
    ]
    groups.sort(key=(lambda g: g.key) if by == "day" else (lambda g: (-g.messages, g.key)))
    total = _group("", total_states, total_buckets, [] if by == "day" else
                   _points(total_days, all_days))  # fmt: skip
    return Breakdown(by, first, last, total, groups)


def _points(days: dict[str, list[int]], all_days: list[str]) -> list[DayPoint]:
    """A point for each of ``all_days`` (0 where ``days`` has none)."""
    points = []
    for day in all_days:
        messages, delivered, known = days.get(day, (0, 0, 0))
        points.append(DayPoint(day, messages, delivered, known, _rate(delivered, known)))
    return points


def _rate(delivered: int, known: int) -> float | None:
    return delivered / known if known else None


def _group(
    key: str, states: dict[str, int], buckets: dict[int, int], daily: list[DayPoint]
) -> GroupStats:
    messages = sum(states.values())
    delivered = sum(n for s, n in states.items() if s in DELIVERED_STATES)
    known = sum(n for s, n in states.items() if s in KNOWN_STATES)
    pending = messages - known
    deliveries = sum(buckets.values())
    p50, p95, p99 = percentiles(buckets, QUANTILES)
    return GroupStats(
        key=key,
        messages=messages,
        states={s: n for s, n in sorted(states.items()) if n},
        delivered=delivered,
        known=known,
        delivery_rate=_rate(delivered, known),
        pending=pending,
        pending_share=pending / messages if messages else 0.0,
        deliveries=deliveries,
        p50=p50,
        p95=p95,
        p99=p99,
        daily=daily,
    )


def percentiles(buckets: dict[int, int], quantiles: tuple[float, ...]) -> list[float | None]:
    """Nearest-rank percentiles over a histogram's merged bucket counts: the value of the
    bucket holding the ceil(q * n)-th smallest delivery time (within 1% of the exact one)."""
    n = sum(buckets.values())
    if not n:
        return [None] * len(quantiles)
    ranks = [max(1, math.ceil(q * n)) for q in quantiles]
    found: list[float | None] = [None] * len(quantiles)
    seen = 0
    for bucket in sorted(buckets):
        seen += buckets[bucket]
        for i, rank in enumerate(ranks):
            if found[i] is None and seen >= rank:
                found[i] = bucket_value(bucket)
    return found
