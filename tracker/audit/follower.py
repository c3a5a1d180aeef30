"""Keeping the audit tree up to date: a follower of the log, page by page, like the projector.

It reads whole rows in notification order and adds their leaf hashes to the stored tree with
the position reached, in one transaction (a crash neither skips nor repeats a leaf). It never
writes the event store: ingest only shares the machine with it (docs/benchmarks.md). Where two
run (several server processes), the head's compare-and-set lets one extend the tree and makes
the other read it again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tracker.application import Tracker
from tracker.audit.leaves import hashed
from tracker.audit.tree import AuditTree, Head, TreeDamaged


class AuditFollower:
    def __init__(
        self,
        tracker: Tracker,
        tree: AuditTree,
        *,
        page_size: int = 10_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.recorder = tracker.store
        self.tree = tree
        self.page_size = page_size
        self.clock = clock
        self.last: Head | None = None  # the head as this follower last wrote or read it

    def step(self) -> Head | None:
        """Add one page of the log to the tree; None when it had already caught up."""
        before = self.tree.head()
        self.last = before
        head = self.recorder.max_notification_id() or 0
        if head < before.position:  # ids never go back: the head was edited, or events deleted
            raise TreeDamaged(
                f"the audit tree says it covered notification ids up to {before.position}, the "
                f"log ends at {head}: the tree's head was edited or the last events deleted "
                "(run `tracker verify`)"
            )
        if head == before.position:
            return None
        end = min(head, before.position + self.page_size)
        rows = self.recorder.select_log(before.position, end)
        if not rows:  # a gap wider than a page (ids a store skipped, or set by hand): over it
            following = self.recorder.next_notification_id(end)
            end = head if following is None else max(end, min(head, following - 1))
        self.last = self.tree.append(before, hashed(rows), end, self.clock())
        return self.last

    def catch_up(self) -> Head:
        """Follow the log to its head; the tree's head then."""
        while self.step() is not None:
            pass
        return self.last or self.tree.head()
