"""Reconciliation: ask the platform about messages left non-final, record its answers as reports.

After five failed webhook attempts a status is never pushed again, so a message can stay
``send``, ``partly_deliver`` or ``deliver`` for good. The messages whose last report is older
than an age are found in the views, confirmed not final in the event store (the views may lag),
asked about at a gentle rate, and each answer recorded through the same rules as a webhook
report (``source="poll"``): a repeat is a duplicate, a non-final never undoes a final."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tracker.application import Status, Tracker
from tracker.config import Settings, SettingsError
from tracker.domain.message import Message
from tracker.platform import Credentials, PlatformClient, Polled
from tracker.views.store import ViewStore
from tracker.views.tables import MessageFilter

PAGE = 1000  # view rows read at a time while listing the candidates


class StatusSource(Protocol):
    """What reconciliation asks of the platform (``platform.PlatformClient``)."""

    batch: int  # ids a request

    def ask(self, ids: Sequence[int]) -> list[Polled]: ...


@dataclass
class Summary:
    """What one run did, message by message."""

    considered: int = 0  # candidates taken from the views
    skipped: int = 0  # final in the event store after all (the views were behind)
    asked: int = 0
    requests: int = 0  # answered
    changed: int = 0  # the message's state is another after its answer was recorded
    unchanged: int = 0
    failed: int = 0  # the platform gave no answer for it, or the store kept none

    @property
    def done(self) -> int:
        """Candidates dealt with so far (asked, or skipped as final)."""
        return self.skipped + self.changed + self.unchanged + self.failed

    def __str__(self) -> str:
        line = (
            f"asked about {self.asked} message(s) in {self.requests} request(s): "
            f"{self.changed} changed, {self.unchanged} unchanged, {self.failed} failed"
        )
        if self.skipped:
            line += f"; {self.skipped} skipped (final in the store, the views were behind)"
        return line


class Pacer:
    """At most ``rate`` requests a second: ``wait`` before each one."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not rate > 0:
            raise ValueError(f"a rate is more than 0 requests a second, not {rate}")
        self.interval, self._clock, self._sleep = 1.0 / rate, clock, sleep
        self._next: float | None = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is not None and now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


def client_for(settings: Settings, timeout: float = 10.0) -> PlatformClient:
    """The platform's client the settings describe; ``SettingsError`` naming the variable to
    set when one is missing."""
    if not settings.platform_url:
        raise SettingsError(
            "TRACKER_PLATFORM_URL is not set: set it to the platform's status request, "
            "https://HOST/.../json/state.php or https://HOST/.../xml/state.php"
        )
    if not settings.platform_token and not settings.platform_login:
        raise SettingsError(
            "no credentials for the platform: set TRACKER_PLATFORM_TOKEN, or "
            "TRACKER_PLATFORM_LOGIN and TRACKER_PLATFORM_PASSWORD"
        )
    credentials = Credentials(
        settings.platform_token, settings.platform_login, settings.platform_password
    )
    return PlatformClient(
        settings.platform_url, settings.platform_format, credentials, timeout=timeout
    )


def candidates(
    views: ViewStore, age: timedelta, limit: int | None = None, now: datetime | None = None
) -> list[int]:
    """The messages not final in the views whose last report was received more than ``age``
    ago, in id order; at most ``limit``."""
    received_to = (now or datetime.now(UTC)) - age
    chosen = MessageFilter(final=False, received_to=received_to)
    found: list[int] = []
    after = -1
    while limit is None or len(found) < limit:
        page = PAGE if limit is None else min(PAGE, limit - len(found))
        rows = views.list_messages(chosen, after=after, limit=page)
        found += (row.id_sms for row in rows)
        if len(rows) < page:
            break
        after = rows[-1].id_sms
    return found


def state_of(message: Message | None) -> str | None:
    return message.current.state if message is not None and message.current else None


class Reconciler:
    """One reconciliation run over a list of candidates; ``summary`` says how far it went, also
    when asking fails midway (what was recorded before stays recorded)."""

    def __init__(
        self,
        tracker: Tracker,
        source: StatusSource,
        pacer: Pacer,
        *,
        stop: Callable[[], bool] = lambda: False,
        progress: Callable[[Summary], None] = lambda _: None,
    ):
        self.tracker, self.source, self.pacer = tracker, source, pacer
        self.stop, self.progress = stop, progress
        self.summary = Summary()

    def confirmed(self, ids: Sequence[int]) -> Iterator[tuple[int, Message]]:
        """The candidates not final in the event store, each with its message as it stands;
        the final ones are counted as skipped, never asked about."""
        self.summary.considered += len(ids)
        for id_sms in ids:
            message = self.tracker.message(id_sms)
            if message is None or message.final:
                self.summary.skipped += 1
                self.progress(self.summary)
                continue
            yield id_sms, message

    def run(self, ids: Sequence[int]) -> Summary:
        """Ask about every candidate not final, ``source.batch`` a request, and record the
        answers; stops early when ``stop`` says so. Raises the source's error, having recorded
        every answer before it."""
        batch: list[tuple[int, str | None]] = []
        for id_sms, message in self.confirmed(ids):
            if self.stop():
                return self.summary
            batch.append((id_sms, state_of(message)))
            if len(batch) == self.source.batch:
                self._ask(batch)
                batch = []
        if batch and not self.stop():
            self._ask(batch)
        return self.summary

    def _ask(self, batch: list[tuple[int, str | None]]) -> None:
        self.pacer.wait()
        ids = [id_sms for id_sms, _ in batch]
        answers = self.source.ask(ids)  # an error here: the request is not counted
        self.summary.requests += 1
        self.summary.asked += len(ids)
        stored: frozenset[int] = frozenset()
        if answers:
            stored = self.tracker.record([_status(a) for a in answers]).stored
        for id_sms, before in batch:
            if id_sms not in stored:
                self.summary.failed += 1
            elif state_of(self.tracker.message(id_sms)) != before:
                self.summary.changed += 1
            else:
                self.summary.unchanged += 1
        self.progress(self.summary)


def _status(answer: Polled) -> Status:
    return Status(
        answer.id_sms,
        answer.state,
        answer.time,
        source="poll",
        num_parts=answer.num_parts,
        price=answer.price,
        channels=answer.channels,
    )
