"""The command line: serve, migrate, project, rebuild, and the read side for people at a
terminal (history, messages, stats, quarantine, export); settings come from TRACKER_* variables.

The commands that only read never create a store: pointed at the wrong place they say where they
looked and how to point elsewhere. Times are printed as ISO 8601 instants in UTC (``Z``), as the
HTTP API writes them, and read back in that form or any other the tracker prints."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import msgspec
import typer
import uvicorn
from rich.console import Console
from rich.progress import (
    BarColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Progress_
from rich.table import Table
from typer.core import TyperArgument, TyperCommand

from tracker import migrate as migration
from tracker.application import StoreUnavailable, Tracker
from tracker.bootstrap import (
    make_append_only,
    note_as_of,
    noted_as_of,
    open_output_views,
    open_reader,
    open_reader_views,
    open_tracker,
    open_views,
    open_views_file,
    projector_election,
    settle_heap,
    store_for,
)
from tracker.config import Settings, SettingsError
from tracker.domain.ids import message_number
from tracker.read import export as exports
from tracker.read import queries
from tracker.views.projector import (
    LiveProjection,
    Progress,
    Projector,
    default_workers,
    rebuild,
)
from tracker.views.store import VIEWS, ViewStore
from tracker.writer_process import WRITER_SOCKET, WriterService, frame_limit, socket_path

CONFLICT = (
    "A conflict is a report that comes after the message's final state by the platform's "
    "times (a status after expired, or read after an earlier not_deliver): it is kept in the "
    "history, rejected."
)


class _Argument(TyperArgument):
    """An argument as an operator reads it in the help: its name (``ID_SMS``), never typer's
    Python type after it (``<str>``) nor its braces around a required one (``{ID_SMS}``)."""

    def display_type_rich(self, ctx: click.Context) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        return name if self.required or self.metavar else f"[{name}]"


class _Command(TyperCommand):
    """A command whose arguments read as ``_Argument`` says (re-classed: they keep their state)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if type(param) is TyperArgument:
                param.__class__ = _Argument


cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain help: no type placeholders, nothing cut to fit a panel
    context_settings={"max_content_width": 100},
)


def _print_version(wanted: bool) -> None:
    if wanted:
        try:
            typer.echo(f"tracker {version('tracker')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("tracker (version unknown: the package is not installed)")
        raise typer.Exit()


@cli.callback()
def _main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the tracker's version and exit.",
        ),
    ] = False,
) -> None:
    """An event-sourced tracker of SMS delivery statuses: it serves the Webcom Mobi webhook,
    the read API and the web console, and shows the same read side at a terminal.

    Every setting is an environment variable (README.md lists them). The store is
    TRACKER_DATABASE_URL, by default sqlite:///./var/tracker.db: the file var/tracker.db in the
    folder the command runs in. Run a command with --help to see what it does.
    """


def _settings(**overrides: object) -> Settings:
    """Settings from the environment, command-line options winning over TRACKER_* variables."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings.from_env({**os.environ, **_as_env(given)})
    except SettingsError as e:
        _fail(e)


def _open(settings: Settings) -> tuple[Tracker, ViewStore]:
    """The tracker and its views, created if need be; or a clear error and exit status 2."""
    try:
        tracker = open_tracker(settings)
        return tracker, open_views(tracker, create=settings.create_tables)
    except (SettingsError, StoreUnavailable) as e:
        _fail(e)


def _reader() -> Tracker:
    """The tracker on an existing store, creating nothing; or a clear error and exit status 2."""
    try:
        return open_reader(_settings())
    except (SettingsError, StoreUnavailable) as e:
        _fail(e)


def _read_views(views_file: Path | None) -> tuple[Tracker | None, ViewStore]:
    """The store's live views, or with ``--views FILE`` those of a rebuild's output file (its
    instant said on stderr); nothing is created."""
    try:
        if views_file is not None:
            views = open_views_file(views_file)
            instant = noted_as_of(views_file)
            typer.echo(f"views of {views_file}, as of {instant or 'an unrecorded instant'}",
                       err=True)  # fmt: skip
            return None, views
        settings = _settings()
        tracker = open_reader(settings)
        try:
            return tracker, open_reader_views(tracker, settings)
        except (SettingsError, StoreUnavailable):
            tracker.close()
            raise
    except (SettingsError, StoreUnavailable) as e:
        _fail(e)


def _create_tables(settings: Settings) -> None:
    tracker, _ = _open(settings)
    tracker.close()


def _fail(error: Exception) -> NoReturn:
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _as_env(values: dict[str, object]) -> dict[str, str]:
    return {f"TRACKER_{k.upper()}": str(v) for k, v in values.items()}


def parse_instant(text: str) -> datetime:
    """An instant as the tracker prints it (``2026-11-26T17:12:27.050308Z``, ``...+03:00``) or
    as ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD`` (UTC); always returned in UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a time: write it as the tracker prints times "
            "(2026-11-26T17:12:27.050308Z, or with an offset such as +03:00), or as "
            "YYYY-MM-DD HH:MM:SS or YYYY-MM-DD in UTC"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# How --as-of and --until are written: each form on a line of its own (``\b``: not rewrapped,
# so a date is never broken at a hyphen).
TIME_FORMS = (
    "Give it as the tracker prints times, or as a date and time in UTC, for example:"
    "\n\n\b\n2026-11-26T17:12:27.050308Z\n2026-11-26T20:12:27+03:00\n"
    '"2026-11-26 17:12:27"\n2026-11-26'
)


@cli.command(
    cls=_Command,
    short_help="Create the store's tables, or convert a store an earlier version wrote.",
)
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
    settings = _settings(create_tables=True)
    if _convert(settings, page_size, stop_after_pages):
        rebuild_views(views_named=None, until=None, out=None, workers=default_workers())
    if app_role is None:
        _create_tables(settings)
    else:
        try:
            make_append_only(settings, app_role)
        except (SettingsError, StoreUnavailable) as e:
            _fail(e)
        typer.echo(f"{app_role} may append events, never change them")
    typer.echo(f"tables ready in {store_for(settings).description}")


def _convert(settings: Settings, page_size: int, stop_after_pages: int | None) -> bool:
    """Convert a store an earlier version wrote; whether it was one and is now converted."""
    try:
        tracker = open_tracker(settings, legacy=True)
    except (SettingsError, StoreUnavailable) as e:
        _fail(e)
    try:
        under_way = migration.Migration(tracker)
        with _progress() as bar:
            task = bar.add_task("converting", total=under_way.head or 1, events=0, rate=0.0,
                                unit="events", completed=under_way.position)  # fmt: skip

            def advance(position: int, head: int, events: int) -> None:
                elapsed = bar.tasks[task].elapsed or 0.0
                rate = events / elapsed if elapsed else 0.0
                bar.update(task, completed=position, events=events, rate=rate)

            done = under_way.run(page_size, stop_after_pages, on_page=advance)
            if done.done:
                bar.update(task, completed=under_way.head or 1)
    except migration.NothingToMigrate as e:
        typer.echo(str(e), err=True)
        return False
    except (migration.MigrationError, StoreUnavailable) as e:
        _fail(e)
    finally:
        tracker.close()
    rate = done.events / done.seconds if done.seconds else 0.0
    typer.echo(f"converted {done.events:,} events in {done.seconds:.1f} s ({rate:,.0f} events/s)"
               f", up to event {done.position} of {done.head}")  # fmt: skip
    if not done.done:
        _fail(RuntimeError("stopped before the end: run `tracker migrate` again to go on"))
    typer.echo(f"the old events are dropped: {store_for(settings).description} is converted")
    return True


@cli.command(cls=_Command, short_help="Keep the views up to date, as a process of its own.")
def project(
    interval: Annotated[
        float, typer.Option(metavar="SECONDS", help="How often to look for new events.")
    ] = 0.25,
    parent_pid: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Keep the views (the messages list, the counts and the delivery times) up to date with
    the stored events, as a process of its own: one for all the servers, which then run with
    TRACKER_PROJECTIONS=off. Stops on Ctrl-C or SIGTERM."""
    settings = _settings()
    tracker, views = _open(settings)
    live = LiveProjection(
        Projector(tracker, views), interval=interval, may_run=projector_election(settings)
    )
    stop = _stop_on_signals()
    typer.echo(f"keeping the views of {store_for(settings).description} up to date "
               f"(from event {views.position()})")  # fmt: skip
    live.start()
    _until_stopped(stop, parent_pid)
    # A page in flight gets a few seconds to commit; a store that does not answer (the reason
    # the server died, perhaps) must not keep this process alive: no more I/O on the way out.
    live.stop(timeout=5)
    typer.echo(f"stopped after event {live.projector.last_seen[0]}")
    tracker.close()


@cli.command(hidden=True)
def write(
    socket_: Annotated[str, typer.Option("--socket", help="The unix socket to listen on.")],
    parent_pid: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Commit the batches that server processes send over a unix socket (`tracker serve` runs
    it as a child process). Stops on Ctrl-C or SIGTERM, after committing what it was sent."""
    settings = _settings()
    try:
        tracker = open_tracker(settings)
    except (SettingsError, StoreUnavailable) as e:
        _fail(e)
    service = WriterService(tracker, socket_, frame_limit(settings.max_body_bytes))
    settle_heap()
    # Under `tracker serve`, Ctrl-C reaches the whole process group: the server answers the
    # requests in flight, which needs this writer, and then stops it (SIGTERM).
    stop = _stop_on_signals(interrupt=parent_pid is None)
    service.listen()
    orphaned = _until_stopped(stop, parent_pid)
    service.close()  # removes the socket
    tracker.close()
    if orphaned:  # the server died without removing the socket's directory (SIGKILL, say)
        with suppress(OSError):
            Path(socket_).parent.rmdir()  # rmdir: only when nothing else is in it


def _stop_on_signals(*, interrupt: bool = True) -> threading.Event:
    """An event set by SIGTERM, and by Ctrl-C unless ``interrupt`` is off (then ignored)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, (lambda *_: stop.set()) if interrupt else signal.SIG_IGN)
    return stop


def _until_stopped(stop: threading.Event, parent_pid: int | None) -> bool:
    """Wait until ``stop`` is set or, for a child of `tracker serve`, the server has died;
    whether it has."""
    while not stop.wait(0.5):
        if parent_pid is not None and os.getppid() != parent_pid:
            return True
    return False


@cli.command(
    cls=_Command, name="rebuild", short_help="Build the views again from every stored event."
)
def rebuild_views(
    views_named: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[VIEW]...",
            help="messages, state_counts, delivery_times or quarantine. They always stand at "
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
        _fail(ValueError(f"no such view: {', '.join(unknown)} (views: {', '.join(VIEWS)})"))
    if until is not None and out is None:
        _fail(ValueError("--until builds the views as of a past instant: give --out FILE.sqlite"))
    if workers < 1:
        _fail(ValueError(f"--workers is a number of processes, 1 or more: not {workers}"))
    settings = _settings()
    tracker = _reader()  # a rebuild in the wrong folder must not build empty views there
    try:
        live_views = open_views(tracker, create=True)
    except StoreUnavailable as e:
        _fail(e)
    target = open_output_views(out) if out else live_views
    head = tracker.recorder.max_notification_id() or 0
    started = datetime.now(UTC)
    with _progress() as bar:
        task = bar.add_task("rebuilding", total=head or 1, events=0, rate=0.0, unit="events")

        def advance(progress: Progress) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = progress.events / elapsed if elapsed else 0.0
            bar.update(task, completed=progress.position, events=progress.events, rate=rate)

        result = rebuild(
            tracker, target, into_live=out is None, until=until, workers=workers, on_page=advance
        )
        bar.update(task, completed=head or 1, events=result.events)
    tracker.close()
    if out:
        note_as_of(out, _when(min(until, started) if until else started))
    rate = result.events / result.seconds if result.seconds else 0.0
    where = str(out) if out else f"the live views of {store_for(settings).description}"
    typer.echo(
        f"rebuilt {', '.join(VIEWS)} from {result.events:,} events in {result.seconds:.1f} s "
        f"({rate:,.0f} events/s), up to event {result.position} of the log, into {where}"
    )
    for view, checksum in result.checksums.items():
        typer.echo(f"  {view:<15} sha256 {checksum}")


def _progress() -> Progress_:
    return Progress_(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[events]:,} {task.fields[unit]}"),
        TextColumn("{task.fields[rate]:,.0f} {task.fields[unit]}/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


OUT = Console()
JSON = Annotated[
    bool,
    typer.Option("--json", help="Print the answer as the HTTP API's JSON instead of a table."),
]
VIEWS_FILE = Annotated[
    Path | None,
    typer.Option(
        "--views",
        metavar="FILE",
        help="Read the views in this file, written by `tracker rebuild --until TIME --out FILE`, "
        "instead of the store's live views.",
    ),
]


def _print_json(answer: msgspec.Struct) -> None:
    typer.echo(msgspec.json.encode(answer).decode())


def _when(moment: datetime | None) -> str:
    """An instant as the API writes it: ISO 8601 in UTC, with ``Z`` (``--as-of`` reads it)."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _platform_time(time: str | None, instant: datetime | None) -> str:
    """The platform's wall-clock time with the offset it was read in (``+03:00``, Moscow),
    found from the UTC instant the tracker made of it; as sent when it has none."""
    if not time:
        return "—"
    if instant is None:
        return time
    offset = datetime.fromisoformat(time) - instant.astimezone(UTC).replace(tzinfo=None)
    return f"{time} {_offset(offset)}"


def _offset(offset: timedelta) -> str:
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _limit(value: int) -> int:
    if not 1 <= value <= 1000:
        raise typer.BadParameter(f"give from 1 to 1000, not {value}")
    return value


LIMIT = Annotated[
    int,
    typer.Option(metavar="N", callback=_limit, help="How many to show, 1 to 1000."),
]


@cli.command(cls=_Command, short_help="Every report of one message, in arrival order.")
def history(
    id_sms: Annotated[
        str, typer.Argument(metavar="ID_SMS", help="The message's id_sms, in digits.")
    ],
    as_of: Annotated[
        datetime | None,
        typer.Option(
            parser=parse_instant,
            metavar="TIME",
            help="Show the message as it stood at this instant: only the reports received at "
            f"or before it. {TIME_FORMS}",
        ),
    ] = None,
    as_json: JSON = False,
) -> None:
    """Every report of one message in the order it arrived: when it was received, what it
    said, whether it was applied or rejected, and the state it left the message in. Read from
    the event store itself, so it is never behind.

    Times: "received" is the tracker's clock in UTC; "time" is the platform's own time as it
    sent it, with the offset from UTC it was read in (TRACKER_TIMEZONE, Moscow by default)."""
    number = message_number(id_sms)
    if number is None:
        _fail(ValueError(f"id_sms must be ASCII digits from 0 to 2^63-1: {id_sms!r}"))
    tracker = _reader()
    answer = queries.history(tracker, number, as_of, limit=None, cut=None)
    tracker.close()
    if answer is None:
        when = f" at or before {_when(as_of)}" if as_of else ""
        typer.secho(f"no status was received for id_sms {number}{when}", err=True)
        raise typer.Exit(1)
    if as_json:
        return _print_json(answer)
    title = f"id_sms {number}: {answer.state or 'no known state'}"
    table = Table(title=title + (f", as of {_when(as_of)}" if as_of else ""))
    # The instant of receipt is never broken (it is what --as-of takes); a long reason folds.
    table.add_column("received", no_wrap=True)
    for column in ("id_sms as sent", "state", "time", "outcome", "state after"):
        table.add_column(column, overflow="fold")
    for r in answer.reports:
        style = "red" if r.outcome == "rejected" else ("dim" if r.outcome != "applied" else "")
        outcome = r.outcome if r.reason is None else f"{r.outcome}: {r.reason}"
        table.add_row(
            _when(r.received_at), msgspec.json.encode(r.id_sms).decode(), r.state,
            _platform_time(r.time, r.instant), outcome, r.state_after or "—", style=style,
        )  # fmt: skip
    OUT.print(table)


@cli.command(cls=_Command, short_help="A page of messages with their current state.")
def messages(
    state: Annotated[
        str | None,
        typer.Option(
            metavar="STATE",
            help="Only messages in this state: send, partly_deliver, deliver, read, "
            "not_deliver or expired.",
        ),
    ] = None,
    final: Annotated[
        bool | None,
        typer.Option(
            "--final/--not-final",
            help="Only messages in a final state (read, not_deliver, expired), or only the others.",
            show_default=False,
        ),
    ] = None,
    conflict: Annotated[
        bool | None,
        typer.Option(
            "--conflict/--no-conflict",
            help=f"Only messages with a conflict, or only those without. {CONFLICT}",
            show_default=False,
        ),
    ] = None,
    limit: LIMIT = 50,
    cursor: Annotated[
        str | None,
        typer.Option(
            metavar="NEXT", help="Where the previous page ended: the value it printed last."
        ),
    ] = None,
    views_file: VIEWS_FILE = None,
    as_json: JSON = False,
) -> None:
    """A page of messages, in id_sms order, with their current state: from the messages view,
    kept up to date with the stored events (GET /messages/{id}/history for one message's every
    report)."""
    try:
        state = queries.state_filter(state)
    except queries.BadFilter as e:
        _fail(e)
    tracker, views = _read_views(views_file)
    try:
        page = queries.list_messages(
            views, cursor=cursor, limit=limit, state=state, final=final, conflict=conflict
        )
    except queries.BadCursor as e:
        _fail(e)
    finally:
        if tracker:
            tracker.close()
    if as_json:
        return _print_json(page)
    table = Table()
    for column in ("id_sms", "state", "time", "final", "conflict", "reports"):
        table.add_column(column)
    table.add_column("last received", no_wrap=True)
    for m in page.messages:
        table.add_row(
            str(m.id_sms), m.state or "—", _platform_time(m.time, m.instant),
            "yes" if m.final else "", "yes" if m.conflict else "", str(m.reports),
            _when(m.last_received_at),
        )  # fmt: skip
    OUT.print(table)
    if page.next:
        OUT.print(f"next page: --cursor {page.next}")


@cli.command(cls=_Command, short_help="Counts by state, conflicts and delivery times.")
def stats(
    days: Annotated[
        int, typer.Option(metavar="DAYS", help="Days of per-day figures, 1 to 366.")
    ] = 31,
    views_file: VIEWS_FILE = None,
    as_json: JSON = False,
) -> None:
    """How many messages there are in each state, how many are final and how many have a
    conflict, and how long delivery took (50th, 90th and 99th percentiles, per day and
    overall), measured on the tracker's clock from a message's first report to its delivery.

    A conflict is a report that comes after the message's final state by the platform's times
    (a status after expired, or read after an earlier not_deliver)."""
    if not 1 <= days <= 366:
        _fail(ValueError(f"--days is from 1 to 366, not {days}"))
    tracker, views = _read_views(views_file)
    answer = queries.stats(views, days)
    if tracker:
        tracker.close()
    if as_json:
        return _print_json(answer)
    OUT.print(
        f"{answer.messages:,} messages, {answer.final:,} final ({answer.final_share:.1%}), "
        f"{answer.conflicts:,} with a conflict"
    )
    states = Table("state", "final", "messages")
    for c in answer.states:
        states.add_row(c.state or "(none known)", "yes" if c.final else "", f"{c.messages:,}")
    OUT.print(states)
    delivery = Table("day (UTC)", "deliveries", "p50 s", "p90 s", "p99 s", title="delivery time")
    for d in [*answer.per_day, answer.delivery]:
        day = getattr(d, "day", "all")
        delivery.add_row(day, f"{d.deliveries:,}", *(f"{v:g}" if v is not None else "—"
                                                     for v in (d.p50, d.p90, d.p99)))  # fmt: skip
    OUT.print(delivery)


@cli.command(cls=_Command, short_help="Input that named no message, with the reason.")
def quarantine(
    limit: LIMIT = 50,
    views_file: VIEWS_FILE = None,
    as_json: JSON = False,
) -> None:
    """Input that named no message (an item without a usable id_sms, a body that is not a
    list of items), most recently received first, with the reason it was set aside. Nothing
    sent is ever dropped: it is kept here instead."""
    tracker, views = _read_views(views_file)
    answer = queries.quarantine(views, limit)
    if tracker:
        tracker.close()
    if as_json:
        return _print_json(answer)
    table = Table(title=f"{answer.total} item{'' if answer.total == 1 else 's'}")
    table.add_column("last received", no_wrap=True)
    for column in ("kind", "receipts", "reason", "raw"):
        table.add_column(column)
    for i in answer.items:
        raw = i.raw if len(i.raw) <= 60 else i.raw[:59] + "…"
        table.add_row(_when(i.last_received_at), i.kind, str(i.receipts), i.reason,
                      raw if i.encoding == "utf-8" else f"(base64) {raw}")  # fmt: skip
    OUT.print(table)


@cli.command(cls=_Command, short_help="Write the messages, or every report, to a file.")
def export(
    what: Annotated[
        str,
        typer.Argument(
            metavar="messages|reports",
            help="messages: a row per message, as the messages view has it; reports: a row per "
            "stored report, in the order they were stored.",
        ),
    ],
    out: Annotated[Path, typer.Option(metavar="FILE", help="The file to write.")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="csv, jsonl or parquet (parquet needs the parquet extra).",
        ),
    ] = "csv",
    views_file: VIEWS_FILE = None,
) -> None:
    """Write the messages, or every stored report, to a file, a page at a time however large
    the store, with a progress bar. docs/usage.md describes the columns."""
    if what not in ("messages", "reports"):
        _fail(ValueError(f"export messages or reports, not {what!r}"))
    if fmt not in exports.FORMATS:
        _fail(ValueError(f"--format must be one of {', '.join(exports.FORMATS)}, not {fmt!r}"))
    if what == "reports" and views_file is not None:
        _fail(ValueError("--views holds the views only: reports come from the event store"))
    if what == "messages":
        tracker, views = _read_views(views_file)
        rows, fields = exports.message_rows(views), exports.MESSAGE_FIELDS
        total = sum(n for _, _, n in views.state_counts())
    else:
        tracker = _reader()
        rows, fields = exports.report_rows(tracker), exports.REPORT_FIELDS
        total = tracker.recorder.max_notification_id() or 0
    with _progress() as bar:
        task = bar.add_task(f"exporting {what}", total=total or 1, events=0, rate=0.0, unit=what)

        def advance(n: int) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            bar.update(task, completed=n, events=n, rate=n / elapsed if elapsed else 0.0)

        try:
            written = exports.write(rows, fields, fmt, out, advance)
        except RuntimeError as e:
            _fail(e)
        bar.update(task, completed=total or 1)
    if tracker:
        tracker.close()
    typer.echo(f"wrote {written:,} {what} to {out} ({fmt})")


@cli.command(cls=_Command, short_help="Serve the webhook, the read API and the web console.")
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="The address to listen on (by default TRACKER_HOST, else 127.0.0.1).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT",
            help="The port to listen on (by default TRACKER_PORT, else 8000).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="How many server processes (by default TRACKER_WORKERS, else 1).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the webhook, the read API and the web console until Ctrl-C or SIGTERM.

    The batches are committed by a writer process and the views kept up to date by a
    projector process, both children of this one. The store's tables are created first if
    they are missing (unless TRACKER_CREATE_TABLES=false)."""
    settings = _settings(host=host, port=port, workers=workers)
    _check_listen(settings.host, settings.port)
    # Create the tables once, here (unless TRACKER_CREATE_TABLES=false), so that workers
    # starting together never race to do it; a store that cannot be served fails here.
    _create_tables(settings)
    os.environ.update(
        _as_env(
            {
                "host": settings.host,
                "port": settings.port,
                "workers": settings.workers,
                "create_tables": False,
            }
        )
    )
    writer = WriterProcess() if settings.writer == "process" else None
    if writer:
        writer.start()
        writer.wait_ready()
        os.environ[WRITER_SOCKET] = writer.path
    projector = ProjectorProcess() if settings.projections == "process" else None
    if projector:
        projector.start()
    # uvicorn stops serving on SIGTERM, then raises the signal again under the handler it
    # found: the default one would end this process before its children are stopped (and
    # the writer's socket directory removed), so it finds one that unwinds to the finally.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(
            "tracker.web.app:app_from_env",
            factory=True,
            http="tracker.web.server:DeadlineProtocol",  # header and body timeouts
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            proxy_headers=False,
            server_header=False,
            access_log=False,  # tracker.web.access_log writes one JSON line per request instead
        )
    finally:
        if projector:
            projector.stop()
        if writer:  # after the server: requests in flight got their receipts
            writer.stop()


def _check_listen(host: str, port: int) -> None:
    """Fail with one line, before anything starts, when the address cannot be listened on
    (taken by another server, not an address of this host, a port that needs privileges);
    uvicorn would find out only after the writer and the projector had started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as e:
        reason = e.strerror or str(e)
        if e.errno == errno.EADDRINUSE:
            reason += " (another server listens there: choose another with --port or TRACKER_PORT)"
        _fail(RuntimeError(f"cannot listen on {host}:{port}: {reason}"))


def _exit_on_sigterm(*_: object) -> None:
    raise SystemExit(0)


class ChildProcess:
    """A `tracker` command run as a child of `tracker serve`: started and stopped with it,
    started again should it die, and gone by itself should the server die first."""

    what = "child"

    def __init__(self, *args: str):
        self.command = [sys.executable, "-m", "tracker", *args, "--parent-pid", str(os.getpid())]
        self.process: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._keep_running, name=self.what, daemon=True)

    def start(self) -> None:
        self.process = subprocess.Popen(self.command)
        self._watch.start()

    def _keep_running(self) -> None:
        failures = 0
        while not self._stop.wait(1.0):
            code = self.process.poll()  # type: ignore[union-attr]
            if code is None:
                failures = 0
                continue
            failures += 1
            delay = min(30.0, 0.5 * 2**failures)
            typer.secho(
                f"the {self.what} process exited ({code}); starting it again in {delay:.0f} s",
                fg=typer.colors.YELLOW,
                err=True,
            )
            if not self._stop.wait(delay):
                self.process = subprocess.Popen(self.command)

    def stop(self) -> None:
        self._stop.set()
        if self._watch.is_alive():
            self._watch.join()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ProjectorProcess(ChildProcess):
    """`tracker project` as a child of `tracker serve`.

    A process rather than a thread of the server: the projection then runs on another core
    instead of sharing the writers' interpreter lock (ingest about 40% faster on SQLite,
    measured in bench/). Polling every 0.1 s keeps the views within a fraction of a second.
    """

    what = "projector"

    def __init__(self, interval: float = 0.1):
        super().__init__("project", "--interval", str(interval))


class WriterProcess(ChildProcess):
    """`tracker write` as a child of `tracker serve`: the one writer that commits the batches of
    every server process (tracker.writer_process says why a process of its own)."""

    what = "writer"

    def __init__(self) -> None:
        self.path = socket_path()
        super().__init__("write", "--socket", self.path)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(Path(self.path).parent, ignore_errors=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once the writer accepts connections; fail if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (code := self.process.poll()) is not None:  # type: ignore[union-attr]
                self.stop()
                _fail(RuntimeError(f"the writer process exited at start-up ({code})"))
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe, suppress(OSError):
                probe.connect(self.path)
                return
            time.sleep(0.05)
        self.stop()
        _fail(RuntimeError(f"the writer process did not listen on {self.path} in {timeout:.0f} s"))


def main() -> None:
    cli()
