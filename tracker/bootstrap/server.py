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
    live = (
        LiveProjection(
            projector,
            on_lag=on_lag,
            may_run=projector_election(settings),
            followers=[AuditFollower(tracker, audit).catch_up] if settings.audit_tree else [],
        )
        if settings.projections == "inline"
        else None
    )
    remote = (
        WriterClient(writer_socket, receipt_timeout=settings.receipt_timeout)
        if writer_socket
        else None
    )
    writer = None if remote else GroupCommit(tracker, on_commit=live.wake if live else None)
    key = audit_key(settings)
    return ServerParts(tracker, views, projector, live, remote, writer, audit, key, requests)


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
