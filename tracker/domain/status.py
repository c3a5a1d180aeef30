"""The delivery-status rules: states, ranks and finality as data, and the fold of the reports.

docs/state-machine.md explains the rules with a diagram and worked examples; this module is their
single implementation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec
from msgspec.structs import force_setattr

#: Rank of every known state. A message only moves to a higher rank; rank 3 is final.
RANKS: dict[str, int] = {
    "send": 0,
    "partly_deliver": 1,
    "deliver": 2,
    "read": 3,
    "not_deliver": 3,
    "expired": 3,
}
FINAL_RANK = 3
FINAL_STATES: frozenset[str] = frozenset(s for s, r in RANKS.items() if r == FINAL_RANK)

# What a report did when it arrived, decided once at receipt and recorded in its event.
APPLIED = "applied"  # it became the message's current state
SUPERSEDED = "superseded"  # a report of equal or higher rank already stood at or before its time
# it comes after a final state in the fold (an illegal transition), or a value of its item
# could not be read (the report's reason says which); stored, never changes the state
REJECTED = "rejected"
UNKNOWN_STATE = "unknown_state"  # its state is not one the rules know; stored, never folded
OUTCOMES = (APPLIED, SUPERSEDED, REJECTED, UNKNOWN_STATE)


def is_known(state: str) -> bool:
    return state in RANKS


def is_final(state: str) -> bool:
    return state in FINAL_STATES


class Report(msgspec.Struct, frozen=True, gc=False):
    """One distinct status report for a message: its raw values and the instant parsed from them.

    Two reports are the same report when their state and raw time are equal; ``instant`` is
    derived from the raw time, so it never distinguishes them. Plain values with no cycles, so
    the garbage collector never tracks one (writers and views keep tens of thousands).

    A report with a ``reason`` was rejected at receipt: a value of its item could not be read
    (a lone surrogate, bytes that are not UTF-8, a key given twice, a time with no UTC instant).
    It is kept in the history with that reason and never folded; its state and time are the
    texts as sent, and the reason (which quotes what was wrong) is part of its identity.
    """

    state: str
    time: str
    instant: datetime | None = None
    reason: str | None = None
    # Derived from the four above at construction (the fold reads them on every step); never
    # passed: whatever is, is overwritten.
    order: tuple = ()  # fold_order()
    rank: int | None = None  # None: unknown state, or rejected at receipt
    final: bool = False
    identity: tuple[str, ...] = ("", "")  # (state, time[, reason]): what makes two reports the same

    def __post_init__(self) -> None:
        rank = RANKS.get(self.state) if self.reason is None else None
        ranked = -1 if rank is None else rank  # unknown states sort first among equal times
        if self.instant is None:
            order = (0, 0.0, "", ranked, self.state, self.time)
        else:  # one instant, two wall-clock times (a shift's skipped hour): as the clock read
            order = (1, self.instant.timestamp(), self.time, ranked, self.state)
        force_setattr(self, "order", order)
        force_setattr(self, "rank", rank)
        force_setattr(self, "final", rank == FINAL_RANK)
        force_setattr(self, "identity", identity_of(self.state, self.time, self.reason))


def identity_of(state: str, time: str, reason: str | None = None) -> tuple[str, ...]:
    """What makes two reports the same: state and time as sent, and the reason of one
    rejected at receipt."""
    return (state, time) if reason is None else (state, time, reason)


def fold_order(report: Report) -> tuple:
    """The order in which the fold reads reports: unknown time first, then time, rank, state name.

    The time is the instant, then the time as sent: times a clock shift skipped share the
    shift's instant and keep their wall-clock order. The raw time breaks the last ties of
    reports with no time, so the order is total and the fold deterministic. Reports of unknown
    state never enter the fold; they sort as rank -1 wherever reports are listed.
    """
    return report.order


def fold(reports: Iterable[Report]) -> Report | None:
    """The report that sets a message's current state, or None while no known state was reported.

    The contract's fold, literally: read the reports in fold order; the first sets the state;
    after a final state everything is rejected; otherwise only a higher rank moves the state.
    """
    current: Report | None = None
    for report in sorted(_distinct_known(reports), key=fold_order):
        if current is None:
            current = report
        elif current.final:
            break
        elif report.rank > current.rank:  # type: ignore[operator]
            current = report
    return current


def prevails(a: Report, b: Report) -> Report:
    """Of two reports of known state, the one the fold keeps: ``fold([a, b])``.

    The fold is this step applied in any order (``fold(S + [r]) == prevails(fold(S), r)``), so
    a view can keep one report per message instead of all of them.
    """
    if b.order < a.order:
        a, b = b, a
    if a.final or b.rank <= a.rank:  # type: ignore[operator]
        return a
    return b


def fold_step(current: Report | None, report: Report) -> Report | None:
    """``fold(S + [report])`` given ``current = fold(S)``: what every keeper of one report per
    message (the aggregate, the writer, the views) does on each arrival."""
    if report.rank is None:  # a state the rules do not know: never folded
        return current
    return report if current is None else prevails(current, report)


def states_after(arrivals: Iterable[Report]) -> list[Report | None]:
    """For reports in arrival order, the report setting the state after each one arrived."""
    current: Report | None = None
    after: list[Report | None] = []
    for report in arrivals:
        current = fold_step(current, report)
        after.append(current)
    return after


def arrived_late(arrivals: Iterable[Report]) -> list[bool]:
    """For reports in arrival order, whether each arrived out of order: after a report whose
    status time is later than its own. Reports whose time could not be read are never late."""
    latest: datetime | None = None
    late: list[bool] = []
    for report in arrivals:
        late.append(report.instant is not None and latest is not None and report.instant < latest)
        if report.instant is not None and (latest is None or report.instant > latest):
            latest = report.instant
    return late


def decide(report: Report, current: Report | None, earliest_final: tuple | None) -> str:
    """What ``report`` does on arrival at a message whose reports fold to ``current``, the fold
    order of its earliest final report being ``earliest_final`` (None without one).

    ``applied`` when it becomes the current state; ``rejected`` when a final report precedes it
    in fold order (it would be a transition out of a final state) or when it was rejected at
    receipt (it has a reason); ``unknown_state`` for a state the rules do not know; otherwise
    ``superseded``. The message aggregate is its one caller; the tests hold it to the
    contract's literal reading (tests/unit/test_status_rules.py).
    """
    if report.reason is not None:
        return REJECTED
    if not is_known(report.state):
        return UNKNOWN_STATE
    if current is None or prevails(current, report) is report:
        return APPLIED
    if earliest_final is not None and earliest_final < report.order:
        return REJECTED
    return SUPERSEDED


def _distinct_known(reports: Iterable[Report]) -> Iterable[Report]:
    seen: set[tuple[str, ...]] = set()
    for report in reports:
        if report.rank is not None and report.identity not in seen:
            seen.add(report.identity)
            yield report
