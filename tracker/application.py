"""The event-sourced application: record a batch of reports in one transaction, read histories."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, PersistenceError
from eventsourcing.utils import Environment

from tracker.domain.message import Message, message_id, receive
from tracker.domain.quarantine import QuarantinedInput, quarantine_id
from tracker.domain.status import Report
from tracker.domain.timestamps import DEFAULT_ZONE, parse_time, zone


@dataclass(frozen=True, slots=True)
class Status:
    """One incoming status whose ``id_sms`` names a message; state and time as received."""

    id_sms: int
    state: str
    time: str
    raw: str | None = None  # the item's JSON text, kept when it was not the plain documented form


@dataclass(frozen=True, slots=True)
class Unusable:
    """Input that names no message: kept in quarantine with the reason."""

    kind: str  # domain.quarantine.ITEM or BODY
    raw: str
    reason: str
    encoding: str = "utf-8"  # or "base64" when the bytes were not valid UTF-8


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one ``record`` call durably stored: every id in ``stored`` may be acknowledged."""

    stored: frozenset[int]
    outcomes: Mapping[str, int] = field(default_factory=dict)  # new reports by outcome
    duplicates: int = 0
    quarantined: int = 0
    attempts: int = 1


class StoreUnavailable(Exception):
    """The event store could not commit (down, locked, or contended past the retry budget)."""


class Tracker(Application):
    """Records delivery statuses as events of per-message aggregates."""

    name = "tracker"
    max_attempts = 8  # version clashes retried before giving up with StoreUnavailable

    def __init__(
        self, env: Mapping[str, str] | None = None, local_zone: tzinfo | str = DEFAULT_ZONE
    ) -> None:
        super().__init__(env)
        self.local_zone = zone(local_zone) if isinstance(local_zone, str) else local_zone

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # The composition root passes every store setting; the process environment is not
        # read behind its back (a stray POSTGRES_* variable must not redirect the store).
        return Environment(name, dict(env or {}))

    def record(
        self,
        statuses: Sequence[Status],
        unusable: Sequence[Unusable] = (),
        received_at: datetime | None = None,
    ) -> Receipt:
        """Store every new report and quarantined input of one batch in a single transaction.

        Returns only after the commit. Another writer appending to one of the same messages
        meanwhile makes the commit fail as a whole; then everything is reloaded and decided
        again, up to ``max_attempts`` times.
        """
        received_at = received_at or datetime.now(UTC)
        reports = [(s, self._report(s)) for s in statuses]
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._record_once(reports, unusable, received_at, attempt)
            except IntegrityError:
                if attempt == self.max_attempts:
                    raise StoreUnavailable(
                        f"gave up after {attempt} attempts: other writers kept appending "
                        "to the same messages"
                    ) from None
                time.sleep(random.uniform(0, 0.005 * attempt))
            except PersistenceError as e:
                raise StoreUnavailable(str(e) or type(e).__name__) from e
        raise AssertionError("unreachable")

    def _record_once(
        self,
        reports: Sequence[tuple[Status, Report]],
        unusable: Sequence[Unusable],
        received_at: datetime,
        attempt: int,
    ) -> Receipt:
        messages: dict[int, Message] = {}
        outcomes: Counter[str] = Counter()
        duplicates = 0
        for status, report in reports:
            held = messages.get(status.id_sms) or self._load(status.id_sms)
            message, outcome = receive(held, status.id_sms, report, received_at, status.raw)
            messages[status.id_sms] = message
            if outcome is None:
                duplicates += 1
            else:
                outcomes[outcome] += 1
        quarantined: dict[UUID, QuarantinedInput] = {}
        for item in unusable:
            key = quarantine_id(item.kind, item.raw)
            quarantined[key] = self._quarantine(quarantined.get(key), item, received_at)
        self.save(*messages.values(), *quarantined.values())
        return Receipt(
            stored=frozenset(messages),
            outcomes=dict(outcomes),
            duplicates=duplicates,
            quarantined=len(unusable),
            attempts=attempt,
        )

    def _report(self, status: Status) -> Report:
        return Report(status.state, status.time, parse_time(status.time, self.local_zone))

    def _load(self, id_sms: int) -> Message | None:
        try:
            return self.repository.get(message_id(id_sms))
        except AggregateNotFoundError:
            return None

    def _quarantine(
        self, held: QuarantinedInput | None, item: Unusable, received_at: datetime
    ) -> QuarantinedInput:
        """The quarantined item with this receipt added; a repeat is the same aggregate."""
        try:
            held = held or self.repository.get(quarantine_id(item.kind, item.raw))
        except AggregateNotFoundError:
            return QuarantinedInput(
                kind=item.kind,
                raw=item.raw,
                encoding=item.encoding,
                reason=item.reason,
                received_at=received_at,
            )
        held.received_again(reason=item.reason, received_at=received_at)
        return held

    def message(self, id_sms: int) -> Message | None:
        """The message as it stands now, or None when nothing was ever received for it."""
        try:
            return self._load(id_sms)
        except PersistenceError as e:
            raise StoreUnavailable(str(e) or type(e).__name__) from e

    def history(self, id_sms: int) -> list[DomainEvent[Any]]:
        """Every report event of the message in arrival order (empty when there is none)."""
        try:
            return list(self.events.get(message_id(id_sms)))
        except PersistenceError as e:
            raise StoreUnavailable(str(e) or type(e).__name__) from e
