"""The audit tree on a real store: it covers every stored event in log order, resumably."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError

from tracker.application import Status, Unusable
from tracker.audit.follower import AuditFollower
from tracker.audit.leaves import hashed
from tracker.audit.tree import TILE, AuditTree
from tracker.bootstrap import open_views
from tracker.domain import merkle
from tracker.domain.quarantine import ITEM

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def tree(tracker):
    return AuditTree(open_views(tracker)).create()


def record(tracker, n, start=1):
    """n reports over n // 3 messages, with a quarantined item now and then."""
    for first in range(start, start + n, 50):
        statuses = [Status(1 + i % max(1, n // 3), "send", f"2026-03-01 12:{i % 60:02d}:00")
                    for i in range(first, min(start + n, first + 50))]  # fmt: skip
        bad = [Unusable(ITEM, f'"x{first}"', "no id_sms")] if first % 150 == 1 else []
        tracker.record(statuses, bad, T0)


def every_leaf(tracker):
    return [
        h for _, _, h in hashed(tracker.store.select_log(0, tracker.store.max_notification_id()))
    ]


def test_the_tree_covers_every_stored_event_in_log_order(tracker, tree):
    record(tracker, 700)
    follower = AuditFollower(tracker, tree, page_size=97)
    head = follower.catch_up()
    leaves = every_leaf(tracker)
    assert head.size == len(leaves) > 2 * TILE
    assert head.root == merkle.root(leaves)
    assert [leaf.hash for leaf in tree.leaves()] == leaves
    assert follower.step() is None


def test_proofs_from_the_stored_tiles_equal_proofs_from_every_leaf(tracker, tree):
    record(tracker, 600)
    head = AuditFollower(tracker, tree, page_size=250).catch_up()
    leaves = every_leaf(tracker)
    subtrees = tree.subtrees()
    for index in (0, 1, 255, 256, 257, 511, 512, head.size - 1):
        path = merkle.inclusion_path(index, head.size, subtrees)
        assert path == merkle.inclusion_proof(index, leaves)
        assert merkle.verify_inclusion(index, head.size, leaves[index], path, head.root)
    for m in (1, 255, 256, 300, 512, head.size - 1):
        assert merkle.consistency_path(m, head.size, subtrees) == merkle.consistency_proof(
            m, leaves
        )


def test_a_leaf_is_found_by_its_notification_id(tracker, tree):
    record(tracker, 400)
    AuditFollower(tracker, tree, page_size=300).catch_up()
    rows = tracker.store.select_log(0, tracker.store.max_notification_id())
    for position in (0, 255, 256, len(rows) - 1):
        assert tree.position_of(rows[position][0]) == position
    assert tree.position_of(rows[-1][0] + 1) is None


def test_two_followers_never_both_extend_the_tree(tracker, tree):
    record(tracker, 100)
    one, two = AuditFollower(tracker, tree), AuditFollower(tracker, tree)
    before = tree.head()
    one.step()
    with pytest.raises(IntegrityError):
        tree.append(before, [(1, bytes(16), bytes(32))], 1, T0)
    assert two.step() is None
    assert tree.head().root == merkle.root(every_leaf(tracker))
