"""Keeping the views up to date: catch-up in pages, a live polling thread, and rebuilds.

eventsourcing 9.5's SQLite recorder offers no subscription, and PostgreSQL's LISTEN/NOTIFY can
lose a notification and stall, so the projector simply polls the event log (and is woken at
once by this process's own commits). Each page is read, folded and written with its position
in one transaction; a restarted projector resumes from the stored position. A rebuild folds the
whole history, here or in worker processes (views/folding.py).
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import IntegrityError, PersistenceError

from tracker.application import Tracker
from tracker.views.folding import Fold, Progress, fold_history, fold_in_processes
from tracker.views.log import EventLog
from tracker.views.projection import (
    Change,
    Delivery,
    Fact,
    MessageRow,
    change_of,
    count_key,
    counted,
    keys_of,
    project,
)
from tracker.views.store import LIVE, SHADOW, ViewStore

log = logging.getLogger("tracker.views")


class Projector:
    """Projects the tracker's report events into a view store, page by page."""

    def __init__(
        self,
        tracker: Tracker,
        views: ViewStore,
        *,
        suffix: str = LIVE,
        page_size: int = 10_000,
        until: datetime | None = None,
        cache_rows: int = 20_000,
    ):
        self.log = EventLog(tracker)
        self.views = views
        self.suffix = suffix
        self.page_size = page_size
        self.until = until  # only events received at or before this instant
        self.events = 0
        self.last_seen = (0, 0)  # (position, head) as the last step() found them
        # The rows this projector wrote lately (a message's next reports come soon after its
        # first), valid while the views stay at the position it last wrote: anything else
        # having moved them (a rebuild swapped in, another projector), it reads them again.
        self.cache_rows = cache_rows
        self._rows: dict[int, MessageRow] = {}  # insertion order = least recently written first
        self._rows_at = -1  # the position the cached rows are those of

    def lag(self) -> tuple[int, int]:
        """(position, head): how far the views are, and how far the event store is."""
        return self.views.position(self.suffix), self.log.head()

    def step(self) -> Progress | None:
        """Project one page; None when the views had already caught up."""
        position = self.views.position(self.suffix)
        head = self.log.head()
        self.last_seen = (position, head)
        if head <= position:
            return None
        facts, quarantined, end = self.log.page(position, head, self.page_size, self.until)
        ids = list(dict.fromkeys(f.id_sms for f in facts))
        cache = self._rows if self._rows_at == position else {}
        rows = {i: row for i in ids if (row := cache.pop(i, None)) is not None}
        rows.update(self.views.load_messages([i for i in ids if i not in rows], self.suffix))
        self._rows_at = -1  # apply_facts changes rows in place: valid again once written
        breakdowns: Counter[tuple] = Counter()
        counts, deliveries, changes = apply_facts(facts, rows, breakdowns)
        self.views.write(
            [rows[i] for i in ids],
            counts,
            deliveries,
            end,
            self.suffix,
            previous=position,
            quarantined=quarantined,
            changes=changes,
            breakdowns=breakdowns,
        )
        cache.update(rows)  # written: most recently written go last
        if len(cache) > self.cache_rows:  # the least recently written half goes
            for i in list(itertools.islice(cache, len(cache) - self.cache_rows // 2)):
                del cache[i]
        self._rows, self._rows_at = cache, end
        self.events += len(facts)
        self.last_seen = (end, head)
        return Progress(end, head, self.events)

    def catch_up(self, on_page: Callable[[Progress], None] | None = None) -> int:
        """Project until the views reach the head of the log; returns the events projected."""
        before = self.events
        while (progress := self.step()) is not None:
            if on_page:
                on_page(progress)
        return self.events - before


def apply_facts(
    facts: list[Fact], rows: dict[int, MessageRow], breakdowns: Counter[tuple] | None = None
) -> tuple[Counter[tuple[str, bool]], list[Delivery], list[Change]]:
    """Fold ``facts`` into ``rows`` (which must hold every stored row they touch), in order;
    return the change in state counts, the deliveries recorded and the state changes made;
    add the change in the breakdowns' counts (by ``projection.breakdown_keys``) to
    ``breakdowns``."""
    deliveries: list[Delivery] = []
    changes: list[Change] = []
    buckets_before: dict[int, tuple[str, bool] | None] = {}
    counted_before: dict[int, tuple] = {}
    for fact in facts:
        before = rows.get(fact.id_sms)
        if before is None and fact.again:  # (never: a repeat is stored after its report)
            continue
        if fact.id_sms not in buckets_before:
            buckets_before[fact.id_sms] = count_key(before)
            if breakdowns is not None:
                counted_before[fact.id_sms] = counted(before)
        state = before.state if before is not None else None
        after, delivery = project(before, fact)
        rows[fact.id_sms] = after
        if delivery:
            deliveries.append(delivery)
        if (change := change_of(state, after, fact)) is not None:
            changes.append(change)
    counts: Counter[tuple[str, bool]] = Counter()
    for id_sms, old in buckets_before.items():
        if old != (new := count_key(rows[id_sms])):
            if old is not None:
                counts[old] -= 1
            counts[new] += 1  # type: ignore[index]
    if breakdowns is not None:  # Counter.update counts in C; subtract is a Python loop
        added: Counter[tuple] = Counter()
        removed: Counter[tuple] = Counter()
        for id_sms, old in counted_before.items():
            if old != (new := counted(rows[id_sms])):
                removed.update(keys_of(old))
                added.update(keys_of(new))
        for key in added.keys() | removed.keys():
            breakdowns[key] += added[key] - removed[key]
    return counts, deliveries, changes


class LiveProjection:
    """A background thread that keeps the live views caught up (``tracker serve`` runs one)."""

    def __init__(
        self,
        projector: Projector,
        interval: float = 0.25,
        on_lag: Callable[[int, int], None] | None = None,
        may_run: Callable[[], bool] = lambda: True,
        followers: Sequence[Callable[[], object]] = (),
    ):
        self.projector = projector
        self.followers = followers  # others that follow the log, run after each catch-up
        self._failed: dict[int, str] = {}  # what each follower last failed with (said once)
        self.interval = interval
        self.on_lag = on_lag  # told (position, head) after every poll
        self.may_run = may_run  # False while another process keeps the views (asked each poll)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracker-projector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """New events were committed: project them now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30) -> None:
        """Stop polling; wait up to ``timeout`` seconds for a page in flight to commit (the
        thread is a daemon: one stuck in a store that does not answer ends with the process)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if not self.may_run():
                self._stop.wait(1.0)
                continue
            try:
                self.projector.catch_up()
                self._follow()
                if self.on_lag:  # as the last step found them: no need to ask the store again
                    self.on_lag(*self.projector.last_seen)
                failures = 0
            except IntegrityError:
                continue  # another projector moved the position first: read it again
            except PersistenceError as e:
                failures += 1
                log.warning("projection paused: %s", e)
                self._stop.wait(min(30.0, 0.5 * 2**failures))
            except Exception:  # keep serving reads and writes; the views just fall behind
                failures += 1
                log.exception("projection failed; retrying")
                self._stop.wait(min(30.0, 0.5 * 2**failures))
            self._wake.wait(self.interval)
            self._wake.clear()

    def _follow(self) -> None:
        """Run the other followers (the audit tree's): one that fails is told once, retried at
        the next poll, and stops neither the views nor the others."""
        for i, follow in enumerate(self.followers):
            try:
                follow()
                self._failed.pop(i, None)
            except IntegrityError:
                pass  # another process moved it first: read again at the next poll
            except Exception as e:
                if self._failed.get(i) != (said := str(e)):
                    log.warning("following the log failed (retried each poll): %s", said)
                    self._failed[i] = said


@dataclass(frozen=True, slots=True)
class Rebuilt:
    events: int
    seconds: float
    position: int
    checksums: dict[str, str]


def rebuild(
    tracker: Tracker,
    views: ViewStore,
    *,
    into_live: bool = True,
    until: datetime | None = None,
    page_size: int = 5000,
    cache_rows: int = 50_000,
    workers: int = 0,
    on_page: Callable[[Progress], None] | None = None,
) -> Rebuilt:
    """Build the views afresh from the whole history, then swap them in (``into_live``).

    The live views stay readable (and kept up to date) until the swap, one transaction that
    replaces them all together; without ``into_live`` the views are built in ``views`` itself
    (a separate output store). Unlike the live projector, a rebuild does not commit its
    position page by page: its tables are thrown away if it dies, so it keeps the rows it
    touched lately in a bounded cache (memory stays flat), writes each row about once, and
    records its position in its last transaction.

    With ``workers`` (``default_workers()`` from the command line and the admin endpoint) the
    history is folded in that many processes of their own, the messages split among them by
    aggregate id (every event of a message goes to the same one), each writing its share into
    the same tables; the state counts are then counted from the messages view. Without, it is
    folded here (an in-memory SQLite store is always folded here).
    """
    if into_live and until is not None:  # the live projector would go on from the head
        raise ValueError("views as of a past instant cannot replace the live views")
    suffix = SHADOW if into_live else LIVE
    views.drop_views(suffix)
    views.create_views(suffix)
    log = EventLog(tracker)
    head = log.head()
    fold = Fold(suffix, head, until, page_size, cache_rows)
    began = time.perf_counter()
    if workers > 0 and shareable(tracker):
        events = fold_in_processes(tracker, views, fold, workers, on_page)
    else:
        events = fold_history(log, views, fold, on_page)
    views.write([], {}, [], head, suffix, recount=True)
    elapsed = time.perf_counter() - began
    checksums = views.checksums(suffix)
    if into_live:
        views.swap_in(suffix)
    return Rebuilt(events, elapsed, head, checksums)


def default_workers() -> int:
    """Processes for a rebuild: one per core, at most four (the store serves them all)."""
    return max(1, min(4, os.cpu_count() or 1))


def shareable(tracker: Tracker) -> bool:
    """Whether other processes can open this tracker's store (not an in-memory SQLite one)."""
    name = tracker.env.get("SQLITE_DBNAME", "")
    return not (name == ":memory:" or "mode=memory" in name)
