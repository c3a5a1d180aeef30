"""What a server process runs on: the projector, the live projection, the writer."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tracker.application import Tracker
from tracker.audit.digest import load_private_key
from tracker.audit.follower import AuditFollower
from tracker.audit.tree import AuditTree
from tracker.bootstrap.requests import open_request_log
from tracker.bootstrap.stores import open_tracker, open_views, projector_election
from tracker.config import Settings, SettingsError
from tracker.forwarding.forwarder import Forwarder, Forwarding, ForwardSettings
from tracker.forwarding.state import ForwardingState
from tracker.group_commit import GroupCommit
from tracker.request_log import RequestLog
from tracker.views.projector import LiveProjection, Projector
from tracker.views.store import ViewStore
from tracker.writer_process import WRITER_SOCKET, WriterClient


@dataclass(frozen=True, slots=True)
class ServerParts:
    """What a server process runs on: the Tracker and its views, the projector over them, the
    live projection (``projections=inline`` only), and what commits batches: the writer
    process's client (``remote``) or a group-commit writer thread of this process."""

    tracker: Tracker
    views: ViewStore
    projector: Projector
    live: LiveProjection | None
    remote: WriterClient | None
    writer: GroupCommit | None
    audit: AuditTree
    audit_key: Ed25519PrivateKey | None  # signs the digests (TRACKER_AUDIT_KEY)
    forwarding: Forwarding | None = None  # TRACKER_FORWARD_URL's, beside the live projection
    requests: RequestLog | None = None  # the request log (None: TRACKER_REQUEST_LOG=false)


def server_parts(
    tracker: Tracker,
    views: ViewStore,
    settings: Settings,
    writer_socket: str | None = None,
    on_lag: Callable[[int, int], None] | None = None,
    requests: RequestLog | None = None,
) -> ServerParts:
    """The parts around a built Tracker and its views. With ``writer_socket``, batches are
    committed by the writer process listening there; ``on_lag`` is told the views' lag."""
    projector = Projector(tracker, views)
    audit = AuditTree(views)
    live, forwarding = None, None
    if settings.projections == "inline":
        may_run = projector_election(settings)
        forwarding = forwarding_for(settings, views, may_run)
        live = LiveProjection(
            projector,
            on_lag=on_lag,
            may_run=may_run,
            followers=followers(settings, tracker, audit, projector, forwarding),
        )
    remote = (
        WriterClient(writer_socket, receipt_timeout=settings.receipt_timeout)
        if writer_socket
        else None
    )
    writer = None if remote else GroupCommit(tracker, on_commit=live.wake if live else None)
    key = audit_key(settings)
    return ServerParts(
        tracker, views, projector, live, remote, writer, audit, key, forwarding, requests
    )


def forwarding_for(
    settings: Settings, views: ViewStore, may_run: Callable[[], bool]
) -> Forwarding | None:
    """A forwarder for each of TRACKER_FORWARD_URL's endpoints (None: none is set), delivering
    while ``may_run`` says this process keeps the views."""
    if not settings.forward_urls:
        return None
    shared = ForwardSettings(
        secret=settings.forward_secret,
        start=settings.forward_from,
        batch=settings.forward_batch,
        timeout=settings.forward_timeout,
        most_wait=settings.forward_backoff,
    )
    state = ForwardingState(views)
    return Forwarding(
        [Forwarder(url, views, state, shared, may_run=may_run) for url in settings.forward_urls]
    )


def followers(
    settings: Settings,
    tracker: Tracker,
    audit: AuditTree,
    projector: Projector,
    forwarding: Forwarding | None,
) -> list[Callable[[], object]]:
    """What runs after each catch-up of the live projection: the audit tree's follower, and
    the forwarders' wake-up when the views moved."""
    found: list[Callable[[], object]] = []
    if settings.audit_tree:
        found.append(AuditFollower(tracker, audit).catch_up)
    if forwarding is not None:
        found.append(lambda: forwarding.saw(projector.last_seen[0]))
    return found


def open_server(
    settings: Settings, on_lag: Callable[[int, int], None] | None = None
) -> ServerParts:
    """A server process's parts on the configured store; the writer process is the one `tracker
    serve` names in ``TRACKER_WRITER_SOCKET``, if it names one."""
    tracker = open_tracker(settings)
    views = open_views(tracker, create=settings.create_tables)
    requests = open_request_log(settings)
    socket = os.environ.get(WRITER_SOCKET) or None
    return server_parts(tracker, views, settings, socket, on_lag, requests)


def audit_key(settings: Settings) -> Ed25519PrivateKey | None:
    """The key that signs the audit digests, read from TRACKER_AUDIT_KEY's file (None: unset);
    a file that is not an Ed25519 private key is a SettingsError, said at start-up."""
    if not settings.audit_key:
        return None
    try:
        return load_private_key(settings.audit_key)
    except ValueError as e:
        raise SettingsError(f"TRACKER_AUDIT_KEY: {e}") from None


def settle_heap() -> None:
    """Leave what is alive at start-up (the app, its routes and schemas, the libraries' objects)
    out of the garbage collector's full collections: it lives as long as the process, and
    walking it held up every request for tens of milliseconds (a POST's p99 at half the maximum
    rate went from about 60 ms to under 20 ms, measured). Garbage is collected first. The
    server processes and the writer process each call it once they are set up."""
    gc.collect()
    gc.freeze()
