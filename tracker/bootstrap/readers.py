"""Opening an existing store to read from, creating nothing: the read commands' way in."""

from __future__ import annotations

from pathlib import Path

import msgspec

from tracker.application import Tracker
from tracker.bootstrap.stores import (
    LegacyStore,
    Location,
    StoreMissing,
    _has_postgres_table,
    _tables,
    open_tracker,
    open_views,
    store_for,
)
from tracker.config import Settings
from tracker.views.store import ViewStore


def open_reader(settings: Settings) -> Tracker:
    """A Tracker on an existing store, to read from: it creates nothing, not even a file.

    Raises ``StoreMissing`` naming the place looked at and how to name another when there is
    no store there, or no tracker events in it (a views file, another application's database).
    """
    settings = msgspec.structs.replace(settings, create_tables=False)
    store = store_for(settings)
    if store.kind == "sqlite":
        _check_events_file(Path(store.env["SQLITE_DBNAME"]), store)
    tracker = open_tracker(settings)
    if store.kind == "postgresql":
        recorder = tracker.recorder
        if not _has_postgres_table(store, tracker, recorder.events_table_name):  # type: ignore[attr-defined]
            tracker.close()
            raise StoreMissing(
                f"no tracker events in {store.description}: set TRACKER_DATABASE_URL to the "
                "tracker's database (with ?schema=NAME when its tables are in a schema of "
                "their own), or run `tracker migrate` there to create them"
            )
    return tracker


def open_reader_views(tracker: Tracker, settings: Settings) -> ViewStore:
    """The live views of a store opened by ``open_reader``, never created: a store whose views
    were never built raises ``StoreMissing`` saying how to build them."""
    store = store_for(settings)
    if store.kind == "sqlite":
        from tracker.stores.sqlite.views import VIEW_TABLE, views_file

        path = Path(views_file(store.env["SQLITE_DBNAME"]))
        present = VIEW_TABLE in (_tables(path) or ())
    else:
        present = _has_postgres_table(store, tracker, "messages")
    if not present:
        raise StoreMissing(
            f"the views of the {store.description} are not built yet: start `tracker serve` "
            "(or `tracker project`), or run `tracker rebuild`"
        )
    return open_views(tracker, create=False)


def open_views_file(path: Path) -> ViewStore:
    """The views in a file written by ``tracker rebuild --out``, read as they are; a missing
    file or one without views raises ``StoreMissing``."""
    from tracker.stores.sqlite.views import VIEW_TABLE, open_output_file

    tables = _tables(path, what="views file")
    if tables is None:
        raise StoreMissing(f"--views: no file at {path.absolute()}")
    if VIEW_TABLE not in tables:
        raise StoreMissing(
            f"--views: {path.absolute()} holds no views: give a file written by "
            "`tracker rebuild --out FILE`"
        )
    return open_output_file(str(path))  # its tables are there: nothing is created


def open_output_views(path: Path) -> ViewStore:
    """A views file of its own for ``tracker rebuild --out`` (created)."""
    from tracker.stores.sqlite.views import open_output_file

    return open_output_file(str(path))


def note_as_of(path: Path, instant: str) -> None:
    """Write into a rebuild's output file the instant its views stand at."""
    from tracker.stores.sqlite import views

    views.note_as_of(str(path), instant)


def noted_as_of(path: Path) -> str | None:
    """The instant a rebuild's output file says its views stand at, if it says."""
    from tracker.stores.sqlite import views

    return views.noted_as_of(str(path))


def _check_events_file(path: Path, store: Location) -> None:
    from tracker.stores.sqlite.events import EVENTS_TABLE, LEGACY_EVENTS_TABLE
    from tracker.stores.sqlite.views import VIEW_TABLE

    where = path.absolute()
    tables = _tables(path)
    if tables is None:
        raise StoreMissing(
            f"no tracker store at {where}: the file does not exist. Run the command where the "
            "store is (by default ./var/tracker.db) or set TRACKER_DATABASE_URL=sqlite:///PATH "
            "to the store's file"
        )
    if LEGACY_EVENTS_TABLE in tables:
        raise LegacyStore(store, LEGACY_EVENTS_TABLE)
    if EVENTS_TABLE in tables:
        return
    if VIEW_TABLE in tables:
        raise StoreMissing(
            f"{where} holds the tracker's views, not its events (a file written by `tracker "
            f"rebuild --out`, or the views beside a store): read it with --views {path}, and "
            "set TRACKER_DATABASE_URL=sqlite:///PATH to the store's events file"
        )
    raise StoreMissing(
        f"no tracker events in {where}: set TRACKER_DATABASE_URL=sqlite:///PATH to the "
        "tracker's store"
    )
