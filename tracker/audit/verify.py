"""Verifying the stored log: every event hashed again, in log order, against the audit tree and
against the digests an auditor kept.

The tree's leaves, written as the follower first saw each event, say where the log was changed:
the first position whose event differs, is missing, or was not there before. Digests say whether
the log still extends what was published, even if the tree's own tables were rewritten along
with the events (then only that it does not, not where).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracker.application import Tracker
from tracker.audit.digest import Digest, signature_problem
from tracker.audit.leaves import leaf_of, owner
from tracker.audit.tree import (
    KEY,
    TILE,
    TILE_HEIGHT,
    AuditTree,
    Head,
    Leaf,
    TreeDamaged,
    first_id,
    split_hashes,
)
from tracker.domain.merkle import Frontier, consistency_path, root, verify_consistency

PAGE = 10_000  # notification ids read at once
NO_LEAF = "the audit tree's leaf for this position is missing (its tables were edited)"
DELETED = "recorded by the audit tree, missing from the store (deleted, or moved elsewhere)"
INSERTED = "in the store, never recorded by the audit tree (inserted)"
EDITED = " (a row no tracker writes: edited by hand)"
CHANGED = (
    "its stored bytes differ from what the audit tree recorded (modified or swapped with "
    "another event)"
)


@dataclass(frozen=True, slots=True)
class Finding:
    """The first place where the stored log is not what the tree recorded."""

    position: int  # 0-based; people are told position + 1 ("event N")
    notification_id: int
    owner: str  # "message 3234", "quarantined input ..."
    what: str

    def __str__(self) -> str:
        return f"event {self.position + 1} (notification id {self.notification_id}, " \
               f"{self.owner}): {self.what}"  # fmt: skip


@dataclass(slots=True)
class Verification:
    events: int = 0  # events in the store, hashed again
    recorded: int = 0  # leaves the tree had recorded
    head: Head | None = None  # the tree of the stored events as they are
    finding: Finding | None = None
    problems: list[str] = field(default_factory=list)  # digests, the tree's own head

    @property
    def sound(self) -> bool:
        return self.finding is None and not self.problems


def verify_log(
    tracker: Tracker,
    tree: AuditTree,
    digests: Sequence[tuple[str, Digest]] = (),
    *,
    trusted: bytes | None = None,
    on_page: Callable[[int, int], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Verification:
    """Hash every stored event again and compare (``digests`` as (name, digest) pairs; with
    ``trusted``, each must be signed by that public key). A sound result is recorded as the
    tree's ``verified`` head, an unsound one as its ``failed`` head."""
    recorder = tracker.store
    recorded_head = tree.head()
    result = Verification(recorded=recorded_head.size)
    sizes = {d.tree_size for _, d in digests}
    roots: dict[int, bytes] = {0: Frontier().root()} if 0 in sizes else {}
    frontier = Frontier()
    leaves = tree.leaves()
    end = recorder.max_notification_id() or 0
    # The first page from the lowest id: no store numbers an event below 1, but a row put there
    # is one of its message's events all the same (its history shows it), so it is read.
    after: int | None = None
    while True:  # after a finding, on without comparing: the digests are checked too
        stop = min(end, (after or 0) + PAGE)
        for nid, originator, leaf, malformed in map(leaf_of, recorder.select_log(after, stop)):
            position = frontier.size
            if result.finding is None and malformed is not None:
                result.finding = Finding(position, nid, owner(originator), malformed + EDITED)
            elif result.finding is None and position < recorded_head.size:
                held = next(leaves, None)
                if held is None:
                    result.finding = Finding(position, nid, owner(originator), NO_LEAF)
                elif held.hash != leaf or held.notification_id != nid:
                    result.finding = _differs(held, nid, originator, position)
            elif result.finding is None and nid <= recorded_head.position:
                # the tree's head says it covered this id, yet holds no leaf for it
                result.finding = Finding(position, nid, owner(originator), INSERTED)
            frontier.append(leaf)
            if frontier.size in sizes:
                roots[frontier.size] = frontier.root()
            if (
                result.finding is None
                and frontier.size == recorded_head.size
                and frontier.root() != recorded_head.root
            ):
                result.problems.append("the audit tree's head does not match its leaves (edited)")
        if on_page:
            on_page(stop, end)
        if stop >= end:
            break
        after = stop
        following = recorder.next_notification_id(stop)  # over a gap wider than a page at once
        if following is not None and following - 1 > after:
            after = min(end, following - 1)
    result.events = frontier.size
    if result.finding is None and frontier.size < recorded_head.size:
        held = next(leaves, None)
        if held is not None:
            result.finding = Finding(
                held.position, held.notification_id, owner(held.originator), DELETED
            )
        else:  # every leaf matched, but the head says there were more
            result.problems.append(
                f"the audit tree's head covers {recorded_head.size} leaves, its tiles hold only "
                f"{frontier.size} (edited)"
            )
    if outside := recorder.rows_out_of_order():  # read by their message, never hashed
        result.problems.append(
            f"{outside} rows of the events table lie outside the log's order (a notification id "
            "NULL, not a whole number, or not the row's own): the table was rebuilt by hand, "
            "and those rows count in their messages' histories all the same"
        )
    if result.finding is None and recorded_head.position > end:
        result.problems.append(
            f"the audit tree's head says it covered notification ids up to "
            f"{recorded_head.position}, the log ends at {end} (its head was edited, or the "
            "last events deleted)"
        )
    if result.finding is None and not result.problems:
        result.problems += tree_damage(tree, recorded_head.size)  # its nodes, and leaves' keys
    found = Head(frontier.size, end, frontier.root(), tuple(frontier.peaks), clock())
    if result.finding is None:
        result.head = found
    history_sound = result.sound  # the log and the tree, before the digests are weighed
    signatures, extension = _check_digests(
        digests, roots, result, tree, recorded_head.size, trusted
    )
    result.problems += signatures + extension
    if result.sound:
        tree.record_verified(found)
    # A digest the store does not extend is a changed history (or another store's digest); one
    # signed by another key, or not signed, says nothing of the history: not recorded as failed.
    elif not history_sound or extension:  # said until one is sound again (console, metrics)
        tree.record_verified(found, sound=False)
    return result


def _differs(held: Leaf, nid: int, originator: bytes, position: int) -> Finding:
    if held.notification_id < nid:
        return Finding(position, held.notification_id, owner(held.originator), DELETED)
    if held.notification_id > nid:
        return Finding(position, nid, owner(originator), INSERTED)
    what = CHANGED
    if held.originator != originator:  # both messages' histories changed: name the other too
        what += f"; when recorded it was an event of {owner(held.originator)}"
    return Finding(position, nid, owner(originator), what)


def _check_digests(
    digests: Sequence[tuple[str, Digest]],
    roots: dict[int, bytes],
    result: Verification,
    tree: AuditTree,
    recorded: int,
    trusted: bytes | None,
) -> tuple[list[str], list[str]]:
    """(what is wrong with the digests' signatures, what says the store does not extend
    them): the first says nothing of the history, the second that it changed."""
    signatures: list[str] = []
    extension: list[str] = []
    for name, digest in digests:
        if (problem := signature_problem(digest, trusted)) is not None:
            signatures.append(f"digest {name}: {problem}")
        elif digest.tree_size > result.events and result.finding is None:
            extension.append(
                f"digest {name} covers {digest.tree_size} events, the store holds only "
                f"{result.events}: events it covers were deleted (or the digest is another "
                "store's)"
            )
        elif digest.tree_size in roots and roots[digest.tree_size] != digest.root:
            extension.append(
                f"digest {name}: the store does not extend it: its first {digest.tree_size} "
                "events are not the ones the digest covers (changed, deleted, inserted or "
                "reordered since it was made; or the digest is another store's)"
            )
    if not result.sound or signatures or extension:
        return signatures, extension  # proofs come from the tree, sound only once all passed
    ordered = sorted((d for _, d in digests), key=lambda d: d.tree_size)
    names = {id(d): n for n, d in digests}
    subtrees = tree.subtrees()
    for old, new in itertools.pairwise(ordered):
        if new.tree_size > recorded:
            continue
        try:
            proof = consistency_path(old.tree_size, new.tree_size, subtrees)
        except TreeDamaged as e:
            extension.append(f"no consistency proof between the digests: {e}")
            continue
        if not verify_consistency(old.tree_size, new.tree_size, old.root, new.root, proof):
            extension.append(f"digest {names[id(new)]} does not extend digest {names[id(old)]}")
    return signatures, extension


def tree_damage(tree: AuditTree, size: int) -> list[str]:
    """What is wrong with the stored nodes above the first ``size`` leaves and with the leaves'
    keys, each level checked against the one below (verify compares the leaves with the log
    itself); empty when sound. The nodes are what proofs are made of: one edited would make
    every honest proof through it fail. Only the nodes of those ``size`` leaves are compared
    (level k's first size >> 8k): a follower extending the tree meanwhile, between the reads
    of two levels, adds nodes past them, never changes one. Memory: a level's nodes, the
    leaves' never held (a 256th of them at most)."""
    below: list[bytes] = []  # the roots of the complete tiles of the level below
    level = 0
    while level == 0 or below:
        wanted = size >> (TILE_HEIGHT * level)  # this level's nodes for ``size`` leaves
        held: list[bytes] = []
        complete: list[bytes] = []
        taken = 0
        for tile, row in enumerate(tree.tiles_of(level)):
            if taken >= wanted:
                break
            if row["tile"] != tile:
                return [f"the audit tree's tile {tile} of level {level} is missing (edited)"]
            hashes = bytes(row["hashes"])
            part = split_hashes(hashes)[: wanted - taken]
            if level == 0 and not _keys_fit(row, len(hashes) // 32):
                return [f"the audit tree's tile {tile} of leaves has edited keys"]
            taken += len(part)
            if level:
                held += part
            if len(part) == TILE:
                complete.append(root(part))
        if taken < wanted:
            return [f"the audit tree's level {level} lacks nodes (edited)"]
        if level and held != below:
            return [f"the audit tree's nodes of level {level} are not the roots of the "
                    "level below (edited)"]  # fmt: skip
        below, level = complete, level + 1
    return []


def _keys_fit(row: Any, leaves: int) -> bool:
    """A tile of leaves holds a key for each, ascending, and its first id is its first key's."""
    keys = bytes(row["keys"] or b"")
    if len(keys) != leaves * KEY or not keys or row["first_id"] != first_id(keys):
        return False
    ids = [first_id(keys[i:]) for i in range(0, len(keys), KEY)]
    return all(a < b for a, b in itertools.pairwise(ids))
