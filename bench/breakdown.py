"""Breakdown benchmark: GET /stats?by= from the breakdown views against the plain alternative,
and what keeping the breakdowns costs the projector.

    .venv/bin/python bench/breakdown.py [--messages 1000000] [--events-messages 100000]
                                        [--rounds 3] [--store sqlite|postgres]

Queries: a views store holding ``--messages`` messages written straight into the messages view
(registered by 20 senders, 50 campaigns and 2 channels, sent over 30 days, 85% with an outcome,
delivery times log-normal, ids shuffled), the breakdowns counted from it as a rebuild's end
does (timed too). Each question is then answered both ways, medians of ``--rounds``:
``queries.breakdown`` (what GET /stats?by= runs, from the breakdown views), and the strongest
plain alternative: a GROUP BY over the messages view (its new columns indexed: a covering index
per dimension with the day, the state and the instants) for the counts, and every delivery
time of the range read and sorted per group for exact percentiles. Both answers are checked to
agree (counts exactly, percentiles within 1%).

Projection: a store of real events for ``--events-messages`` messages (a registration, then
its reports far apart: each phase of the traffic covers every message in a shuffled order),
caught up by the live projector from the first event and rebuilt in this process, with the
breakdown upkeep and without it (a switch: no breakdown keys, no recount), alternated, medians
of ``--rounds``.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import drop, fresh_store, print_table
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.message import Message
from tracker.domain.registration import Registration
from tracker.domain.status import Report
from tracker.domain.timestamps import parse_time
from tracker.read import queries
from tracker.views import breakdown as breakdown_view
from tracker.views import projector as projector_module
from tracker.views.projection import MessageRow
from tracker.views.projector import Projector, rebuild
from tracker.views.rows import message_values

START = datetime(2026, 11, 1, tzinfo=UTC)
SENDERS = [f"sender-{n:02}" for n in range(20)]
CAMPAIGNS = [f"campaign-{n:02}" for n in range(50)]
CHANNELS = ["sms", "viber"]
OUTCOMES = ["read", "deliver", "deliver", "read", "not_deliver", "expired", "send"]
DELIVERED = {"deliver", "read"}


def skewed(rnd: random.Random, values: list[str]) -> str:
    """A few values carry most messages (as senders and campaigns do)."""
    return values[min(len(values) - 1, int(rnd.expovariate(4 / len(values))))]


def message_rows(n: int, seed: int = 1) -> list[MessageRow]:
    rnd = random.Random(seed)
    ids = list(range(1, n + 1))
    rnd.shuffle(ids)
    rows = []
    for id_sms in ids:
        sent = START + timedelta(seconds=rnd.randrange(30 * 86400))
        received = sent + timedelta(seconds=rnd.uniform(0.05, 2))
        registration = Registration(
            sent, skewed(rnd, SENDERS), skewed(rnd, CAMPAIGNS), rnd.choice(CHANNELS), 1
        )
        row = MessageRow(id_sms, None, 0, received, received, None, None,
                         registration=registration, registered_at=received)  # fmt: skip
        if rnd.random() < 0.85:
            state = rnd.choice(OUTCOMES)
            at = sent + timedelta(seconds=rnd.lognormvariate(3, 1.5))
            report = Report(state, at.strftime("%Y-%m-%d %H:%M:%S"), at)
            row.current = row.latest = report
            row.reports = 2
            row.last_received_at = at
            if state in DELIVERED or (state == "not_deliver" and rnd.random() < 0.5):
                row.delivered_at = at  # delivered, then not_deliver: both happen
        rows.append(row)
    return rows


def fill_views(views, n: int) -> tuple[float, float]:
    """(seconds to write the messages view, seconds to count the breakdowns from it)."""
    rows = message_rows(n)
    began = time.perf_counter()
    t = views.tables
    for start in range(0, len(rows), 20_000):
        with views.datastore.transaction(commit=True) as cursor:
            t.write_messages(cursor, "", [message_values(r) for r in rows[start : start + 20_000]])
    written = time.perf_counter() - began
    began = time.perf_counter()
    views.write([], {}, [], 1, recount=True)
    return written, time.perf_counter() - began


def plain_indexes(views) -> None:
    """The plain alternative's best help: a covering index per dimension."""
    m = views.tables.table("messages")
    with views.datastore.transaction(commit=True) as cursor:
        for d in ("sender", "campaign", "channel"):
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS plain_{d} ON {m} "
                f"(day, {d}, state, delivered_at, sent_at, first_received_at)"
            )
        cursor.execute(f"ANALYZE {m}" if views.tables.placeholder == "%s" else "ANALYZE")


KNOWN = {"deliver", "read", "not_deliver", "expired"}


def plain(views, by: str, first: date | None, last: date | None) -> dict[str, dict]:
    """The same figures from the messages view: GROUP BY for the counts, every delivery time
    of the range read and sorted for exact nearest-rank percentiles."""
    p, m = views.tables.placeholder, views.tables.table("messages")
    key = "day" if by == "day" else by
    where, params = "WHERE 1 = 1", []
    if first:
        where, params = f"{where} AND day >= {p}", [*params, first.isoformat()]
    if last:
        where, params = f"{where} AND day <= {p}", [*params, last.isoformat()]
    groups: dict[str, dict] = defaultdict(lambda: {"states": Counter(), "seconds": []})
    with views.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            f"SELECT COALESCE({key}, '') AS k, COALESCE(state, '') AS s, COUNT(*) AS n "
            f"FROM {m} {where} GROUP BY 1, 2",
            params,
        )
        for r in cursor.fetchall():
            groups[r["k"]]["states"][r["s"]] += r["n"]
        cursor.execute(
            f"SELECT COALESCE({key}, '') AS k, delivered_at - COALESCE(sent_at, "
            f"first_received_at) AS us FROM {m} {where} AND delivered_at IS NOT NULL",
            params,
        )
        for r in cursor.fetchall():
            groups[r["k"]]["seconds"].append(max(0, r["us"]) / 1e6)
    answer = {}
    for k, g in groups.items():
        seconds = sorted(g["seconds"])
        ranks = [seconds[max(1, math.ceil(q * len(seconds))) - 1] if seconds else None
                 for q in (0.5, 0.95, 0.99)]  # fmt: skip
        states = g["states"]
        delivered = sum(n for s, n in states.items() if s in DELIVERED)
        known = sum(n for s, n in states.items() if s in KNOWN)
        answer[k] = {"messages": sum(states.values()), "delivered": delivered, "known": known,
                     "percentiles": ranks}  # fmt: skip
    return answer


def agree(fast, slow: dict[str, dict]) -> None:
    assert {g.key for g in fast.groups} == set(slow), "the same groups"
    for g in fast.groups:
        want = slow[g.key]
        assert (g.messages, g.delivered, g.known) == (
            want["messages"], want["delivered"], want["known"]
        ), g.key  # fmt: skip
        for found, exact in zip((g.p50, g.p95, g.p99), want["percentiles"], strict=True):
            assert (found is None) == (exact is None)
            if exact is not None:
                assert abs(found - exact) <= 0.01 * exact + 0.001, (g.key, found, exact)


def timed(call, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


QUESTIONS = [
    ("by=sender", "sender", None, None),
    ("by=campaign", "campaign", None, None),
    ("by=channel", "channel", None, None),
    ("by=day", "day", None, None),
    ("by=sender, 7 days", "sender", date(2026, 11, 10), date(2026, 11, 16)),
    ("by=campaign, 7 days", "campaign", date(2026, 11, 10), date(2026, 11, 16)),
]


def run_queries(kind: str, n: int, rounds: int) -> None:
    url, schema = fresh_store(kind, Path(tempfile.mkdtemp(prefix="tracker-breakdown-")), "t")
    try:
        tracker = open_tracker(Settings(database_url=url))
        views = open_views(tracker)
        written, counted = fill_views(views, n)
        began = time.perf_counter()
        plain_indexes(views)
        indexed = time.perf_counter() - began
        sizes = {t: len(views.rows(t)) for t in ("breakdown", "breakdown_times")}
        rows = f"{sizes['breakdown']:,} + {sizes['breakdown_times']:,} rows"
        print(f"\n{kind}: {n:,} messages written into the messages view in {written:.1f} s; "
              f"breakdowns counted from it in {counted:.2f} s ({rows}); plain indexes made "
              f"in {indexed:.1f} s\n")  # fmt: skip
        table = []
        for name, by, first, last in QUESTIONS:
            agree(queries.breakdown(views, by, first, last), plain(views, by, first, last))
            fast = timed(lambda: queries.breakdown(views, by, first, last), rounds)  # noqa: B023
            slow = timed(lambda: plain(views, by, first, last), rounds)  # noqa: B023
            table.append([name, f"{fast * 1000:,.1f} ms", f"{slow * 1000:,.0f} ms",
                          f"{slow / fast:,.0f}x"])  # fmt: skip
        print_table(["question", "breakdown views", "GROUP BY + sort", "ratio"], table)
        tracker.close()
    finally:
        drop(schema)


def write_traffic(tracker, n: int, seed: int = 2) -> int:
    """A registration for each of ``n`` messages, then their reports in two later phases, each
    phase over every message in a shuffled order (a message's events lie far apart)."""
    rnd = random.Random(seed)
    messages = {i: Message(i) for i in range(1, n + 1)}
    stored = 0

    def put(ids, act) -> int:
        count = 0
        for start in range(0, len(ids), 3000):
            chunk = [messages[i] for i in ids[start : start + 3000]]
            for message in chunk:
                act(message)
            events = [e for m in chunk for e in m.collect_events()]
            tracker.events.put(events)
            count += len(events)
        return count

    ids = list(messages)
    rnd.shuffle(ids)
    sent = {i: START + timedelta(seconds=rnd.randrange(30 * 86400)) for i in ids}
    stored += put(ids, lambda m: m.register(
        Registration(sent[m.id_sms], skewed(rnd, SENDERS), skewed(rnd, CAMPAIGNS),
                     rnd.choice(CHANNELS), 1), sent[m.id_sms] + timedelta(seconds=1)))  # fmt: skip
    for phase, states in enumerate((("send", "deliver"), ("read", "expired", "not_deliver"))):
        rnd.shuffle(ids)

        def report(m: Message, states=states, phase=phase) -> None:
            at = sent[m.id_sms] + timedelta(seconds=rnd.lognormvariate(3 + 3 * phase, 1))
            raw = at.strftime("%Y-%m-%d %H:%M:%S")
            state = rnd.choice(states)
            m.receive(Report(state, "" if state == "send" else raw,
                             parse_time(raw, tracker.local_zone)), at)  # fmt: skip

        stored += put(ids[: int(len(ids) * (0.95 - 0.15 * phase))], report)
    return stored


class Switch:
    """The breakdown upkeep off: no keys to count, no recount at a rebuild's end."""

    def __enter__(self):
        self.keys, self.recount = projector_module.counted, breakdown_view.recount
        projector_module.counted = lambda row: ()
        breakdown_view.recount = lambda *args: None

    def __exit__(self, *exc):
        projector_module.counted, breakdown_view.recount = self.keys, self.recount


def run_projection(kind: str, n: int, rounds: int) -> None:
    url, schema = fresh_store(kind, Path(tempfile.mkdtemp(prefix="tracker-breakdown-")), "t")
    try:
        tracker = open_tracker(Settings(database_url=url))
        began = time.perf_counter()
        events = write_traffic(tracker, n)
        print(f"\n{kind}: {events:,} events for {n:,} messages written in "
              f"{time.perf_counter() - began:.1f} s\n")  # fmt: skip
        views = open_views(tracker)
        times: dict[tuple[str, bool], list[float]] = defaultdict(list)
        for round_ in range(rounds):
            for upkeep in (True, False) if round_ % 2 == 0 else (False, True):
                with Switch() if not upkeep else _nothing():
                    views.drop_views("")
                    views.create_views("")
                    began = time.perf_counter()
                    Projector(tracker, views).catch_up()
                    times["catch-up", upkeep].append(time.perf_counter() - began)
                    result = rebuild(tracker, views)
                    times["rebuild", upkeep].append(result.seconds)
        table = []
        for what in ("catch-up", "rebuild"):
            on, off = (statistics.median(times[what, u]) for u in (True, False))
            table.append([what, f"{on:.2f} s", f"{off:.2f} s", f"{on / off:.2f}x",
                          f"{events / on:,.0f}"])  # fmt: skip
        print_table(["from the first event", "with breakdowns", "without", "ratio",
                     "events/s with"], table)  # fmt: skip
        tracker.close()
    finally:
        drop(schema)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--events-messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--only", choices=("queries", "projection"), default=None)
    args = parser.parse_args()
    if args.only != "projection":
        run_queries(args.store, args.messages, args.rounds)
    if args.only != "queries":
        run_projection(args.store, args.events_messages, args.rounds)


if __name__ == "__main__":
    main()
