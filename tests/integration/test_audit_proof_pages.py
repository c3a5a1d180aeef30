"""Proofs a page at a time: the positions of many events found a tile at a time, and the pages
of a message's proof adding up to its whole proof."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tracker.application import Status
from tracker.audit.digest import digest_of
from tracker.audit.follower import AuditFollower
from tracker.audit.proof import check_proof, prove_message, prove_rows
from tracker.audit.tree import TILE, AuditTree
from tracker.bootstrap import open_views
from tracker.domain.ids import message_id

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def tree(tracker):
    return AuditTree(open_views(tracker)).create()


def test_positions_found_together_are_those_found_one_at_a_time(tracker, tree):
    for first in range(0, 900, 100):  # messages 1 and 2 interleaved, then 3 alone
        tracker.record([Status(1 + i % 2, "send", f"2026-03-01 12:{i // 60 % 60:02d}:{i % 60:02d}")
                        for i in range(first, first + 100)], (), T0)  # fmt: skip
    tracker.record([Status(3, "send", f"2026-03-01 13:00:{s:02d}") for s in range(40)], (), T0)
    AuditFollower(tracker, tree, page_size=333).catch_up()
    ids = [row[0] for row in tracker.store.select_log(0, tracker.store.max_notification_id())]
    assert len(ids) > 3 * TILE
    for asked in (ids, ids[::2], ids[TILE - 3 : TILE + 3], [ids[0], ids[-1] + 1, ids[-1]]):
        finder = tree.positions()  # one finder keeping the tiles it read
        assert [finder(n) for n in asked] == [tree.position_of(n) for n in asked]
    assert tree.position_of(ids[-1] + 1) is None
    finder = tree.positions()
    assert [finder(n) for n in (ids[-1] + 5, ids[7])] == [None, 7]  # not ascending: read again


def test_the_pages_of_a_proof_add_up_to_the_whole_proof(tracker, tree):
    tracker.record([Status(7, "send", f"2026-03-01 12:{m:02d}:00") for m in range(50)], (), T0)
    tracker.record([Status(8, "send", "2026-03-01 12:00:00")], (), T0)
    tracker.record([Status(7, "send", f"2026-03-01 14:{m:02d}:00") for m in range(30)], (), T0)
    head = AuditFollower(tracker, tree).catch_up()
    digest = digest_of(head, T0)
    whole = prove_message(tracker, tree, 7, digest)
    rows = tracker.store.select_log_of(message_id(7))
    pages = [prove_rows(tree, 7, rows[at : at + 17], digest) for at in range(0, len(rows), 17)]
    assert [e for page in pages for e in page.events] == whole.events
    assert len(whole.events) == 80 and whole.pending == 0
    assert all(check_proof(page).proved == len(page.events) for page in pages)
