"""Message ids in a real store: ordered in a new store, uuid5 kept in a store written before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.application import Status
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.ids import legacy_message_id, message_id
from tracker.views.log import EventLog
from tracker.views.projector import rebuild

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def stored_ids(tracker) -> list:
    return [n.originator_id for n in tracker.recorder.select_notifications(1, 10_000)]


def test_a_new_store_names_its_messages_with_ordered_ids(tracker):
    tracker.record([Status(n, "send", "") for n in (30, 10, 20)])
    assert tracker.message_id is message_id
    assert stored_ids(tracker) == [message_id(30), message_id(10), message_id(20)]
    assert {i.version for i in stored_ids(tracker)} == {8}


def test_a_store_written_with_uuid5_ids_keeps_them_for_old_and_new_messages(database_url):
    older = open_tracker(Settings(database_url=database_url))
    older._ids = legacy_message_id  # as every tracker before ordered ids wrote them
    older.record([Status(n, "send", "") for n in range(1, 6)], received_at=T0)
    older.close()

    tracker = open_tracker(Settings(database_url=database_url))
    try:
        tracker.record(
            [Status(n, "deliver", "2026-03-01 12:00:00") for n in range(1, 9)],
            received_at=T0 + timedelta(minutes=1),
        )
        assert tracker.message_id is legacy_message_id
        assert stored_ids(tracker) == [legacy_message_id(n) for n in [*range(1, 6), *range(1, 9)]]
        for n in range(1, 6):  # one history per message, its versions continued
            history = tracker.history(n)
            assert [(e.originator_version, e.state) for e in history] == [
                (1, "send"),
                (2, "deliver"),
            ]
            assert tracker.message(n).current.state == "deliver"
        assert [e.state for e in tracker.history(8)] == ["deliver"]
    finally:
        tracker.close()


@pytest.mark.parametrize("ids", [message_id, legacy_message_id], ids=["ordered", "uuid5"])
def test_rebuild_workers_get_even_shares_of_the_messages_and_fold_them_alike(database_url, ids):
    tracker = open_tracker(Settings(database_url=database_url))
    tracker._ids = ids
    try:
        for start in range(1, 1201, 400):
            tracker.record([Status(n, "send", "") for n in range(start, start + 400)])
        head = tracker.recorder.max_notification_id()
        shares = [len(EventLog(tracker, (k, 3)).page(0, head, head)[0]) for k in range(3)]
        assert sum(shares) == 1200
        assert all(300 < share < 500 for share in shares), shares  # a third is 400
        views = open_views(tracker)
        alone = rebuild(tracker, views, page_size=250)
        split = rebuild(tracker, views, workers=3, page_size=250)
        assert (split.events, split.checksums) == (alone.events, alone.checksums)
        assert split.events == 1200
    finally:
        tracker.close()
