"""Registrations in the views and the breakdowns on real stores: the counts, rates and
percentiles against a plain count of the messages' states taken from the event store, live
equals rebuilt, as of a past instant, views made before the breakdowns, the state
"registered" in the counts, the listings and the change view, and reconciliation."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.application import Status
from tracker.application.commands import Batch, Registering
from tracker.audit.views_check import check_views
from tracker.bootstrap import open_output_views, open_views
from tracker.domain.events import Registered, Reported
from tracker.domain.registration import Registration
from tracker.domain.status import Report, fold_step
from tracker.read import queries
from tracker.read.breakdown import KNOWN_STATES
from tracker.reconcile import candidates
from tracker.stores.sqlite.views import open_output_file
from tracker.views.projector import Projector, rebuild
from tracker.views.store import MessageFilter

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
STATES = ["send", "deliver", "read", "not_deliver", "expired", "partly_deliver", "odd"]
TIMES = ["", "2026-12-01 12:00:00", "2026-12-01 12:00:30", "2026-12-02 08:00:00"]
DELIVERED = {"deliver", "read"}

EDGES = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 12, 2, tzinfo=UTC),
]
registrations = st.builds(
    Registration,
    st.one_of(
        st.none(),
        st.integers(-2, 3).map(lambda d: T0 + timedelta(days=d, minutes=d)),
        st.sampled_from(EDGES),  # the calendar's ends, a day's last microsecond and first
    ),
    st.sampled_from(["acme", "beta", "", None]),
    st.sampled_from(["xmas", None]),
    st.sampled_from(["sms", "viber", None]),
    st.sampled_from([1, None]),
)
arrivals = st.lists(
    st.tuples(
        st.integers(1, 12),  # the message
        st.one_of(
            registrations,
            st.just(Registration(sender="acme", reason="parts 0 is not from 1 to 255")),
            st.tuples(st.sampled_from(STATES), st.sampled_from(TIMES)),
        ),
        st.integers(0, 3 * 24 * 3600),  # seconds after the previous arrival
        st.booleans(),  # the live views take a page now
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture
def views(tracker):
    return open_views(tracker)


def register(tracker, id_sms: int, registration: Registration, at: datetime):
    return tracker.record_batches(
        [Batch((), registrations=(Registering(id_sms, registration),), received_at=at)]
    )[0]


def expected(tracker, ids) -> dict[int, dict]:
    """Each message's figures from its events in the event store, counted here: its state
    (the domain's fold), registration, sending day and delivery time."""
    found = {}
    for id_sms in ids:
        events = [e.event for e in tracker.history(id_sms)]
        stands = [e for e in events if type(e) is Registered and e.outcome == "registered"]
        reports = [e for e in events if type(e) is Reported]
        if not events or not (stands or reports):
            continue
        current, delivered_at = None, None
        for e in reports:
            report = Report(e.state, e.time, e.instant, e.reason)
            if report.rank is not None:
                current = fold_step(current, report)
                if delivered_at is None and current.state in DELIVERED:
                    delivered_at = e.received_at
        reg = stands[0] if stands else None
        taken = [e for e in events if not (type(e) is Registered and e.outcome == "rejected")]
        sent = reg.sent_at if reg and reg.sent_at else taken[0].received_at  # a rejected one:
        #                                                   never in the views, nor its receipt
        state = current.state if current else ("registered" if reg else "")
        found[id_sms] = {
            "state": state,
            "sender": (reg.sender if reg else None) or "",
            "campaign": (reg.campaign if reg else None) or "",
            "channel": (reg.channel if reg else None) or "",
            "day": sent.astimezone(UTC).date().isoformat(),
            "seconds": None
            if delivered_at is None
            else max(0.0, (delivered_at - sent).total_seconds()),
        }
    return found


def exact_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def check_group(group, messages: list[dict]) -> None:
    states = Counter(m["state"] for m in messages)
    delivered = sum(n for s, n in states.items() if s in DELIVERED)
    known = sum(n for s, n in states.items() if s in KNOWN_STATES)
    assert group.messages == len(messages)
    assert group.states == dict(states)
    assert (group.delivered, group.known) == (delivered, known)
    assert group.delivery_rate == (delivered / known if known else None)
    assert group.pending == len(messages) - known
    assert group.pending_share == pytest.approx((len(messages) - known) / len(messages))
    seconds = [m["seconds"] for m in messages if m["seconds"] is not None]
    assert group.deliveries == len(seconds)
    for q, found in ((0.5, group.p50), (0.95, group.p95), (0.99, group.p99)):
        if not seconds:
            assert found is None
        else:
            assert found == pytest.approx(exact_rank(seconds, q), rel=0.01, abs=0.001)


def check_breakdowns(views, truth: dict[int, dict], first=None, last=None) -> None:
    chosen = [
        m for m in truth.values()
        if (first is None or m["day"] >= first.isoformat())
        and (last is None or m["day"] <= last.isoformat())
    ]  # fmt: skip
    for by in ("sender", "campaign", "channel", "day"):
        answer = queries.breakdown(views, by, first, last)
        groups = defaultdict(list)
        for m in chosen:
            groups[m[by]].append(m)
        assert [g.key for g in answer.groups] == (
            sorted(groups) if by == "day" else sorted(groups, key=lambda k: (-len(groups[k]), k))
        )
        if chosen:
            check_group(answer.total, chosen)
        else:
            assert answer.total.messages == 0
        for group in answer.groups:
            check_group(group, groups[group.key])
            if by != "day":
                days = sorted({m["day"] for m in groups[group.key]})  # its own days
                assert [p.day for p in group.daily] == days
                assert [p.messages for p in group.daily] == [
                    sum(1 for m in groups[group.key] if m["day"] == d) for d in days
                ]


SEEN: dict[str, set[int]] = {}  # the ids each store holds (examples share a store)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(arrivals)
def test_breakdowns_equal_a_plain_count_and_a_rebuild_whatever_the_arrival_order(
    tracker, views, events
):
    seen = SEEN.setdefault(tracker.env.get("POSTGRES_SCHEMA") or str(id(tracker)), set())
    base = 100 * (len(seen) // 12 + 1) + len(seen)  # ids of this example's own
    live = Projector(tracker, views, page_size=3)
    at = T0
    for n, what, after, step in events:
        at += timedelta(seconds=after)
        if isinstance(what, Registration):
            register(tracker, base + n, what, at)
        else:
            tracker.record([Status(base + n, *what)], received_at=at)
        seen.add(base + n)
        if step:
            live.step()
    live.catch_up()
    truth = expected(tracker, seen)
    check_breakdowns(views, truth)
    check_breakdowns(views, truth, date(2026, 12, 1), date(2026, 12, 2))
    live_sums = views.checksums()
    assert rebuild(tracker, views, page_size=5, cache_rows=4).checksums == live_sums
    check_breakdowns(views, truth)


def test_a_registration_makes_a_message_registered_until_a_report_says_more(tracker, views):
    sent = T0 - timedelta(hours=2)
    register(tracker, 1, Registration(sent, "acme", "xmas", "sms", 2), T0)
    register(tracker, 1, Registration(sent, "other", "xmas", "sms", 2), T0)  # a conflict
    register(tracker, 2, Registration(None, "acme"), T0)
    receipt = register(tracker, 3, Registration(None, "acme", reason="sent_at: bad"), T0)
    assert receipt.registrations == {"rejected": 1}
    tracker.record([Status(4, "odd", "")], received_at=T0)
    register(tracker, 4, Registration(None, "beta"), T0)
    Projector(tracker, views).catch_up()
    assert views.state_counts() == [("registered", False, 3)]
    assert views.message(3) is None, "a rejected registration never reaches the views"
    one = queries.message(tracker, views, 1)
    assert (one.state, one.time, one.final, one.reports) == ("registered", None, False, 0)
    assert one.registration_conflicts == 1
    assert one.registration == Registration(sent, "acme", "xmas", "sms", 2)
    page = queries.list_messages(views, MessageFilter(state=queries.state_filter("registered")))
    assert [m.id_sms for m in page.messages] == [1, 2, 4]
    assert queries.list_messages(views, MessageFilter(state="")).messages == []
    changes = views.changes_after(0, 10)
    assert [(c.id_sms, c.previous, c.state, c.source) for c in changes] == [
        (1, None, "registered", "registration"),
        (2, None, "registered", "registration"),
        (4, None, "registered", "registration"),
    ]
    assert (changes[0].time, changes[0].instant) == (sent.isoformat(timespec="microseconds"), sent)
    assert (changes[1].time, changes[1].instant) == ("", None)
    tracker.record([Status(1, "deliver", TIMES[1])], received_at=T0 + timedelta(minutes=1))
    Projector(tracker, views).catch_up()
    later = views.changes_after(changes[-1].position, 10)
    assert [(c.id_sms, c.previous, c.state, c.source) for c in later] == [
        (1, "registered", "deliver", None)
    ]
    assert dict(((s, f), n) for s, f, n in views.state_counts()) == {
        ("registered", False): 2,
        ("deliver", False): 1,
    }
    by = queries.breakdown(views, "sender")
    assert [(g.key, g.messages, g.states) for g in by.groups] == [
        ("acme", 2, {"deliver": 1, "registered": 1}),
        ("beta", 1, {"registered": 1}),
    ]
    assert by.groups[0].p50 == pytest.approx(2 * 3600 + 60, rel=0.01)  # from sent_at
    assert rebuild(tracker, views).checksums == views.checksums()


def test_reports_alone_keep_the_checksums_they_had_before_registrations(tracker, views):
    """The views of a store without registrations checksum as before the columns were added:
    these are the sums of this history on a0ce42b (2026-12-07)."""
    tracker.record([Status(1, "send", ""), Status(2, "deliver", TIMES[1])], received_at=T0)
    Projector(tracker, views).catch_up()
    rows = views.rows("messages")
    assert [len(r) for r in rows] == [23, 23]
    from tracker.views.rows import checksum_values

    assert [len(checksum_values(r)) for r in rows] == [13, 13]


def test_views_made_before_the_breakdowns_say_so_until_a_rebuild(tracker, views):
    register(tracker, 1, Registration(T0, "acme"), T0)
    tracker.record([Status(1, "deliver", TIMES[1]), Status(2, "send", "")], received_at=T0)
    Projector(tracker, views).catch_up()
    with views.datastore.transaction(commit=True) as cursor:  # the views as a0ce42b made them
        for table in ("breakdown", "breakdown_times"):
            cursor.execute(f"DROP TABLE {views.tables.table(table)}")
    again = open_views(tracker)
    assert not again.breakdown_complete()
    with pytest.raises(queries.BreakdownIncomplete, match="run `tracker rebuild`"):
        queries.breakdown(again, "sender")
    tracker.record([Status(3, "send", "")], received_at=T0)
    Projector(tracker, again).catch_up()  # kept live meanwhile, still incomplete
    assert not again.breakdown_complete()
    rebuild(tracker, again)
    assert again.breakdown_complete()
    assert queries.breakdown(again, "sender").total.messages == 3
    assert open_views(tracker).breakdown_complete(), "opening complete views keeps them so"


def test_new_views_are_complete_and_a_rebuild_in_worker_processes_counts_the_same(tracker, views):
    for n in range(1, 40):
        register(tracker, n, Registration(T0 + timedelta(days=n % 3), f"s{n % 4}", "c"), T0)
        if n % 3:
            tracker.record([Status(n, STATES[n % 5], TIMES[1])], received_at=T0 + timedelta(n))
    Projector(tracker, views, page_size=7).catch_up()
    assert views.breakdown_complete()
    live = views.checksums()
    assert rebuild(tracker, views, workers=2).checksums == live


def test_views_as_of_a_past_instant_count_what_was_received_by_then(tracker, views, tmp_path):
    register(tracker, 1, Registration(T0, "acme", "xmas", "sms"), T0)
    tracker.record([Status(2, "send", "")], received_at=T0 + timedelta(minutes=1))
    Projector(tracker, views).catch_up()
    then = {t: views.rows(t) for t in ("breakdown", "breakdown_times")}
    tracker.record([Status(1, "read", TIMES[1])], received_at=T0 + timedelta(hours=5))
    register(tracker, 3, Registration(T0, "beta"), T0 + timedelta(hours=5))
    Projector(tracker, views).catch_up()
    output = open_output_file(str(tmp_path / "as-of.db"))
    rebuild(tracker, output, into_live=False, until=T0 + timedelta(hours=1))
    assert {t: output.rows(t) for t in then} == then
    assert queries.breakdown(output, "sender").total.states == {"registered": 1, "send": 1}


def test_registered_messages_are_overdue_and_reconciled_like_any_not_final(tracker, views):
    old = datetime.now(UTC) - timedelta(days=4)
    register(tracker, 1, Registration(old, "acme"), old)
    register(tracker, 2, Registration(None, "acme"), datetime.now(UTC))
    tracker.record([Status(3, "read", TIMES[1])], received_at=old)
    Projector(tracker, views).catch_up()
    assert candidates(views, timedelta(hours=6)) == [1]
    overdue = queries.list_messages(views, MessageFilter(overdue=True), now=datetime.now(UTC))
    assert [(m.id_sms, m.state, m.overdue) for m in overdue.messages] == [(1, "registered", True)]
    assert queries.stats(views).overdue == 1


def test_verifying_the_views_names_forged_breakdowns_and_missing_ones(tracker, views, tmp_path):
    register(tracker, 1, Registration(T0, "acme"), T0)
    tracker.record([Status(1, "read", TIMES[1]), Status(2, "send", "")], received_at=T0)
    Projector(tracker, views).catch_up()
    scratch = open_output_views(tmp_path / "scratch.views.db")
    assert check_views(tracker, views, scratch).problems == []
    with views.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"UPDATE {views.tables.table('breakdown')} SET messages = 5")
    assert check_views(tracker, views, scratch).problems == [
        "the breakdown view differs from the messages the events make"
    ]
    with views.datastore.transaction(commit=True) as cursor:  # the views as a0ce42b made them
        for table in ("breakdown", "breakdown_times"):
            cursor.execute(f"DROP TABLE {views.tables.table(table)}")
        cursor.execute(f"UPDATE {views.tables.table('messages')} SET day = NULL")
    again = open_views(tracker)
    assert check_views(tracker, again, scratch).problems == [
        "the breakdowns were made after the other views and lack what came before them; "
        "`tracker rebuild` builds them"
    ]
    rebuild(tracker, again)
    assert check_views(tracker, again, scratch).problems == []
