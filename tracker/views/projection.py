"""What each stored report does to the views: pure functions from events to row changes.

The message row keeps only the current report, not all reports: the fold is incremental,
fold(S + [r]) == prevails(fold(S), r) for any set S (a property test states it). So one row read
per message is all a page of events needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tracker.domain.status import Report, fold_step, is_known

DELIVERED_STATES = frozenset({"deliver", "read"})
NO_STATE = ""  # state_counts' key for messages that have only reports of unknown state


@dataclass(slots=True)
class Fact:
    """One stored report, as the projection (and an export) needs it."""

    id_sms: int
    state: str
    time: str
    instant: datetime | None
    received_at: datetime
    outcome: str = ""
    raw: str | None = None


@dataclass(slots=True)
class Quarantined:
    """One receipt of quarantined input (the first one carries the input itself)."""

    quarantine_id: str
    received_at: datetime
    reason: str
    kind: str | None = None  # these three only on the first receipt
    raw: str | None = None
    encoding: str | None = None


@dataclass(slots=True)
class MessageRow:
    id_sms: int
    current: Report | None  # sets state, time, instant, final
    reports: int
    first_received_at: datetime
    last_received_at: datetime
    latest: Report | None  # the last known report in fold order: a conflict if it follows a final
    delivered_at: datetime | None  # when the state first became deliver or read (our clock)

    @property
    def state(self) -> str | None:
        return self.current.state if self.current else None

    @property
    def final(self) -> bool:
        return bool(self.current and self.current.final)

    @property
    def conflict(self) -> bool:
        """A report the fold rejects exists: one ordered after the final state."""
        return self.final and self.latest != self.current


@dataclass(frozen=True, slots=True)
class Delivery:
    id_sms: int
    first_received_at: datetime
    delivered_at: datetime

    @property
    def seconds(self) -> float:
        return (self.delivered_at - self.first_received_at).total_seconds()


def project(row: MessageRow | None, fact: Fact) -> tuple[MessageRow, Delivery | None]:
    """The message row after one more report, and the delivery it records, if any."""
    if row is None:
        row = MessageRow(
            id_sms=fact.id_sms,
            current=None,
            reports=0,
            first_received_at=fact.received_at,
            last_received_at=fact.received_at,
            latest=None,
            delivered_at=None,
        )
    report = Report(fact.state, fact.time, fact.instant)
    current, latest = row.current, row.latest
    if is_known(report.state):
        current = fold_step(current, report)
        if latest is None or report.order > latest.order:
            latest = report
    newly_delivered = (
        row.delivered_at is None and current is not None and current.state in DELIVERED_STATES
    )
    row = MessageRow(
        id_sms=row.id_sms,
        current=current,
        reports=row.reports + 1,
        first_received_at=row.first_received_at,
        last_received_at=fact.received_at,
        latest=latest,
        delivered_at=fact.received_at if newly_delivered else row.delivered_at,
    )
    if newly_delivered:
        return row, Delivery(row.id_sms, row.first_received_at, fact.received_at)
    return row, None


def count_key(row: MessageRow | None) -> tuple[str, bool] | None:
    """The state_counts bucket a message row falls in (None before the message exists)."""
    if row is None:
        return None
    return (row.state or NO_STATE, row.final)
