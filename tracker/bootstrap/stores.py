"""Settings to a Tracker and its views on a concrete store: the one place that chooses one."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.persistence import PersistenceError

from tracker.application import StoreUnavailable, Tracker
from tracker.audit.tree import AuditTree
from tracker.config import Settings, SettingsError
from tracker.domain.timestamps import zone
from tracker.forwarding.state import ForwardingState
from tracker.views.store import ViewStore

SQLITE_FACTORY = "tracker.stores.sqlite.events:DurableSQLiteFactory"
POSTGRES_FACTORY = "tracker.stores.postgres.events:PromptPostgresFactory"
MAPPER = "tracker.codec:EventMapper"  # the events to rows and back: the one codec


@dataclass(frozen=True, slots=True)
class Location:
    """Where the events live: the store's kind, a printable description, the library's env."""

    kind: str  # "sqlite" or "postgresql"
    description: str  # safe to log: never contains a password
    env: dict[str, str]


def store_for(settings: Settings) -> Location:
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


def _sqlite(path_text: str, settings: Settings) -> Location:
    if not path_text:
        raise SettingsError("TRACKER_DATABASE_URL: sqlite:/// needs a file path")
    path = Path(unquote(path_text))
    return Location(
        kind="sqlite",
        description=f"SQLite file {path}",
        env={
            "PERSISTENCE_MODULE": SQLITE_FACTORY,
            "MAPPER_TOPIC": MAPPER,
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": str(settings.lock_timeout),
            "CREATE_TABLE": "y" if settings.create_tables else "n",
        },
    )


def _postgres(url: str, settings: Settings) -> Location:
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
        "MAPPER_TOPIC": MAPPER,
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
    return Location(kind="postgresql", description=f"PostgreSQL {where}", env=env)


def open_views(tracker: Tracker, *, create: bool = True) -> ViewStore:
    """The views: in the event store's own schema on PostgreSQL, in a file of their own beside
    the events on SQLite (``stores.sqlite.views_file``). Their tables are created unless
    ``create`` is off (``TRACKER_CREATE_TABLES=false``: a migrate step made them, once)."""
    try:
        views: ViewStore = tracker.store.open_views(create=create)
        if create:
            AuditTree(views).create()  # the audit tree's tables, beside the views
            ForwardingState(views).create()  # the outbound webhooks' delivery positions
        return views
    except PersistenceError as e:
        raise StoreUnavailable(f"cannot open the views: {e}") from e


def open_tracker(settings: Settings, *, legacy: bool = False) -> Tracker:
    """A Tracker on the configured store (tables created when ``create_tables`` is on, and a
    SQLite file's folder with them). A store an earlier tracker wrote (its events in the
    library's table) raises ``LegacyStore`` before anything is created, unless ``legacy``
    (``tracker migrate`` opens it to convert it)."""
    try:
        local_zone = zone(settings.timezone)
    except ValueError as e:
        raise SettingsError(f"TRACKER_TIMEZONE: {e}") from None
    store = store_for(settings)
    if store.kind == "sqlite":
        if not legacy:
            _refuse_legacy_file(Path(store.env["SQLITE_DBNAME"]), store)
        if settings.create_tables:
            _make_folder(Path(store.env["SQLITE_DBNAME"]).parent, store)
    # PostgreSQL: the tables are created once the schema is known not to be a legacy store.
    env = store.env if store.kind == "sqlite" else {**store.env, "CREATE_TABLE": "n"}
    try:
        tracker = Tracker(env=env, local_zone=local_zone, writing=_writer_turns(store, settings))
    except PersistenceError as e:
        raise _unavailable(store, e) from e
    if store.kind == "postgresql":
        try:
            if not legacy:
                _refuse_legacy_schema(store, tracker)
            if settings.create_tables:
                tracker.recorder.create_table()  # type: ignore[attr-defined]
        except PersistenceError as e:
            tracker.close()
            raise _unavailable(store, e) from e
    return tracker


class LegacyStore(SettingsError):
    """A store written by an earlier tracker, not converted yet: no command but ``tracker
    migrate`` opens it (the servers would write beside events they cannot read)."""

    def __init__(self, store: Location, table: str):
        super().__init__(
            f"the {store.description} was written by an earlier version of the tracker (its "
            f"events are in the table {table}): run `tracker migrate` to convert it first"
        )


def _refuse_legacy_file(path: Path, store: Location) -> None:
    from tracker.stores.sqlite.events import LEGACY_EVENTS_TABLE

    try:
        tables = _tables(path)
    except StoreMissing:
        return  # not a SQLite file: opening it says why
    if LEGACY_EVENTS_TABLE in (tables or ()):
        raise LegacyStore(store, LEGACY_EVENTS_TABLE)


def _refuse_legacy_schema(store: Location, tracker: Tracker) -> None:
    from tracker.stores.postgres.events import LEGACY_EVENTS_TABLE

    if _has_postgres_table(store, tracker, LEGACY_EVENTS_TABLE):
        tracker.close()
        raise LegacyStore(store, LEGACY_EVENTS_TABLE)


def _make_folder(folder: Path, store: Location) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = "it is a file" if isinstance(e, FileExistsError) else e.strerror
        raise StoreUnavailable(
            f"cannot create the folder {e.filename or folder} for the {store.description}: {reason}"
        ) from None


def _unavailable(store: Location, error: Exception) -> StoreUnavailable:
    """The store's error as one line that says why: a PostgreSQL pool that gave up says only
    that it waited, so the driver is asked for the reason itself."""
    reason = " ".join(str(error).split()) or type(error).__name__
    if store.kind == "postgresql":
        from tracker.stores.postgres.events import connection_problem

        problem = connection_problem(store.env)
        if problem:
            reason = problem
    elif "unable to open database file" in reason:
        reason += _sqlite_access(Path(store.env["SQLITE_DBNAME"]))
    return StoreUnavailable(f"cannot open the {store.description}: {reason}")


def _sqlite_access(path: Path) -> str:
    """Why SQLite could not open a file, when the file system says (it does not)."""
    if path.is_dir():
        return " (it is a folder)"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return " (permission denied: the file is not readable and writable by this user)"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f" (permission denied: cannot write in the folder {path.parent})"
    return ""


def _writer_turns(
    store: Location, settings: Settings
) -> Callable[[], AbstractContextManager[object]]:
    """SQLite: the processes writing one file take turns (no version clashes between them).
    PostgreSQL: none (writers on several hosts; a clash is retried)."""
    if store.kind != "sqlite":
        return nullcontext
    from tracker.stores.sqlite.locks import WriterTurns

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
    from tracker.stores.sqlite.locks import ProjectorElection

    return ProjectorElection(store.env["SQLITE_DBNAME"])


def make_append_only(settings: Settings, role: str) -> None:
    """Create the event tables (as their owner) and let ``role`` append to them, never change
    them (PostgreSQL only; see ``stores.postgres.grant_append_only``)."""
    if store_for(settings).kind != "postgresql":
        raise SettingsError("an append-only role needs PostgreSQL: SQLite files have no roles")
    from tracker.stores.postgres.roles import grant_append_only

    tracker = open_tracker(settings)
    try:
        grant_append_only(tracker.recorder, role)  # type: ignore[arg-type]
    except PersistenceError as e:
        raise StoreUnavailable(f"cannot grant {role}: {e}") from e
    finally:
        tracker.close()


class StoreMissing(SettingsError):
    """The settings name no tracker store, or one without the tracker's tables: the commands
    that only read never create one (an empty store would answer "no status" for everything)."""


def _has_postgres_table(store: Location, tracker: Tracker, table: str) -> bool:
    from tracker.stores.postgres.events import has_table

    try:
        return has_table(tracker.recorder.datastore, table)  # type: ignore[attr-defined]
    except PersistenceError as e:
        tracker.close()
        raise _unavailable(store, e) from e


def _tables(path: Path, what: str = "store") -> set[str] | None:
    from tracker.stores.sqlite.views import NotADatabase, tables_in

    try:
        return tables_in(str(path))
    except OSError as e:
        raise StoreMissing(f"cannot read the {what} {path.absolute()}: {e.strerror}") from None
    except NotADatabase as e:
        raise StoreMissing(f"cannot read the {what} {path.absolute()}: {e}") from None
