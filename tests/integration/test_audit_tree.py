"""The audit tree on a real store: it covers every stored event in log order, resumably."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError

from tracker.application import Status, Unusable
from tracker.audit.follower import AuditFollower
from tracker.audit.leaves import hashed
from tracker.audit.tree import TILE, AuditTree
from tracker.audit.verify import tree_damage
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


def test_tiles_of_every_level_give_the_roots_and_proofs_of_the_whole_tree(tracker, tree):
    """Past 65,536 leaves the tree keeps nodes on three levels of tiles: grown in pages of
    uneven sizes, its root and proofs equal those computed from every leaf."""
    rng = random.Random(4)
    n = TILE * TILE + 3 * TILE + 17
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]
    head, at = tree.head(), 0
    while at < n:
        step = min(n - at, rng.choice([1, 7, 255, 256, 1000, 20_000]))
        page = [(2 * i + 1, bytes(16), leaves[i]) for i in range(at, at + step)]
        head = tree.append(head, page, 2 * (at + step), T0)
        at += step
        if rng.random() < 0.1:  # now and then, the sizes a digest might have been taken at
            assert head.root == merkle.root(leaves[:at])
    assert head.size == n and head.root == merkle.root(leaves)
    subtrees = tree.subtrees()
    for index in [0, TILE * TILE - 1, TILE * TILE, n - 1, *rng.sample(range(n), 20)]:
        path = merkle.inclusion_path(index, n, subtrees)
        assert merkle.verify_inclusion(index, n, leaves[index], path, head.root)
        assert path == merkle.inclusion_proof(index, leaves)
    for m in [1, TILE, TILE * TILE, TILE * TILE + 1, *rng.sample(range(1, n), 5)]:
        proof = merkle.consistency_path(m, n, subtrees)
        assert merkle.verify_consistency(m, n, merkle.root(leaves[:m]), head.root, proof)
    for index in rng.sample(range(n), 20):
        assert tree.position_of(2 * index + 1) == index
        assert tree.position_of(2 * index + 2) is None


def test_the_check_of_the_nodes_holds_while_a_follower_extends_the_tree(tracker, tree):
    """verify reads the tree's levels one after the other; a follower completing a tile in
    between adds nodes past those of the size checked, which is no damage (it was reported as
    an edit under heavy ingest)."""
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(3 * TILE + 5)]
    head = tree.append(tree.head(), [(i + 1, bytes(16), h) for i, h in enumerate(leaves)], 999, T0)
    reads = tree.tiles_of

    def extended_after_level_0(level):
        yield from reads(level)
        if level == 0:  # the follower's page lands between the two reads
            more = [(5000 + i, bytes(16), bytes([i]) * 32) for i in range(TILE)]
            tree.append(tree.head(), more, 9999, T0)

    tree.tiles_of = extended_after_level_0
    assert tree_damage(tree, head.size) == []
    tree.tiles_of = reads
    assert tree_damage(tree, tree.head().size) == []
