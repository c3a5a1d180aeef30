"""Delivering the change feed to each endpoint: a thread per URL, in the projector's process.

Each forwarder reads the changes after its endpoint's delivered position from the change view,
POSTs them as one signed batch, and moves the position on a 2xx answer; on anything else it
waits (exponential backoff, full jitter, up to TRACKER_FORWARD_MAX_BACKOFF) and sends the same
batch again, forever: a change is never skipped, and a batch is never sent before the one
before it was delivered. It writes nothing but its own row (forwarding/state.py), and only
while it holds that row's lease; an endpoint that fails or hangs holds up its own thread only,
never another endpoint, the projector or ingest.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx

from tracker.forwarding.delivery import (
    Batch,
    batch_of,
    delivered,
    endpoint_key,
    retry_after,
    scrubbed,
    shown,
    wait_after,
)
from tracker.forwarding.signing import Signer
from tracker.forwarding.state import Endpoint, ForwardingState, LeaseLost
from tracker.views.projection import Change
from tracker.views.store import ViewStore

log = logging.getLogger("tracker.forwarding")

IDLE_POLL = 0.5  # seconds between two looks at the change view when nothing was new
INCOMPLETE_POLL = 5.0  # seconds between two looks at a change view not yet rebuilt
HOST = socket.gethostname()


def died(holder: str) -> bool:
    """Whether a lease's holder (``host:pid:nonce``) was a process of this host that is gone
    (killed, say): its lease need not be waited out. Of another host, nothing is known."""
    rest, _, _nonce = holder.rpartition(":")
    host, _, pid = rest.rpartition(":")
    if host != HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


@dataclass(frozen=True, slots=True)
class ForwardSettings:
    """What every forwarder of a process shares (from TRACKER_FORWARD_*)."""

    secret: str
    start: Literal["now", "start"] = "now"  # where an endpoint seen for the first time begins
    batch: int = 100
    timeout: float = 10.0
    most_wait: float = 600.0

    @property
    def lease(self) -> timedelta:
        """How long a forwarder's hold on its endpoint lasts unless renewed (each attempt
        renews it): well past an attempt's timeout, so a slow answer never loses it."""
        return timedelta(seconds=2 * self.timeout + 30)


class Forwarder:
    """Delivers the change feed to one URL, in a thread of its own."""

    def __init__(
        self,
        url: str,
        views: ViewStore,
        state: ForwardingState,
        settings: ForwardSettings,
        *,
        may_run: Callable[[], bool] = lambda: True,
        holder: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.BaseTransport | None = None,
    ):
        self.url, self.key, self.endpoint = url, endpoint_key(url), shown(url)
        self.views, self.state, self.settings = views, state, settings
        self.signer = Signer(settings.secret)
        self.may_run = may_run  # False while another process keeps the views (SQLite)
        self.holder = holder or f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.client = httpx.Client(
            timeout=settings.timeout,
            follow_redirects=False,
            transport=transport,
            headers={"content-type": "application/json", "user-agent": "tracker-forward"},
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._said: str | None = None  # the last problem logged (said once until it changes)
        self._thread = threading.Thread(target=self._run, name="tracker-forward", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        self.client.close()

    def _run(self) -> None:
        trouble = 0
        while not self._stop.is_set():
            if not self.may_run():
                self._stop.wait(1.0)
                continue
            try:
                wait, idle = self.step()
                trouble = 0
            except LeaseLost:
                wait, idle = 1.0, False  # another process delivers now: look again soon
            except Exception as e:  # the views' store: keep trying, say it once
                trouble += 1
                self._say(f"{self.endpoint}: cannot read or record deliveries: {e}", e)
                wait, idle = min(30.0, 0.5 * 2**trouble), False
            if idle:
                self._wake.wait(wait)
                self._wake.clear()
            elif wait > 0:
                self._stop.wait(wait)
        try:  # stopping: another process need not wait for the lease to run out
            self.state.release(self.key, self.holder)
        except Exception as e:  # it runs out by itself
            log.debug("%s: lease not released: %s", self.endpoint, e)

    def step(self) -> tuple[float, bool]:
        """One attempt at the next batch, if there is one: (seconds to wait before the next
        step, whether that wait is idle: a new change may cut it short)."""
        now = self.clock()
        row = self.state.get(self.key) or self._begin()
        if row is None:  # the feed lacks what it would have to send first
            return INCOMPLETE_POLL, False
        gone = row.holder if row.holder and died(row.holder) else None
        if (
            row.holder not in (None, self.holder, gone)
            and row.lease_until
            and row.lease_until > now
        ):
            return min(5.0, (row.lease_until - now).total_seconds()), False  # another delivers
        if row.next_attempt and row.next_attempt > now:
            return (row.next_attempt - now).total_seconds(), False
        changes = self._batch(row)
        if not changes:
            return IDLE_POLL, True
        batch = batch_of(changes)
        self.state.attempt(row, self.holder, batch.last, now, now + self.settings.lease, gone=gone)
        status, error, asked = self._post(batch)
        done = self.clock()
        if status is not None and delivered(status):
            self.state.delivered(row, self.holder, status, done, done + self.settings.lease)
            self._said = None
            return 0.0, False
        wait = wait_after(row.failing + 1, self.settings.most_wait, asked)
        again = done + timedelta(seconds=wait)
        self.state.failed(row, self.holder, status, error, again, done + self.settings.lease)
        log.warning(  # every failure: an operator watching the log sees the receiver's trouble
            "%s: batch %s (%d changes) not delivered: %s; again in %.1f s",
            self.endpoint,
            batch.id,
            batch.count,
            error,
            wait,
        )
        return wait, False

    def _begin(self) -> Endpoint | None:
        """The endpoint's row, made at the position it starts after; None while the feed is
        incomplete (views made before the change view hold only the changes after the position
        they had reached) and the whole feed is asked for: starting then would skip the rest."""
        complete = self.views.changes_complete_from()
        if self.settings.start == "now":
            start = max(self.views.changes_head(), complete)
        elif complete:
            self._say(
                f"{self.endpoint}: TRACKER_FORWARD_FROM=start, but the change feed holds only the "
                f"changes after position {complete} (views made before it existed); nothing is "
                "sent until `tracker rebuild` has filled it",
                None,
            )
            return None
        else:
            start = 0
        log.info("%s: forwarding the changes after position %d", self.endpoint, start)
        return self.state.begin(self.key, self.endpoint, start)

    def _batch(self, row: Endpoint) -> Sequence[Change]:
        """The changes of the next batch: the one in flight again if there is one (its same
        changes, whatever the batch size is now), else up to ``batch`` after the position."""
        if row.pending <= row.position:
            return self.views.changes_after(row.position, self.settings.batch)
        changes: list[Change] = []
        after = row.position
        while after < row.pending:
            more = self.views.changes_after(after, self.settings.batch)
            changes += [c for c in more if c.position <= row.pending]
            if len(more) < self.settings.batch or more[-1].position >= row.pending:
                break
            after = more[-1].position
        return changes

    def _post(self, batch: Batch) -> tuple[int | None, str, float | None]:
        """POST the batch, signed now: (status or None, what went wrong, Retry-After)."""
        headers = self.signer.headers(batch.id, int(time.time()), batch.body)
        try:
            # Only the status line and headers are read: the answer's body is closed unread
            # (one that never ends, or trickles, would otherwise hold the thread and the memory).
            with self.client.stream("POST", self.url, content=batch.body, headers=headers) as a:
                status, asked = a.status_code, retry_after(a.headers.get("retry-after"))
        except httpx.TimeoutException as e:
            return None, f"no answer in {self.settings.timeout:g} s ({type(e).__name__})", None
        except httpx.HTTPError as e:
            return None, scrubbed(f"{type(e).__name__}: {e}", self.url), None
        return status, "" if delivered(status) else f"HTTP {status}", asked

    def _say(self, line: str, error: Exception | None) -> None:
        if self._said != (said := scrubbed(line, self.url)):
            log.warning("%s", said)
            self._said = said


class Forwarding:
    """Every configured endpoint's forwarder, started and stopped together."""

    def __init__(self, forwarders: Sequence[Forwarder]):
        self.forwarders = list(forwarders)
        self._seen = -1

    def start(self) -> None:
        for forwarder in self.forwarders:
            forwarder.start()

    def saw(self, position: int) -> None:
        """The views reached ``position``: wake the forwarders if it is new (a follower of the
        live projection calls it after each catch-up)."""
        if position != self._seen:
            self._seen = position
            for forwarder in self.forwarders:
                forwarder.wake()

    def stop(self) -> None:
        for forwarder in self.forwarders:
            forwarder._stop.set()
            forwarder._wake.set()
        for forwarder in self.forwarders:
            forwarder.stop()
