"""Recording batches on a real store (each test runs on a SQLite file and on PostgreSQL)."""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime

import msgspec
import pytest
from eventsourcing.persistence import OperationalError, StoredEvent

from tracker.application import Batch, Status, StoreUnavailable, Tracker, Unusable
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.events import Quarantined, QuarantinedAgain, Reported, ReportedAgain
from tracker.domain.ids import message_id
from tracker.domain.quarantine import ITEM, quarantine_id
from tracker.read import queries
from tracker.views.projector import Projector, rebuild

T0 = "2011-01-01 12:00:00"
T1 = "2011-01-01 12:01:00"
T_TEN, T_NOON = "2024-05-01 10:00:00", "2024-05-01 12:00:00"


def count_commits(tracker: Tracker) -> list[int]:
    """Record how many events each write to the store carried (a fake that records)."""
    writes: list[int] = []
    insert = tracker.recorder.insert_events

    def counting_insert(stored_events, **kwargs):
        writes.append(len(stored_events))
        return insert(stored_events, **kwargs)

    tracker.recorder.insert_events = counting_insert
    return writes


def report_events(tracker: Tracker, id_sms: int) -> list[Reported]:
    """The message's report events, in arrival order."""
    return [envelope.event for envelope in tracker.history(id_sms)]


def receipts(tracker: Tracker, item: Unusable) -> list:
    """The events of a quarantined item, as stored: its first receipt, then each one again."""
    return list(tracker.events.get(quarantine_id(item.kind, item.raw)))


def test_a_batch_of_a_hundred_reports_is_one_write(tracker):
    writes = count_commits(tracker)
    batch = [Status(n, "deliver", T0) for n in range(100)]
    receipt = tracker.record(batch, [Unusable(ITEM, '{"id_sms": true}', "no id")])
    assert receipt.stored == frozenset(range(100))
    assert writes == [101]


def test_what_was_acknowledged_is_there_after_reopening_the_store(database_url):
    first = open_tracker(Settings(database_url=database_url))
    receipt = first.record([Status(1, "send", ""), Status(1, "deliver", T0)])
    first.close()
    again = open_tracker(Settings(database_url=database_url, create_tables=False))
    try:
        assert receipt.stored == {1}
        assert [(e.state, e.time) for e in report_events(again, 1)] == [
            ("send", ""),
            ("deliver", T0),
        ]
        assert again.message(1).current.state == "deliver"
    finally:
        again.close()


def test_a_repeated_batch_records_no_new_report_only_that_each_came_again(tracker):
    batch = [Status(5, "send", ""), Status(5, "read", T1), Status(6, "deliver", T0)]
    first = tracker.record(batch)
    again = tracker.record([*batch, Status(5, "read", T1)])  # one report twice in the batch
    assert first.outcomes == {"applied": 3}
    assert (again.stored, again.outcomes, again.duplicates) == (frozenset({5, 6}), {}, 4)
    assert [e.state for e in report_events(tracker, 5)] == ["send", "read"]
    repeats = [e.event for e in tracker.history(5, repeats=True)]
    repeats = [e for e in repeats if type(e) is ReportedAgain]
    assert sorted(((e.state, e.time), e.times) for e in repeats) == [
        (("read", T1), 2), (("send", ""), 1)
    ]  # fmt: skip
    assert tracker.message(5).current.state == "read"


def test_history_is_in_arrival_order_with_outcomes_decided_at_receipt(tracker):
    received = datetime(2026, 5, 1, 10, tzinfo=UTC)
    tracker.record([Status(9, "deliver", T1)], received_at=received)
    tracker.record([Status(9, "send", T0), Status(9, "read", T0)])
    tracker.record([Status(9, "expired", T1)])
    history = report_events(tracker, 9)
    assert [(e.state, e.outcome) for e in history] == [
        ("deliver", "applied"),
        ("send", "superseded"),
        ("read", "applied"),
        ("expired", "rejected"),
    ]
    assert history[0].received_at == received
    assert history[0].instant == datetime(2011, 1, 1, 9, 1, tzinfo=UTC)


def test_an_unknown_message_has_no_state_and_no_history(tracker):
    assert tracker.message(404) is None
    assert tracker.history(404) == []


def test_quarantined_input_is_kept_and_repeats_are_counted_on_the_same_item(tracker):
    item = Unusable(ITEM, '{"id_sms": -1, "state": "read"}', "id_sms -1 is not an integer")
    tracker.record([], [item])
    tracker.record([Status(1, "send", "")], [item])
    held = receipts(tracker, item)
    assert [(type(e.event), e.originator_version) for e in held] == [
        (Quarantined, 1), (QuarantinedAgain, 2)
    ]  # fmt: skip
    assert (held[0].event.kind, held[0].event.raw) == (ITEM, item.raw)
    assert [e.event.reason for e in held] == [item.reason, item.reason]


@contextmanager
def another_writer_appends(tracker, database_url, clashes):
    """Between ``tracker`` loading message 1 and saving it, another process appends to it
    (``clashes`` times, a minute later each time)."""
    other = open_tracker(Settings(database_url=database_url, create_tables=False))
    # On SQLite the writers take turns (the next test), which rules this interleaving out;
    # without turns it is what a writer on another host of a PostgreSQL store can do.
    tracker.writing = other.writing = nullcontext
    load = tracker._load_all
    minutes = iter(range(clashes))

    def load_then_let_the_other_writer_in(numbers):
        messages = load(numbers)
        if (minute := next(minutes, None)) is not None:
            other.record([Status(1, "deliver", f"2011-01-01 12:{minute:02d}:00")])
        return messages

    tracker._load_all = load_then_let_the_other_writer_in
    try:
        yield
    finally:
        tracker._load_all = load
        other.close()


def test_a_clash_with_another_writer_is_reloaded_and_retried(database_url, tracker):
    tracker.record([Status(1, "send", "")])
    with another_writer_appends(tracker, database_url, clashes=1):
        receipt = tracker.record([Status(1, "read", T1)])
    assert receipt.attempts == 2
    assert [(e.state, e.time, e.outcome) for e in report_events(tracker, 1)] == [
        ("send", "", "applied"),
        ("deliver", T0, "applied"),
        ("read", T1, "applied"),
    ]


def test_endless_clashes_store_and_acknowledge_nothing_instead_of_failing(database_url, tracker):
    tracker.record([Status(1, "send", "")])
    with another_writer_appends(tracker, database_url, clashes=60):
        receipt = tracker.record([Status(1, "read", T1)])
    assert (receipt.stored, receipt.attempts) == (frozenset(), 8)
    assert "read" not in [e.state for e in report_events(tracker, 1)]


def test_sqlite_writers_take_turns_so_another_process_cannot_clash(sqlite_url):
    first = open_tracker(Settings(database_url=sqlite_url))
    second = open_tracker(Settings(database_url=sqlite_url, create_tables=False))  # another fd
    done = threading.Event()
    try:
        with first.writing():  # first is between loading and saving
            writer = threading.Thread(
                target=lambda: (second.record([Status(1, "send", "")]), done.set())
            )
            writer.start()
            assert not done.wait(0.5)  # the other writer waits for its turn
        assert done.wait(10)
        writer.join()
        assert [e.state for e in report_events(first, 1)] == ["send"]
    finally:
        first.close()
        second.close()


def test_the_same_bad_item_twice_in_one_batch_is_one_receipt_and_again_in_the_next(tracker):
    """A receipt per request that carried it: a body repeating it a million times is one
    event, not a million (they once held the writer for minutes)."""
    item = Unusable(ITEM, '{"id_sms": -3}', "id_sms -3 is not an integer")
    receipt = tracker.record([Status(1, "send", "")], [item, item])
    assert (receipt.stored, receipt.quarantined, receipt.attempts) == (frozenset({1}), 2, 1)
    tracker.record([], [item])
    assert len(receipts(tracker, item)) == 2


def test_two_requests_committed_together_are_two_receipts_of_the_same_bad_item(tracker):
    """The requests of one group share their receipt time: each is a receipt all the same."""
    item = Unusable(ITEM, '{"id_sms": -4}', "id_sms -4 is not an integer")
    answers = tracker.record_batches([Batch((), (item, item)), Batch((), (item,))])
    assert [a.quarantined for a in answers] == [2, 1]
    held = receipts(tracker, item)
    assert [e.originator_version for e in held] == [1, 2]
    assert held[0].event.received_at == held[1].event.received_at


def test_a_receipt_of_an_item_quarantined_many_times_reads_only_its_last_event(tracker):
    item = Unusable(ITEM, "{}", "item has no id_sms")
    for _ in range(30):
        tracker.record([], [item])
    replays = []  # the library's read of an aggregate's events (what a replay starts with)
    select_events = tracker.recorder.select_events
    tracker.recorder.select_events = lambda *a, **k: replays.append(a) or select_events(*a, **k)
    tracker.record([], [item])
    assert replays == []  # no replay of its 30 receipts
    held = receipts(tracker, item)
    assert (len(held), held[-1].originator_version) == (31, 31)
    moments = [e.event.received_at for e in held]
    assert moments == sorted(moments) and len(set(moments)) == 31


def test_a_group_loads_its_messages_in_one_query_exactly_as_one_by_one(tracker):
    tracker.record([Status(n, "send", "") for n in range(1, 40)])
    tracker.record([Status(n, "deliver", T0) for n in range(1, 40, 2)])
    tracker.record([Status(n, "read", T1) for n in range(1, 40, 3)])
    wanted = set(range(0, 45))  # 0 and 40-44 were never reported
    together = tracker._load_all(wanted)
    # one by one, each read with the library's own query of an aggregate's events
    one_by_one = {n: m for n in wanted if (m := tracker.message(n)) is not None}
    assert set(together) == set(one_by_one) == set(range(1, 40))
    for n, held in together.items():
        message = one_by_one[n]
        assert (
            held.id_sms, held.version, held.current, set(held.identities), held.earliest_final
        ) == (
            message.id_sms, message.version, message.current, set(message.identities),
            message.earliest_final,
        )  # fmt: skip


def test_the_messages_a_writer_keeps_add_nothing_to_the_garbage_collectors_work(tracker):
    tracker.record([Status(n, "send", "") for n in range(200)])
    tracker.record([Status(n, "read", T1) for n in range(0, 200, 2)])
    gc.collect()  # a young collection untracks the tuples of identities, long before a full one
    kept = list(tracker.written._messages.values())
    assert len(kept) == 200
    held = [value for message in kept for value in (message, *msgspec.structs.astuple(message))]
    assert not any(gc.is_tracked(value) for value in held)  # a full collection skips them


def test_a_writer_keeping_messages_sees_what_another_process_wrote_meanwhile(database_url):
    first = open_tracker(Settings(database_url=database_url))
    second = open_tracker(Settings(database_url=database_url, create_tables=False))
    try:
        first.record([Status(1, "send", "")])  # first keeps message 1 in hand
        second.record([Status(1, "deliver", T0)])  # another process appends to it
        receipt = first.record([Status(1, "read", T1), Status(1, "deliver", T0)])
        assert receipt.attempts == 1  # it read the other's event before deciding: no clash
        assert receipt.duplicates == 1  # and knew the delivery it had not written itself
        assert [(e.state, e.outcome) for e in report_events(first, 1)] == [
            ("send", "applied"), ("deliver", "applied"), ("read", "applied")
        ]  # fmt: skip
    finally:
        first.close()
        second.close()


def test_a_write_that_fails_leaves_nothing_behind_in_the_kept_messages(tracker):
    tracker.record([Status(1, "send", "")])
    insert = tracker.recorder.insert_events

    def fail_once(events, **kwargs):
        tracker.recorder.insert_events = insert
        raise OperationalError("the store went away")

    tracker.recorder.insert_events = fail_once
    with pytest.raises(StoreUnavailable):
        tracker.record([Status(1, "deliver", T0)])
    receipt = tracker.record([Status(1, "deliver", T0)])  # the platform sends it again
    assert (receipt.stored, receipt.duplicates) == ({1}, 0)  # stored now, not a "repeat"
    assert [e.state for e in report_events(tracker, 1)] == ["send", "deliver"]


def test_changing_the_time_zone_changes_nothing_already_stored(database_url):
    """The instant the rules use is fixed when a report is received: reopened in another zone,
    the tracker decides the same states, and a rebuild of the views gives the same rows (were
    the stored times read again in Asia/Tokyo, every instant would move six hours)."""
    reports = [Status(40, "not_deliver", T_TEN), Status(40, "read", T_NOON)]
    moscow = open_tracker(Settings(database_url=database_url))
    moscow.record(reports)
    before = rebuild(moscow, open_views(moscow)).checksums
    instants = [e.instant for e in report_events(moscow, 40)]
    moscow.close()
    tokyo = open_tracker(
        Settings(database_url=database_url, create_tables=False, timezone="Asia/Tokyo")
    )
    try:
        assert tokyo.message(40).current.state == "not_deliver"
        assert [e.instant for e in report_events(tokyo, 40)] == instants
        assert rebuild(tokyo, open_views(tokyo)).checksums == before
        assert tokyo.record(reports).duplicates == 2  # the same reports, not new ones
    finally:
        tokyo.close()


def cut_log_after(tracker: Tracker, position: int) -> None:
    """Roll the event store back to ``position``, as a restore from a backup or a failover to
    a lagging replica would: from outside the tracker, with the owner's rights."""
    datastore, table = tracker.recorder.datastore, tracker.recorder.events_table_name
    if hasattr(datastore, "schema"):  # PostgreSQL
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f'DELETE FROM "{datastore.schema}"."{table}" WHERE notification_id > %s',
                [position],
            )
    else:
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE rowid > ?", [position])


@pytest.mark.parametrize("then_overtaken", [False, True])
def test_a_writer_whose_store_went_back_forgets_what_it_held_and_stores_the_resend(
    database_url, then_overtaken
):
    """The writer keeps the messages it wrote; had it trusted them after a restore, the
    platform's resend of a lost report would have been acknowledged as a repeat, and lost.
    Also when other writers took the log past the old position before it looked again."""
    tracker = open_tracker(Settings(database_url=database_url, lock_timeout=2))
    try:
        tracker.record([Status(50, "send", "")])
        position = tracker.recorder.max_notification_id()
        lost = [Status(50, "deliver", T0), Status(51, "send", "")]
        tracker.record(lost)  # acknowledged, then lost with the restore
        cut_log_after(tracker, position)
        if then_overtaken:  # another host writes more than was lost, past the old head
            other = open_tracker(Settings(database_url=database_url, create_tables=False))
            other.record([Status(n, "send", "") for n in range(60, 65)])
            other.close()
        receipt = tracker.record(lost)  # the platform sends them again
        assert (receipt.stored, receipt.duplicates) == ({50, 51}, 0)
        assert [(e.state, e.time) for e in report_events(tracker, 50)] == [
            ("send", ""),
            ("deliver", T0),
        ]
        assert len(tracker.history(51)) == 1
    finally:
        tracker.close()


@pytest.mark.postgres
def test_a_restore_between_another_hosts_write_and_ours_is_noticed_too(postgres_url):
    """Another writer's event landed between the head we read and our insert, so our write
    did not follow our mark; a restore to a point after the mark but before our write must
    still make us forget what we held (it once passed the check on the mark alone)."""
    ours = open_tracker(Settings(database_url=postgres_url, lock_timeout=2))
    theirs = open_tracker(Settings(database_url=postgres_url, create_tables=False))
    try:
        ours.record([Status(1, "send", "")])
        insert = ours.recorder.insert_events

        def after_theirs(events, **kwargs):  # another host writes just before our insert
            # (its clock behind ours: our receipt times stay ahead, so we need not retry)
            theirs.record([Status(9, "send", "")], received_at=datetime(2000, 1, 1, tzinfo=UTC))
            ours.recorder.insert_events = insert
            return insert(events, **kwargs)

        ours.recorder.insert_events = after_theirs
        ours.record([Status(2, "send", "")])
        their_event = theirs.recorder.max_notification_id() - 1  # ours came right after it
        cut_log_after(ours, their_event)  # restored to a point holding theirs but not ours
        receipt = ours.record([Status(2, "send", "")])  # the platform sends it again
        assert (receipt.stored, receipt.duplicates) == ({2}, 0)
        assert len(ours.history(2)) == 1
    finally:
        ours.close()
        theirs.close()


def test_events_stored_without_their_trailing_optional_fields_read_with_the_defaults(tracker):
    """A field is only ever added at the end of an event, with a default (domain/events.py): an
    event stored before it was added holds a shorter array, and reads as having the default.
    The writer takes such a message up, histories and views read it."""
    received = datetime(2024, 5, 1, 7, 0, 1, tzinfo=UTC)
    shorter = [  # (topic, the fields stored), each event without its optional trailing fields
        (Reported.TOPIC, ["send", "2024-05-01 10:00:00", datetime(2024, 5, 1, 7, tzinfo=UTC),
                          received, "applied"]),
        (Reported.TOPIC, ["deliver", "2024-05-01 10:00:05",
                          datetime(2024, 5, 1, 7, 0, 5, tzinfo=UTC), received, "applied"]),
        (ReportedAgain.TOPIC, ["deliver", "2024-05-01 10:00:05", received]),
    ]  # fmt: skip
    old = [
        StoredEvent(message_id(5), n, topic, msgspec.msgpack.encode(fields))
        for n, (topic, fields) in enumerate(shorter, 1)
    ]
    tracker.recorder.insert_events(old)
    assert [e.event for e in tracker.history(5, repeats=True)] == [
        Reported(*shorter[0][1], raw=None, id_sent=None, reason=None, raw_encoding=None),
        Reported(*shorter[1][1], raw=None, id_sent=None, reason=None, raw_encoding=None),
        ReportedAgain(*shorter[2][1], times=1, reason=None),
    ]
    receipt = tracker.record([Status(5, "read", "2024-05-01 10:00:09"), Status(5, "send", T0)])
    assert receipt.outcomes == {"applied": 1, "superseded": 1} and receipt.duplicates == 0
    history = queries.history(tracker, 5)
    assert [(r.id_sms, r.state, r.reason, r.deliveries) for r in history.reports] == [
        (5, "send", None, 1), (5, "deliver", None, 2), (5, "read", None, 1), (5, "send", None, 1)
    ]  # fmt: skip
    views = open_views(tracker)
    Projector(tracker, views).catch_up()
    assert queries.message(tracker, views, 5).state == "read"


def test_a_quarantined_item_stored_without_its_encoding_reads_as_utf_8(tracker):
    """The same for quarantined input: its encoding was added at the end, with a default."""
    item = Unusable(ITEM, '{"id_sms": null}', "item has no id_sms")
    key = quarantine_id(item.kind, item.raw)
    fields = [item.kind, item.raw, item.reason, datetime(2024, 5, 1, 7, tzinfo=UTC)]
    tracker.recorder.insert_events(
        [StoredEvent(key, 1, Quarantined.TOPIC, msgspec.msgpack.encode(fields))]
    )
    assert [e.event for e in tracker.events.get(key)] == [Quarantined(*fields, encoding="utf-8")]
    tracker.record([], [item])  # received again: the writer continues the item's versions
    assert [(type(e.event), e.originator_version) for e in receipts(tracker, item)] == [
        (Quarantined, 1), (QuarantinedAgain, 2)
    ]  # fmt: skip
