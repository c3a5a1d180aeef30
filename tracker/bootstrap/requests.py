"""The request log on the configured store: its writer for a server, its tables for a reader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tracker.application import Tracker
from tracker.bootstrap.stores import StoreMissing, _has_postgres_table, _tables, store_for
from tracker.config import Settings
from tracker.request_log import RequestLog, RequestStore


def open_request_store(settings: Settings, *, create: bool = True) -> RequestStore:
    """The request log's tables: on SQLite a file beside the events (``var/tracker.db`` ->
    ``var/tracker.requests.db``), on PostgreSQL the event store's schema."""
    store = store_for(settings)
    if store.kind == "sqlite":
        from tracker.stores.sqlite.requests import open_requests

        return open_requests(
            store.env["SQLITE_DBNAME"], timeout=float(settings.lock_timeout), create=create
        )
    from tracker.stores.postgres.requests import open_requests as open_postgres_requests

    return open_postgres_requests(store.env, connections=settings.store_threads, create=create)


def open_request_log(
    settings: Settings, on_dropped: Callable[[str], None] | None = None
) -> RequestLog | None:
    """A server process's request log (its writer thread not started yet); None when
    TRACKER_REQUEST_LOG is off."""
    if not settings.request_log:
        return None
    return RequestLog(
        open_request_store(settings, create=settings.create_tables),
        keep=settings.request_log_age,
        max_bytes=settings.request_log_max_bytes,
        on_dropped=on_dropped,
    )


def open_request_reader(settings: Settings, tracker: Tracker) -> RequestStore:
    """The request log of a store opened by ``open_reader``, never created: a store without
    one raises ``StoreMissing`` saying why."""
    store = store_for(settings)
    if store.kind == "sqlite":
        from tracker.stores.request_tables import TABLE
        from tracker.stores.sqlite.requests import requests_file

        path = Path(requests_file(store.env["SQLITE_DBNAME"]))
        present = TABLE in (_tables(path, what="request log") or ())
    else:
        present = _has_postgres_table(store, tracker, "request_log")
    if not present:
        raise StoreMissing(
            f"the {store.description} has no request log yet: `tracker serve` makes it and "
            "records every request to the webhook (unless TRACKER_REQUEST_LOG=false)"
        )
    return open_request_store(settings, create=False)
