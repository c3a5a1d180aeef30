"""Message ids in a real store: ordered 16-byte ids that name the message's number."""

from __future__ import annotations

from tracker.application import Status
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.ids import id_sms_of, message_id
from tracker.views.log import EventLog
from tracker.views.projector import rebuild


def stored_ids(tracker) -> list:
    return [n.originator_id for n in tracker.recorder.select_notifications(1, 10_000)]


def test_a_store_names_its_messages_with_ordered_ids_that_give_back_their_numbers(tracker):
    tracker.record([Status(n, "send", "") for n in (30, 10, 20)])
    assert stored_ids(tracker) == [message_id(30), message_id(10), message_id(20)]
    assert {i.version for i in stored_ids(tracker)} == {8}
    assert [id_sms_of(i) for i in stored_ids(tracker)] == [30, 10, 20]


def test_rebuild_workers_get_even_shares_of_the_messages_and_fold_them_alike(database_url):
    tracker = open_tracker(Settings(database_url=database_url))
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
