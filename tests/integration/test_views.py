"""The views on a real store: exactly once, resumable, rebuilt equals live, as of a past instant."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.application import Status, Unusable
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.events import Quarantined, Reported
from tracker.domain.ids import id_sms_of
from tracker.domain.quarantine import ITEM
from tracker.read import queries
from tracker.read.export import message_rows, report_rows
from tracker.stores.sqlite.views import open_output_file
from tracker.views.log import EventLog
from tracker.views.projector import Progress, Projector, rebuild
from tracker.views.store import SHADOW, VIEWS

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
STATES = ["send", "partly_deliver", "deliver", "read", "not_deliver", "expired", "odd"]
TIMES = ["", "2026-03-01 12:00:00", "2026-03-01 12:00:30", "2026-03-01 12:01:00", "x"]

statuses = st.builds(Status, st.integers(1, 25), st.sampled_from(STATES), st.sampled_from(TIMES))
bad_items = st.builds(Unusable, st.just(ITEM), st.sampled_from(["5", "true", '{"x": 1}']),
                      st.just("no id_sms"))  # fmt: skip
traffic = st.lists(
    st.tuples(
        st.lists(statuses, min_size=1, max_size=12),
        st.lists(bad_items, max_size=2),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture
def views(tracker):
    return open_views(tracker)


def snapshot(views, suffix=""):
    return {view: views.rows(view, suffix) for view in VIEWS}


def test_the_lean_log_reader_decodes_what_the_library_decodes(tracker):
    tracker.record([Status(1, "send", ""), Status(1, "deliver", TIMES[1]), Status(2, "odd", "x")])
    tracker.record([Status(1, "read", TIMES[2])], [Unusable(ITEM, "5", "not an object")])
    tracker.record([Status(1, "read", TIMES[2])])  # received again: no fact for the views
    head = tracker.recorder.max_notification_id()
    facts, quarantined, reached = EventLog(tracker).page(0, head, 100)
    library = [  # the library's notification log, through the tracker's mapper
        tracker.mapper.to_domain_event(n)
        for n in tracker.recorder.select_notifications(start=1, limit=100)
    ]
    reports = [e for e in library if type(e.event) is Reported]
    first_receipts = [e for e in library if type(e.event) is Quarantined]
    assert (len(library), len(reports), len(first_receipts)) == (6, 4, 1)
    assert [(q.quarantine_id, q.kind, q.raw, q.reason, q.received_at) for q in quarantined] == [
        (e.originator_id.hex, e.event.kind, e.event.raw, e.event.reason, e.event.received_at)
        for e in first_receipts
    ]
    assert [(q.kind, q.raw, q.reason) for q in quarantined] == [(ITEM, "5", "not an object")]
    assert [
        (f.id_sms, f.state, f.time, f.instant, f.received_at, f.outcome, f.raw) for f in facts
    ] == [
        (id_sms_of(e.originator_id), e.event.state, e.event.time, e.event.instant,
         e.event.received_at, e.event.outcome, e.event.raw)
        for e in reports
    ]  # fmt: skip
    assert reached == head


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(traffic)
def test_rebuilt_equals_live_after_any_traffic(tracker, views, batches):
    live = Projector(tracker, views, page_size=7)
    for batch, bad, project_now in batches:
        tracker.record(batch, bad)
        if project_now:
            live.step()  # the live views follow at their own pace, a page at a time
    live.catch_up()
    before = snapshot(views)
    result = rebuild(tracker, views, page_size=50)
    assert snapshot(views) == before
    assert result.checksums == views.checksums()


def test_rows_a_projector_keeps_in_hand_are_read_again_once_others_moved_the_views(tracker, views):
    """It keeps the rows it wrote for as long as the views stay where it left them; another
    projector or a rebuild moving them makes it read its rows afresh."""
    live = Projector(tracker, views)
    tracker.record([Status(n, "send", "") for n in (1, 2)])
    live.step()  # rows 1 and 2 in hand
    tracker.record([Status(1, "deliver", TIMES[1])])
    Projector(tracker, views).catch_up()  # another process moves message 1 on
    tracker.record([Status(2, "deliver", TIMES[1])])
    rebuild(tracker, views)  # ... and a rebuild is swapped in
    tracker.record([Status(n, "read", TIMES[2]) for n in (1, 2)])
    live.step()
    assert rebuild(tracker, views).checksums == views.checksums()


def test_a_projector_keeping_a_few_rows_in_hand_stays_equal_to_a_rebuild(tracker, views):
    live = Projector(tracker, views, page_size=40, cache_rows=10)  # most evicted, read again
    rnd = random.Random(5)
    for _ in range(8):
        tracker.record([Status(rnd.randint(1, 60), rnd.choice(STATES), rnd.choice(TIMES))
                        for _ in range(50)])  # fmt: skip
        live.step()
    live.catch_up()
    assert rebuild(tracker, views).checksums == views.checksums()


def test_views_as_of_a_past_instant_never_replace_the_live_ones(tracker, views):
    tracker.record([Status(1, "send", "")], received_at=T0)
    with pytest.raises(ValueError, match="cannot replace the live views"):
        rebuild(tracker, views, until=T0)


def test_state_counts_sum_the_messages_view(tracker, views):
    tracker.record([Status(n, STATES[n % 7], TIMES[n % 5]) for n in range(60)])
    tracker.record([Status(n, "read", TIMES[3]) for n in range(0, 60, 3)])
    Projector(tracker, views).catch_up()
    by_state = Counter((state or "", final) for _, state, _, _, final, *_ in views.rows("messages"))
    assert {(s, f): n for s, f, n in views.rows("state_counts") if n} == by_state


def test_a_page_is_applied_exactly_once(tracker, views):
    tracker.record([Status(1, "send", ""), Status(2, "deliver", TIMES[1])])
    projector = Projector(tracker, views)
    projector.catch_up()
    before = snapshot(views)
    row = views.load_messages([1])[1]
    with pytest.raises(IntegrityError):  # the same page again: refused whole
        views.write([row], Counter({("send", False): 1}), [], views.position())
    assert snapshot(views) == before


def test_a_restarted_projector_resumes_where_the_last_one_stopped(tracker, views):
    for n in range(10):
        tracker.record([Status(n, "send", ""), Status(n, "deliver", TIMES[n % 4])])
    first = Projector(tracker, views, page_size=3)
    first.step()
    first.step()
    stopped_at = views.position()
    Projector(tracker, views, page_size=3).catch_up()  # a new process, say
    assert 0 < stopped_at < views.position() == tracker.recorder.max_notification_id()
    assert rebuild(tracker, views).checksums == views.checksums()


def test_rebuilding_twice_gives_identical_checksums(tracker, views):
    tracker.record([Status(n, STATES[n % 7], TIMES[n % 5]) for n in range(40)])
    assert rebuild(tracker, views).checksums == rebuild(tracker, views).checksums


def test_a_rebuild_leaves_no_shadow_tables_and_keeps_the_position(tracker, views):
    tracker.record([Status(1, "send", "")])
    result = rebuild(tracker, views)
    assert views.position() == result.position == tracker.recorder.max_notification_id()
    assert views.position(SHADOW) == 0


def test_the_views_as_of_a_past_instant_equal_a_rebuild_of_only_that_history(
    tracker, database_url, tmp_path
):
    days = [[Status(n, "send", "") for n in range(10)],
            [Status(n, "deliver", TIMES[1]) for n in range(0, 10, 2)],
            [Status(n, "expired", TIMES[2]) for n in range(10)]]  # fmt: skip
    for day, batch in enumerate(days):
        tracker.record(batch, received_at=T0 + timedelta(days=day))
    as_of = open_output_file(str(tmp_path / "as-of.sqlite"))
    rebuild(tracker, as_of, into_live=False, until=T0 + timedelta(days=1))

    only_then = open_tracker(Settings(database_url=f"sqlite:///{tmp_path / 'then.db'}"))
    for day, batch in enumerate(days[:2]):
        only_then.record(batch, received_at=T0 + timedelta(days=day))
    expected = rebuild(only_then, open_views(only_then)).checksums
    only_then.close()
    assert as_of.checksums() == expected
    assert views_rows_count(as_of, "delivery_times") == 5


def test_delivery_times_measure_from_the_first_report_to_delivery(tracker, views):
    tracker.record([Status(7, "send", "")], received_at=T0)
    tracker.record([Status(7, "deliver", TIMES[1])], received_at=T0 + timedelta(seconds=42))
    tracker.record([Status(7, "read", TIMES[2])], received_at=T0 + timedelta(seconds=60))
    tracker.record([Status(8, "expired", TIMES[1])], received_at=T0)
    Projector(tracker, views).catch_up()
    [(id_sms, first, delivered, seconds, day, hour)] = views.rows("delivery_times")
    assert (id_sms, seconds, day, hour) == (7, 42.0, "2026-03-01", "2026-03-01T09")
    delivered_at = T0 + timedelta(seconds=42)
    assert first == T0.isoformat(timespec="microseconds")
    assert delivered == delivered_at.isoformat(timespec="microseconds")


def test_a_conflict_is_flagged_when_a_report_follows_a_final_state(tracker, views):
    tracker.record([Status(1, "deliver", TIMES[1]), Status(1, "read", TIMES[3])])
    tracker.record([Status(1, "not_deliver", TIMES[2])])  # earlier final: read now follows it
    tracker.record([Status(2, "deliver", TIMES[1]), Status(2, "read", TIMES[2])])
    Projector(tracker, views).catch_up()
    rows = {row[0]: row for row in views.rows("messages")}
    conflict = 8  # column index of "conflict"
    assert (rows[1][1], rows[1][conflict]) == ("not_deliver", 1)
    assert (rows[2][1], rows[2][conflict]) == ("read", 0)


def views_rows_count(views, view):
    return len(views.rows(view))


def test_a_page_read_before_a_rebuild_was_swapped_in_is_refused(tracker, views):
    tracker.record([Status(n, "send", "") for n in range(5)])
    live = Projector(tracker, views)
    live.catch_up()
    tracker.record([Status(n, "deliver", TIMES[1]) for n in range(5)])
    load = views.load_messages
    swapped = []

    def rebuild_meanwhile(ids, suffix=""):
        rows = load(ids, suffix)
        if not swapped:
            views.load_messages = load  # the rebuild itself reads rows too
            swapped.append(rebuild(tracker, views))  # includes the page being projected
        return rows

    views.load_messages = rebuild_meanwhile
    with pytest.raises(IntegrityError, match="moved"):
        live.step()
    live.catch_up()
    assert views.checksums() == swapped[0].checksums  # nothing applied twice
    assert {row[0]: row[5] for row in views.rows("messages")} == {n: 2 for n in range(5)}


def nearest_rank(values, q):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_delivery_percentiles_overall_and_per_day_are_nearest_rank(tracker, views):
    rnd = random.Random(4)
    expected: dict[str, list[float]] = {}
    arrivals = []  # (received_at, status): recorded in time order, as a clock would stamp them
    for n in range(300):
        sent = T0 + timedelta(days=n % 3, seconds=n)
        took = rnd.randrange(0, 600)
        arrivals += [(sent, Status(n, "send", "")),
                     (sent + timedelta(seconds=took), Status(n, "deliver", TIMES[1]))]  # fmt: skip
        day = (sent + timedelta(seconds=took)).date().isoformat()
        expected.setdefault(day, []).append(float(took))
    for received_at, status in sorted(arrivals, key=lambda a: a[0]):
        tracker.record([status], received_at=received_at)
    Projector(tracker, views).catch_up()
    quantiles = (0.5, 0.9, 0.99)
    (total, overall), daily = views.delivery_percentiles(quantiles, days=31)
    everything = [s for values in expected.values() for s in values]
    assert (total, overall) == (300, [nearest_rank(everything, q) for q in quantiles])
    assert daily == [
        (day, len(values), [nearest_rank(values, q) for q in quantiles])
        for day, values in sorted(expected.items())
    ]
    assert views.delivery_percentiles(quantiles, days=1)[1] == daily[-1:]


def test_quarantined_input_is_listed_with_its_receipts_and_reason(tracker, views):
    item = Unusable(ITEM, '{"id_sms": -1}', "id_sms -1 is not an integer")
    tracker.record([], [item], received_at=T0)
    tracker.record(
        [], [item, Unusable(ITEM, "7", "item is a number")], received_at=T0 + timedelta(1)
    )
    Projector(tracker, views).catch_up()
    total, items = views.list_quarantine(limit=10)
    assert total == 2
    by_raw = {i["raw"]: i for i in items}
    again = by_raw['{"id_sms": -1}']
    assert (again["kind"], again["encoding"], again["receipts"], again["reason"]) == (
        ITEM,
        "utf-8",
        2,
        "id_sms -1 is not an integer",
    )
    assert again["first_received_at"] < again["last_received_at"]
    assert views.list_quarantine(limit=1)[1][0]["raw"] in by_raw


def test_a_rebuild_split_among_worker_processes_equals_one_in_this_process(tracker, views):
    rnd = random.Random(11)
    for n in range(6):
        batch = [Status(rnd.randint(1, 300), rnd.choice(STATES), rnd.choice(TIMES))
                 for _ in range(200)]  # fmt: skip
        tracker.record(batch, [Unusable(ITEM, str(n), "a number")], received_at=T0 + timedelta(n))
    head = tracker.recorder.max_notification_id()
    alone = rebuild(tracker, views, page_size=97, cache_rows=40)  # evicts and reloads rows too
    seen: list[Progress] = []
    split = rebuild(tracker, views, workers=3, page_size=97, cache_rows=40, on_page=seen.append)
    assert split.checksums == alone.checksums
    reports = sum(len(tracker.history(n)) for n in range(1, 301))  # not repeats, not quarantine
    assert split.events == alone.events == reports
    assert views.position() == split.position == head
    assert seen[-1] == Progress(head, head, split.events)
    assert [p.events for p in seen] == sorted(p.events for p in seen)  # only ever forward


def test_a_split_rebuild_as_of_a_past_instant_equals_one_in_this_process(tracker, tmp_path):
    for day in range(3):
        tracker.record([Status(n, STATES[(n + day) % 7], TIMES[day]) for n in range(50)],
                       received_at=T0 + timedelta(days=day))  # fmt: skip
    until = T0 + timedelta(days=1)
    alone = open_output_file(str(tmp_path / "alone.sqlite"))
    split = open_output_file(str(tmp_path / "split.sqlite"))
    expected = rebuild(tracker, alone, into_live=False, until=until, page_size=30)
    result = rebuild(tracker, split, into_live=False, until=until, page_size=30, workers=2)
    assert (
        (result.events, result.checksums)
        == (expected.events, expected.checksums)
        == (100, split.checksums())
    )


def test_a_failed_rebuild_worker_fails_the_rebuild_and_leaves_the_live_views(
    sqlite_url, tmp_path, monkeypatch
):
    tracker = open_tracker(Settings(database_url=sqlite_url))
    views = open_views(tracker)
    tracker.record([Status(n, "send", "") for n in range(20)])
    Projector(tracker, views).catch_up()
    before, position = snapshot(views), views.position()
    tracker.record([Status(n, "deliver", TIMES[1]) for n in range(20)])
    monkeypatch.setitem(tracker.env, "SQLITE_DBNAME", str(tmp_path))  # a worker cannot open it
    with pytest.raises(RuntimeError, match="rebuild worker 1 of 2 failed"):
        rebuild(tracker, views, workers=2)
    assert (snapshot(views), views.position()) == (before, position)
    tracker.close()


def test_pages_read_across_gaps_in_the_notification_ids(postgres_url):
    """PostgreSQL's sequence skips the ids of rolled-back inserts: a page is a window of ids,
    so an empty window is read past, never taken for the end of the log."""
    tracker = open_tracker(Settings(database_url=postgres_url))
    views = open_views(tracker)
    table = f'"{tracker.recorder.datastore.schema}"."{tracker.recorder.events_table_name}"'
    tracker.record([Status(n, "send", "") for n in range(30)])
    with tracker.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'notification_id'), "
            f"(SELECT max(notification_id) FROM {table}) + 5000)"
        )
    tracker.record([Status(n, "deliver", TIMES[1]) for n in range(30)])
    Projector(tracker, views, page_size=100).catch_up()
    assert {row[0]: row[5] for row in views.rows("messages")} == {n: 2 for n in range(30)}
    assert rebuild(tracker, views, page_size=100, workers=2).events == 60
    assert views.position() == tracker.recorder.max_notification_id() == 5060
    tracker.close()


def test_channels_and_a_polls_parts_and_price_reach_the_views_the_history_and_the_export(
    tracker, views
):
    tracker.record([Status(7, "deliver", TIMES[1], channels={"sms": "deliver"})])
    tracker.record([Status(7, "read", TIMES[2], channels={"sms": "not_deliver", "viber": "read"})])
    tracker.record([Status(7, "read", TIMES[3], source="poll", num_parts=2, price=10.6)])
    tracker.record([Status(7, "read", TIMES[3], source="poll")])  # a polled repeat
    Projector(tracker, views).catch_up()
    assert views.message(7).channel_states == {"sms": "not_deliver", "viber": "read"}
    summary = queries.message(tracker, views, 7)
    assert summary.channels == {"sms": "not_deliver", "viber": "read"}
    page = queries.history(tracker, 7)
    assert [(r.source, r.channels, r.num_parts, r.price, r.deliveries) for r in page.reports] == [
        ("webhook", {"sms": "deliver"}, None, None, 1),
        ("webhook", {"sms": "not_deliver", "viber": "read"}, None, None, 1),
        ("poll", None, 2, 10.6, 2),
    ]
    rows = list(report_rows(tracker))
    assert [(r["source"], r["channels"], r["num_parts"], r["price"]) for r in rows] == [
        ("webhook", {"sms": "deliver"}, None, None),
        ("webhook", {"sms": "not_deliver", "viber": "read"}, None, None),
        ("poll", None, 2, 10.6),
    ]
    [exported] = list(message_rows(views))
    assert exported["channels"] == {"sms": "not_deliver", "viber": "read"}


def test_a_repeat_that_says_more_keeps_it_in_the_history_and_gives_its_channels_to_the_views(
    tracker, views
):
    # The common reconciliation: the poll answers the state the webhook gave, with parts and
    # price; an XML delivery repeats it with its channels. Each is a duplicate (the state and
    # the report are untouched) that keeps what it said.
    tracker.record([Status(8, "deliver", TIMES[1], channels={"sms": "send"})])
    tracker.record([Status(8, "deliver", TIMES[1], source="poll", num_parts=3, price=1.5)])
    repeat = Status(8, "deliver", TIMES[1], channels={"sms": "deliver", "viber": "read"})
    tracker.record([repeat])
    assert queries.message(tracker, views, 8).channels == {"sms": "deliver", "viber": "read"}
    Projector(tracker, views).catch_up()
    row = views.message(8)
    assert (row.state, row.reports) == ("deliver", 1)
    assert row.channel_states == {"sms": "deliver", "viber": "read"}
    [record] = queries.history(tracker, 8).reports
    assert (record.deliveries, record.source, record.outcome) == (3, "webhook", "applied")
    assert (record.channels, record.num_parts, record.price) == (repeat.channels, 3, 1.5)
    [exported] = list(report_rows(tracker))  # one row a report, as it first came
    assert (exported["channels"], exported["price"]) == ({"sms": "send"}, None)
    before = snapshot(views)
    rebuild(tracker, views, page_size=2)
    assert snapshot(views) == before


def test_the_view_and_the_history_agree_on_each_channels_latest_status(tracker, views):
    tracker.record([Status(9, "read", TIMES[1], channels={"sms": "a", "viber": "read"})])
    tracker.record([Status(9, "read", TIMES[1], channels={"sms": "b"})])
    tracker.record([Status(9, "read", TIMES[1], channels={"sms": s}) for s in ("c", "d", "c")])
    Projector(tracker, views).catch_up()
    [record] = queries.history(tracker, 9).reports
    assert views.message(9).channel_states == record.channels == {"sms": "c", "viber": "read"}


def test_views_made_before_the_channels_column_get_it_and_keep_their_checksums(tracker, views):
    tracker.record([Status(1, "deliver", TIMES[1]), Status(2, "send", "")])
    Projector(tracker, views).catch_up()
    sums = views.checksums()
    table = views.tables.table("messages")
    with views.datastore.transaction(commit=True) as cursor:  # the table as 540a276 made it
        cursor.execute(f"ALTER TABLE {table} DROP COLUMN channels")
    with pytest.raises(Exception, match=r"key|channels"):  # rows the reader cannot make
        views.message(1)
    again = open_views(tracker)
    assert again.message(1).state == "deliver"
    assert again.checksums() == sums
    tracker.record([Status(1, "read", TIMES[2], channels={"viber": "read"})])
    Projector(tracker, again).catch_up()
    assert again.message(1).channel_states == {"viber": "read"}
