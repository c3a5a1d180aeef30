"""Verifying the views: the history folded again into scratch views, compared row by row with
the live ones, naming every message whose row differs (forged, or stale).

The views are derived data anyone with write access to their tables could change; the events
are checked by the tree (audit/verify.py), and this shows whether the views still say what the
events say. The live views move on while it runs: a message with events past the position the
check folded to is not compared (it is counted as moved on).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tracker.application import Tracker
from tracker.domain.ids import message_id
from tracker.views.folding import Fold, Progress, fold_history
from tracker.views.log import EventLog
from tracker.views.store import LIVE, ViewStore, canonical
from tracker.views.tables import MESSAGE_COLUMNS

SHOWN = 1000  # differing messages named at most (the count is always whole)


@dataclass(slots=True)
class ViewsCheck:
    position: int  # the notification id both were compared at
    compared: int = 0  # message rows compared
    messages: list[int] = field(default_factory=list)  # id_sms whose rows differ
    columns: dict[int, list[str]] = field(default_factory=dict)  # what differs in each
    differing: int = 0  # how many, all told
    moved_on: int = 0  # messages with events past ``position``, not compared
    problems: list[str] = field(default_factory=list)  # the other views

    @property
    def sound(self) -> bool:
        return not self.differing and not self.problems


def check_views(
    tracker: Tracker,
    live: ViewStore,
    scratch: ViewStore,
    on_page: Callable[[Progress], None] | None = None,
    *,
    wait: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ViewsCheck:
    """Fold the history into ``scratch`` (empty views of their own, a file or memory) and
    compare. The live views get ``wait`` seconds to reach the log's head as it was at the
    start; still behind, they are compared with the whole log all the same, and every row they
    have not brought up to date is named: a position that does not move is no reason to look
    at less (it is the views' own, and can be written as they can)."""
    head = tracker.store.max_notification_id() or 0
    position = live.position()
    for _ in range(int(wait / 0.2)):
        if position >= head:
            break
        sleep(0.2)
        position = live.position()
    behind = position < head
    if behind:
        position = head
    scratch.drop_views(LIVE)
    scratch.create_views(LIVE)
    fold_history(EventLog(tracker), scratch, Fold(LIVE, position, None, 5000, 50_000), on_page)
    scratch.write([], {}, [], position, LIVE, recount=True)
    check = ViewsCheck(position)
    moved = _Moved(tracker, position)
    complete = live.breakdown_complete()
    for key, mine, theirs in _pairs(live.scan("messages"), scratch.scan("messages")):
        check.compared += 1
        if not complete:  # views made before the day and bucket columns: a rebuild fills them
            mine, theirs = _underived(mine), _underived(theirs)
        if mine != theirs and not moved(key):
            check.differing += 1
            if len(check.messages) < SHOWN:
                check.messages.append(key)
                check.columns[key] = _columns(mine, theirs)
    for key, mine, theirs in _pairs(live.scan("delivery_times"), scratch.scan("delivery_times")):
        if mine != theirs and not moved(key) and key not in check.messages:
            check.differing += 1
            if len(check.messages) < SHOWN:
                check.messages.append(key)
    check.messages.sort()
    check.moved_on = moved.count
    if behind:
        check.problems.append(
            f"the views have taken in the log only up to notification id {live.position()} "
            f"of {head}, so they are stale (is a projector running? `tracker serve` runs one)"
        )
    _compare_changes(live, scratch, check)
    quarantine = sum(
        1 for _, a, b in _pairs(live.scan("quarantine"), scratch.scan("quarantine")) if a != b
    )
    if quarantine and (behind or live.position() == position):
        check.problems.append(f"{quarantine} rows of the quarantine view differ")
    if behind or live.position() == position:
        counts = [tuple(map(canonical, r)) for r in live.scan("state_counts")]
        if counts != [tuple(map(canonical, r)) for r in scratch.scan("state_counts")]:
            check.problems.append("the state counts differ from the messages the events make")
        for view in ("breakdown", "breakdown_times"):
            if complete and list(live.scan(view)) != list(scratch.scan(view)):
                check.problems.append(f"the {view} view differs from the messages the events make")
    if not complete:
        check.problems.append(
            "the breakdowns were made after the other views and lack what came before them; "
            "`tracker rebuild` builds them"
        )
    return check


def _underived(row: tuple | None) -> tuple | None:
    """A message row without its day and delivery bucket (derived from the other columns)."""
    return None if row is None else row[: MESSAGE_COLUMNS.index("day")]


def _compare_changes(live: ViewStore, scratch: ViewStore, check: ViewsCheck) -> None:
    """The change views compared up to the position folded to (the live one may be past it),
    each differing row named by its position; the rows of a change view made after the other
    views (none before ``changes_complete_from``) are a gap a rebuild fills, said so once."""
    complete_from = live.changes_complete_from()
    differing: list[int] = []
    gap = 0
    for key, mine, theirs in _pairs(live.scan("changes"), scratch.scan("changes")):
        if key > check.position or mine == theirs:
            continue
        if mine is None and key <= complete_from:
            gap += 1
        else:
            differing.append(key)
    if gap:
        check.problems.append(
            f"the change view lacks the {gap} changes up to position {complete_from}: it was "
            "made after the other views; `tracker rebuild` fills it"
        )
    if differing:
        shown = ", ".join(map(str, differing[:SHOWN]))
        more = f" (the first {SHOWN} shown)" if len(differing) > SHOWN else ""
        check.problems.append(
            f"{len(differing)} rows of the change view differ, at positions {shown}{more}"
        )


class _Moved:
    """Whether a message has events past the position (asked only of differing rows)."""

    def __init__(self, tracker: Tracker, position: int):
        self.tracker, self.position, self.count = tracker, position, 0

    def __call__(self, id_sms: object) -> bool:
        if not isinstance(id_sms, int):
            return False
        last = self.tracker.store.last_notification_of(message_id(id_sms))
        moved = last is not None and last > self.position
        self.count += moved
        return moved


def _pairs(one: Iterator[tuple], other: Iterator[tuple]) -> Iterator[tuple]:
    """(key, row of one or None, row of other or None) for every key of either, in key order
    (both scans are in key order): a merge join, memory flat."""
    a, b = next(one, None), next(other, None)
    while a is not None or b is not None:
        ka = a[0] if a is not None else None
        kb = b[0] if b is not None else None
        if b is None or (a is not None and ka < kb):  # type: ignore[operator]
            yield ka, _c(a), None
            a = next(one, None)
        elif a is None or kb < ka:  # type: ignore[operator]
            yield kb, None, _c(b)
            b = next(other, None)
        else:
            yield ka, _c(a), _c(b)
            a, b = next(one, None), next(other, None)


def _columns(mine: tuple | None, theirs: tuple | None) -> list[str]:
    """The columns of a message row that differ (the row missing or extra: all of them)."""
    if mine is None:
        return ["the row is missing"]
    if theirs is None:
        return ["no such message"]
    return [name for name, a, b in zip(MESSAGE_COLUMNS, mine, theirs, strict=False) if a != b]


def _c(row: tuple | None) -> tuple | None:
    return None if row is None else tuple(map(canonical, row))
