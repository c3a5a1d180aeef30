"""The composition root: turns settings into a running Tracker on a concrete store.

It is the only module that names the stores; everything else receives a built Tracker.
"""

from __future__ import annotations

import gc
import getpass
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.persistence import PersistenceError
from eventsourcing.sqlite import SQLiteDatastore

from tracker.application import StoreUnavailable, Tracker
from tracker.config import Settings, SettingsError
from tracker.domain.timestamps import zone
from tracker.views.store import ViewStore
from tracker.views.store import open_views as views_on

SQLITE_FACTORY = "tracker.stores.sqlite:DurableSQLiteFactory"
POSTGRES_FACTORY = "tracker.stores.postgres:PromptPostgresFactory"
TRANSCODER = "tracker.stores.transcoder:MsgspecTranscoder"  # the library's JSON format, faster


@dataclass(frozen=True, slots=True)
class Store:
    """Where the events live: the store's kind, a printable description, the library's env."""

    kind: str  # "sqlite" or "postgresql"
    description: str  # safe to log: never contains a password
    env: dict[str, str]


def store_for(settings: Settings) -> Store:
    """Read ``TRACKER_DATABASE_URL``: ``sqlite:///PATH`` or ``postgresql://USER@HOST:PORT/DB``."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        return _sqlite(url.removeprefix("sqlite:///"), settings)
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres(url, settings)
    raise SettingsError(
        f"TRACKER_DATABASE_URL: {url!r} is neither sqlite:///PATH "
        "nor postgresql://USER@HOST:PORT/DATABASE"
    )


def _sqlite(path_text: str, settings: Settings) -> Store:
    if not path_text:
        raise SettingsError("TRACKER_DATABASE_URL: sqlite:/// needs a file path")
    path = Path(unquote(path_text))
    if settings.create_tables:
        path.parent.mkdir(parents=True, exist_ok=True)
    return Store(
        kind="sqlite",
        description=f"SQLite file {path}",
        env={
            "PERSISTENCE_MODULE": SQLITE_FACTORY,
            "TRANSCODER_TOPIC": TRANSCODER,
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": str(settings.lock_timeout),
            "CREATE_TABLE": "y" if settings.create_tables else "n",
        },
    )


def _postgres(url: str, settings: Settings) -> Store:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise SettingsError("TRACKER_DATABASE_URL: postgresql:// needs a database name")
    host = query.get("host") or parts.hostname or "/var/run/postgresql"
    port = str(parts.port or query.get("port") or 5432)
    user = unquote(parts.username) if parts.username else getpass.getuser()
    schema = query.get("schema", "")
    env = {
        "PERSISTENCE_MODULE": POSTGRES_FACTORY,
        "TRANSCODER_TOPIC": TRANSCODER,
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": port,
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": schema,
        # Threads that touch the store never outnumber the pooled connections (no starvation);
        # the overflow leaves room for the projector's subscription.
        "POSTGRES_POOL_SIZE": str(settings.store_threads),
        "POSTGRES_MAX_OVERFLOW": "2",
        "POSTGRES_CONNECT_TIMEOUT": "3",
        "POSTGRES_LOCK_TIMEOUT": str(settings.lock_timeout),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
        "POSTGRES_PRE_PING": "y",  # a connection killed by the server is replaced, not used
        "CREATE_TABLE": "y" if settings.create_tables else "n",
    }
    where = f"{user}@{host}:{port}/{dbname}" + (f" schema {schema}" if schema else "")
    return Store(kind="postgresql", description=f"PostgreSQL {where}", env=env)


def open_views(tracker: Tracker, *, create: bool = True) -> ViewStore:
    """The views: in the event store's own schema on PostgreSQL, in a file of their own beside
    the events on SQLite (``stores.sqlite.views_file``). Their tables are created unless
    ``create`` is off (``TRACKER_CREATE_TABLES=false``: a migrate step made them, once)."""
    datastore = tracker.recorder.datastore  # type: ignore[attr-defined]
    try:
        if isinstance(datastore, SQLiteDatastore):
            from tracker.stores.sqlite import views_datastore

            datastore = views_datastore(datastore)
        return views_on(datastore, create=create)
    except PersistenceError as e:
        raise StoreUnavailable(f"cannot open the views: {e}") from e


def open_tracker(settings: Settings) -> Tracker:
    """A Tracker on the configured store (tables created when ``create_tables`` is on)."""
    try:
        local_zone = zone(settings.timezone)
    except ValueError as e:
        raise SettingsError(f"TRACKER_TIMEZONE: {e}") from None
    store = store_for(settings)
    try:
        return Tracker(env=store.env, local_zone=local_zone, writing=_writer_turns(store, settings))
    except PersistenceError as e:
        raise StoreUnavailable(f"cannot open the {store.description}: {e}") from e


def _writer_turns(store: Store, settings: Settings) -> Callable[[], AbstractContextManager[object]]:
    """SQLite: the processes writing one file take turns (no version clashes between them).
    PostgreSQL: none (writers on several hosts; a clash is retried)."""
    if store.kind != "sqlite":
        return nullcontext
    from tracker.stores.sqlite import WriterTurns

    return WriterTurns(store.env["SQLITE_DBNAME"], timeout=float(settings.lock_timeout))


def projector_election(settings: Settings) -> Callable[[], bool]:
    """Whether this process should keep the views live, asked before each poll.

    SQLite: only the process holding an exclusive lock on a file beside the database (several
    worker processes would otherwise queue for the one write lock with the writers); the OS
    releases it when that process dies, and another takes over within a second. PostgreSQL:
    every process (page writes are compare-and-set; `tracker project` runs one for all hosts).
    """
    store = store_for(settings)
    if store.kind != "sqlite":
        return lambda: True
    from tracker.stores.sqlite import ProjectorElection

    return ProjectorElection(store.env["SQLITE_DBNAME"])


def make_append_only(settings: Settings, role: str) -> None:
    """Create the event tables (as their owner) and let ``role`` append to them, never change
    them (PostgreSQL only; see ``stores.postgres.grant_append_only``)."""
    if store_for(settings).kind != "postgresql":
        raise SettingsError("an append-only role needs PostgreSQL: SQLite files have no roles")
    from tracker.stores.postgres import grant_append_only

    tracker = open_tracker(settings)
    try:
        grant_append_only(tracker.recorder, role)  # type: ignore[arg-type]
    except PersistenceError as e:
        raise StoreUnavailable(f"cannot grant {role}: {e}") from e
    finally:
        tracker.close()


def settle_heap() -> None:
    """Leave what is alive at start-up (the app, its routes and schemas, the libraries' objects)
    out of the garbage collector's full collections: it lives as long as the process, and
    walking it held up every request for tens of milliseconds (a POST's p99 at half the maximum
    rate went from about 60 ms to under 20 ms, measured). Garbage is collected first. The
    server processes and the writer process each call it once they are set up."""
    gc.collect()
    gc.freeze()
