"""Folding the whole history into views: here, or split among worker processes by aggregate id.

A rebuild's worker is this module run as ``python -m tracker.views.folding``, told its task on
standard input and telling its progress on standard output.
"""

from __future__ import annotations

import gc
import itertools
import json
import multiprocessing.connection
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic, resolve_topic

from tracker.application import Tracker
from tracker.views.log import EventLog
from tracker.views.projection import Change, Delivery, MessageRow, change_of, project
from tracker.views.store import ViewStore


@dataclass(frozen=True, slots=True)
class Progress:
    position: int  # the last notification id taken into account
    head: int  # the last notification id in the store when the page was read
    events: int  # report events projected so far in this run


@dataclass(frozen=True, slots=True)
class Fold:
    """What a rebuild folds: the log up to ``head`` (only events received by ``until``), into
    the ``suffix`` views, ``page_size`` events a page, at most ``cache_rows`` rows kept."""

    suffix: str
    head: int
    until: datetime | None
    page_size: int
    cache_rows: int

    def to_json(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in self.__slots__}
        return {**fields, "until": self.until.isoformat() if self.until else None}

    @classmethod
    def from_json(cls, fields: dict[str, Any]) -> Fold:
        until = datetime.fromisoformat(fields["until"]) if fields["until"] else None
        return cls(**{**fields, "until": until})


def fold_history(
    log: EventLog, views: ViewStore, fold: Fold, on_page: Callable[[Progress], None] | None = None
) -> int:
    """Fold the log's report events into the message, delivery and change views (and its
    quarantine events into theirs), as ``fold`` says; returns the report events folded."""
    suffix, head, cache_rows = fold.suffix, fold.head, fold.cache_rows
    rows: dict[int, MessageRow] = {}  # insertion order = least recently touched first
    deliveries: list[Delivery] = []
    changes: list[Change] = []
    position, events = 0, 0
    evicted = range(0)  # the ids of every row written out so far lie in this range
    while position < head:
        facts, quarantined, position = log.page(position, head, fold.page_size, fold.until)
        if quarantined:  # rare: written as they come, so memory stays flat
            views.write_rows([], [], suffix, quarantined)
        if evicted:  # rows written out earlier come back before their messages' next reports
            missing = [i for i in dict.fromkeys(f.id_sms for f in facts)
                       if i in evicted and i not in rows]  # fmt: skip
            rows.update(views.load_messages(missing, suffix))
        for fact in facts:
            before = rows.pop(fact.id_sms, None)
            state = before.state if before is not None else None
            row, delivery = project(before, fact)
            if row is None:  # (never: a repeat is stored after its report)
                continue
            rows[fact.id_sms] = row  # most recently touched goes last
            if delivery:
                deliveries.append(delivery)
            if (change := change_of(state, row, fact)) is not None:
                changes.append(change)
        events += len(facts)
        if len(changes) > cache_rows:  # written as they come: memory stays flat
            views.write_rows([], [], suffix, changes=changes)
            changes = []
        if len(rows) > cache_rows:
            out = list(itertools.islice(rows, len(rows) // 2))
            views.write_rows([rows.pop(i) for i in out], deliveries, suffix, changes=changes)
            deliveries, changes = [], []
            # Kept as a range: the platform numbers its messages in sequence, so the messages
            # of new reports mostly lie above it and need no look-up.
            low, high = min(out), max(out) + 1
            if evicted:
                low, high = min(low, evicted.start), max(high, evicted.stop)
            evicted = range(low, high)
        if on_page:
            on_page(Progress(position, head, events))
    views.write_rows(list(rows.values()), deliveries, suffix, changes=changes)
    return events


def fold_in_processes(
    tracker: Tracker,
    views: ViewStore,
    fold: Fold,
    workers: int,
    on_page: Callable[[Progress], None] | None,
) -> int:
    """``fold_history`` split among ``workers`` processes (``python -m tracker.views.folding``,
    told what to do on their standard input, telling their progress on their output); their
    progress summed for ``on_page``; the first failure raised here (the shadow tables are then
    left to the next rebuild, which drops them)."""
    task = {
        "env": {**tracker.env, "CREATE_TABLE": "n"},
        "views": [get_topic(type(views)), views.where()],
        "fold": fold.to_json(),
        "parts": workers,
    }
    progress = [(0, 0)] * workers  # (position, events) per worker, as each last said
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for part in range(workers):
            worker = subprocess.Popen(
                [sys.executable, "-m", "tracker.views.folding"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            worker.stdin.write(json.dumps({**task, "part": part}).encode())  # type: ignore[union-attr]
            worker.stdin.close()  # type: ignore[union-attr]
            processes.append(worker)
        pipes = {p.stdout: n for n, p in enumerate(processes)}
        while pipes:
            for pipe in multiprocessing.connection.wait(list(pipes)):
                line = pipe.readline()  # type: ignore[union-attr]
                if not line:
                    del pipes[pipe]
                    continue
                position, events = map(int, line.split())
                progress[pipes[pipe]] = (position, events)
                if on_page:
                    on_page(_summed(progress, fold.head))
        for n, worker in enumerate(processes):
            if worker.wait() != 0:
                raise RuntimeError(
                    f"rebuild worker {n + 1} of {workers} failed (exit code {worker.returncode}); "
                    "the live views are untouched"
                )
    finally:
        for worker in processes:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
            worker.stdout.close()  # type: ignore[union-attr]
    return _summed(progress, fold.head).events


def _summed(progress: list[tuple[int, int]], head: int) -> Progress:
    """The workers' progress as one: the least position, the sum of the events."""
    return Progress(min(p for p, _ in progress), head, sum(e for _, e in progress))


def _fold_part(task: dict[str, Any]) -> None:
    """A rebuild worker: folds the messages of one part of the log, telling its progress
    (position, events) a line a page on standard output.

    Without the cyclic garbage collector: what a fold makes holds no cycles (reference counts
    free it all), and the collector's passes over the cache of rows cost a fifth of the time."""
    gc.disable()
    tracker = Tracker(env=task["env"])
    try:
        views_class, where = task["views"]
        views: ViewStore = resolve_topic(views_class).reopen(tracker, where)

        def tell(done: Progress) -> None:
            sys.stdout.write(f"{done.position} {done.events}\n")
            sys.stdout.flush()

        part = EventLog(tracker, part=(task["part"], task["parts"]))
        fold_history(part, views, Fold.from_json(task["fold"]), tell)
    finally:
        tracker.close()


if __name__ == "__main__":
    _fold_part(json.load(sys.stdin))
