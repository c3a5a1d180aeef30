"""The app's handle on the tracker: commits, reads in threads, rebuilds; store failures are 503."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import anyio
import msgspec
from eventsourcing.persistence import PersistenceError
from litestar.exceptions import NotFoundException, ServiceUnavailableException

from tracker.application import Batch, OutcomeUnknown, Receipt, StoreUnavailable, Tracker
from tracker.bootstrap import ServerParts
from tracker.forwarding.state import ForwardingState
from tracker.forwarding.status import ForwardingStatus, forwarding_status
from tracker.read.models import RebuildStatus
from tracker.read.queries import OVERDUE_AFTER
from tracker.views.projector import Progress, default_workers, rebuild
from tracker.views.store import ViewStore

log = logging.getLogger("tracker")
T = TypeVar("T")


PROOFS_AT_ONCE = 2


class Backend:
    """The parts of ``bootstrap.ServerParts``, and a bound on the reader threads (the pool's size).

    Batches are committed by the writer process (``parts.remote``, under `tracker serve`), or
    else by a writer thread of this process. Every way the store can fail reaches the client as
    503 with Retry-After, nothing acknowledged, and an answer that claims no more than is known:
    a batch whose receipt never came may have been committed after all.
    """

    def __init__(
        self,
        parts: ServerParts,
        store_threads: int,
        overdue_after: timedelta = OVERDUE_AFTER,
        forward_urls: tuple[str, ...] = (),
        metrics_groups: int = 20,
    ):
        self.tracker, self.views, self.projector = parts.tracker, parts.views, parts.projector
        self.overdue_after = overdue_after  # TRACKER_OVERDUE_AFTER
        self.live, self.remote, self.writer = parts.live, parts.remote, parts.writer
        self.forwarding = parts.forwarding  # TRACKER_PROJECTIONS=inline: this process forwards
        self.forward_urls = forward_urls  # TRACKER_FORWARD_URL's, whoever delivers to them
        self.forward_state = ForwardingState(parts.views)
        self.metrics_groups = metrics_groups  # TRACKER_METRICS_GROUPS
        self.audit, self.audit_key = parts.audit, parts.audit_key  # TRACKER_AUDIT_KEY
        self.requests = parts.requests  # the request log (None: off)
        self.limiter = anyio.CapacityLimiter(store_threads)
        # Proofs are the heaviest reads (a page of 10,000 events: ~0.7 s, ~15 MB): only a few
        # at once, waiting here without a store thread, so other reads keep theirs.
        self.proofs = anyio.CapacityLimiter(PROOFS_AT_ONCE)
        self.rebuilding = RebuildRunner(parts.tracker, parts.views)

    def clock(self) -> dict[str, Any]:
        """What a read of overdue messages takes: the time now (read once, here, for the whole
        answer) and TRACKER_OVERDUE_AFTER."""
        return {"now": datetime.now(UTC), "overdue_after": self.overdue_after}

    def start(self) -> None:
        if self.live:
            self.live.start()
        if self.forwarding:
            self.forwarding.start()
        if self.requests is not None:
            self.requests.start()

    async def record(self, batch: Batch) -> Receipt:
        """Queue the batch for the next group commit; return once it is committed."""
        with _unavailable_as_503(NOT_CONFIRMED):
            if self.remote:
                receipt = await self.remote.record(batch)
                if self.live:  # committed: an inline projection need not wait for its poll
                    self.live.wake()
                return receipt
            return await asyncio.wrap_future(self.writer.submit(batch))  # type: ignore[union-attr]

    def forwarding_status(self) -> ForwardingStatus:
        """How each endpoint's deliveries stand (a blocking read: through ``read``)."""
        return forwarding_status(self.forward_state, self.views, self.forward_urls)

    async def writer_ready(self) -> None:
        """503 unless batches can be committed now: the writer process (if there is one)
        accepts a connection. It is down only while `tracker serve` starts it again."""
        if self.remote:
            with _unavailable_as_503():
                await self.remote.connect()

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking read in a worker thread."""
        with _unavailable_as_503():
            return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self.limiter)

    async def found(self, missing: str, fn: Callable[..., T | None], *args: object) -> T:
        """A read whose None is a 404 saying what is ``missing``."""
        value = await self.read(fn, *args)
        if value is None:
            raise NotFoundException(detail=missing)
        return value

    async def close(self) -> None:
        if self.remote:
            await self.remote.close()
        else:
            self.writer.close()  # type: ignore[union-attr]
        if self.forwarding:
            self.forwarding.stop()
        if self.live:
            self.live.stop()
        if self.requests is not None:  # what is queued is stored first
            await anyio.to_thread.run_sync(self.requests.close)
        self.tracker.close()


class RebuildRunner:
    """One rebuild at a time in this process, in a thread of its own, with its progress."""

    def __init__(self, tracker: Tracker, views: ViewStore):
        self.tracker, self.views = tracker, views
        self.status = RebuildStatus(state="idle")
        self._lock = threading.Lock()

    def start(self) -> bool:
        """Start a rebuild unless one is running; False if one is."""
        with self._lock:
            if self.status.state == "running":
                return False
            self.status = RebuildStatus(state="running", started_at=datetime.now(UTC))
        threading.Thread(target=self._run, name="tracker-rebuild", daemon=True).start()
        return True

    def _run(self) -> None:
        try:
            done = rebuild(
                self.tracker, self.views, workers=default_workers(), on_page=self._progress
            )
        except Exception as e:  # reported through GET /admin/rebuild, and logged
            log.exception("rebuild failed")
            self.status = msgspec.structs.replace(
                self.status, state="failed", finished_at=datetime.now(UTC), error=str(e)
            )
            return
        self.status = msgspec.structs.replace(
            self.status,
            state="done",
            finished_at=datetime.now(UTC),
            position=done.position,
            head=max(done.position, self.status.head),
            events=done.events,
            checksums=done.checksums,
        )
        log.info("rebuild done: %d events, views at position %d", done.events, done.position)

    def _progress(self, progress: Progress) -> None:
        self.status = msgspec.structs.replace(
            self.status, position=progress.position, head=progress.head, events=progress.events
        )


# A write that failed may still have reached the store (a commit whose answer was lost, a
# receipt that never came): the answer says only what is known, and what a resend does.
NOT_CONFIRMED = (
    "the batch was not confirmed as stored ({cause}); nothing of it is acknowledged: send it "
    "again (whatever of it was stored is then acknowledged, without a second copy)"
)
UNAVAILABLE = "the store is unavailable ({cause}); try again"


@contextmanager
def _unavailable_as_503(detail: str = UNAVAILABLE) -> Iterator[None]:
    try:
        yield
    except (StoreUnavailable, PersistenceError) as e:  # the event store's, or the views'
        log.error("store unavailable: %s", str(e).strip() or type(e).__name__)
        # The store's own message may name hosts and tables: it goes to the log, not to senders.
        cause = str(e) if isinstance(e, OutcomeUnknown) else "the store failed; see its log"
        raise ServiceUnavailableException(
            detail=detail.format(cause=cause), headers={"Retry-After": "1"}
        ) from e
