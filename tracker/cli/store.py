"""The commands that write the store: `tracker migrate` (tables, conversion of an earlier
version's store) and `tracker rebuild` (the views again from every stored event)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from eventsourcing.persistence import PersistenceError

from tracker import migrate as migration
from tracker.application import StoreUnavailable
from tracker.bootstrap import make_append_only, note_as_of, open_output_views, open_views, store_for
from tracker.cli.options import (
    TIME_FORMS,
    create_tables,
    fail,
    load_settings,
    open_tracker_or_fail,
    parse_instant,
    progress_bar,
    reader,
    when,
)
from tracker.config import Settings, SettingsError
from tracker.views.projector import Progress, default_workers, rebuild
from tracker.views.store import LIVE, VIEWS


def migrate(
    app_role: Annotated[
        str | None,
        typer.Option(
            metavar="ROLE",
            help="PostgreSQL only: as the tables' owner, let this existing role add events but "
            "never change or delete them; the servers then connect as that role.",
        ),
    ] = None,
    page_size: Annotated[int, typer.Option(hidden=True)] = migration.PAGE,
    stop_after_pages: Annotated[int | None, typer.Option(hidden=True)] = None,  # tests
) -> None:
    """Create the store's tables, once, before starting several servers on PostgreSQL (a
    single `tracker serve` creates them itself).

    A store written by an earlier version of the tracker is converted to this version's
    events in place, with a progress bar, then its views are rebuilt (their checksums are
    printed). An interrupted conversion goes on where it stopped when run again; the old
    events are kept until every one is converted, and no command but this one opens the
    store meanwhile."""
    settings = load_settings(create_tables=True)
    if _convert(settings, page_size, stop_after_pages) or _views_unbuilt(settings):
        rebuild_views(views_named=None, until=None, out=None, workers=default_workers())
    if app_role is None:
        create_tables(settings)
    else:
        try:
            make_append_only(settings, app_role)
        except (SettingsError, StoreUnavailable) as e:
            fail(e)
        typer.echo(f"{app_role} may append events, never change them")
    typer.echo(f"tables ready in {store_for(settings).description}")


def _convert(settings: Settings, page_size: int, stop_after_pages: int | None) -> bool:
    """Convert a store an earlier version wrote; whether it was one and is now converted."""
    tracker = open_tracker_or_fail(settings, legacy=True)
    try:
        under_way = migration.Migration(tracker)
        # The earlier version's views are of its events and in its forms: gone before any event
        # is converted, so that no run, interrupted anywhere, leaves them standing as live.
        open_views(tracker).drop_views(LIVE)
        with progress_bar("converting", under_way.head, "events", under_way.position) as bar:

            def advance(position: int, head: int, events: int) -> None:
                bar.advance(position, events)

            done = under_way.run(page_size, stop_after_pages, on_page=advance)
            if done.done:
                bar.finish()
    except migration.NothingToMigrate as e:
        typer.echo(str(e), err=True)
        return False
    except (migration.MigrationError, StoreUnavailable) as e:
        fail(e)
    except KeyboardInterrupt:
        typer.echo("\nstopped: run `tracker migrate` again to go on where it stopped", err=True)
        raise typer.Exit(130) from None
    finally:
        tracker.close()
    rate = done.events / done.seconds if done.seconds else 0.0
    typer.echo(f"converted {done.events:,} events in {done.seconds:.1f} s ({rate:,.0f} events/s)"
               f", up to event {done.position} of {done.head}")  # fmt: skip
    if not done.done:
        fail(RuntimeError("stopped before the end: run `tracker migrate` again to go on"))
    typer.echo(f"the old events are dropped: {store_for(settings).description} is converted")
    return True


def _views_unbuilt(settings: Settings) -> bool:
    """Whether the store holds events its live views never took in at all: a conversion whose
    rebuild was interrupted (its views were dropped), which this run finishes."""
    tracker = open_tracker_or_fail(settings)
    try:
        if not tracker.recorder.max_notification_id():
            return False
        views = open_views(tracker, create=False)  # creates nothing: a role may own them
        try:
            return views.position() == 0
        except PersistenceError:  # never made: the first server makes them and catches up
            return False
    except StoreUnavailable as e:
        fail(e)
    finally:
        tracker.close()


def rebuild_views(
    views_named: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[VIEW]...",
            help="messages, state_counts, delivery_times, quarantine, changes, breakdown or "
            "breakdown_times. They always stand at "
            "the same point of the history, so they are rebuilt together; names given are "
            "only checked.",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            parser=parse_instant,
            metavar="TIME",
            help="Only the events received at or before this instant, into the file given by "
            f"--out. {TIME_FORMS}",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Build the views into this SQLite file instead of replacing the live views; "
            "read it with the --views option of messages, stats, quarantine and export.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Processes reading the history, each a share of the messages (by default one "
            "per core, at most four).",
            show_default=False,
        ),
    ] = default_workers(),
) -> None:
    """Build the views again from every stored event, then swap them in at once.

    Readers see the old views until the swap. A checksum of each view is printed: two rebuilds
    of the same history print the same ones. With --until and --out, the views as of a past
    instant go into a file of their own and the live views are left alone."""
    unknown = sorted(set(views_named or ()) - set(VIEWS))
    if unknown:
        fail(ValueError(f"no such view: {', '.join(unknown)} (views: {', '.join(VIEWS)})"))
    if until is not None and out is None:
        fail(ValueError("--until builds the views as of a past instant: give --out FILE.sqlite"))
    if workers < 1:
        fail(ValueError(f"--workers is a number of processes, 1 or more: not {workers}"))
    settings = load_settings()
    tracker = reader()  # a rebuild in the wrong folder must not build empty views there
    try:
        live_views = open_views(tracker, create=True)
    except StoreUnavailable as e:
        fail(e)
    target = open_output_views(out) if out else live_views
    head = tracker.recorder.max_notification_id() or 0
    started = datetime.now(UTC)
    with progress_bar("rebuilding", head, "events") as bar:

        def advance(progress: Progress) -> None:
            bar.advance(progress.position, progress.events)

        result = rebuild(
            tracker, target, into_live=out is None, until=until, workers=workers, on_page=advance
        )
        bar.finish(events=result.events)
    tracker.close()
    if out:
        note_as_of(out, when(min(until, started) if until else started))
    rate = result.events / result.seconds if result.seconds else 0.0
    where = str(out) if out else f"the live views of {store_for(settings).description}"
    typer.echo(
        f"rebuilt {', '.join(VIEWS)} from {result.events:,} events in {result.seconds:.1f} s "
        f"({rate:,.0f} events/s), up to event {result.position} of the log, into {where}"
    )
    for view, checksum in result.checksums.items():
        typer.echo(f"  {view:<15} sha256 {checksum}")
