"""The command line: serve, migrate, project, rebuild, and the read side for people at a
terminal (history, messages, stats, quarantine); settings come from TRACKER_* variables."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

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

from tracker.application import StoreUnavailable, Tracker
from tracker.bootstrap import (
    make_append_only,
    open_tracker,
    open_views,
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
from tracker.views.store import VIEWS, ViewStore, open_output_file
from tracker.writer_process import WRITER_SOCKET, WriterService, frame_limit, socket_path

cli = typer.Typer(
    help="An event-sourced tracker of SMS delivery statuses.",
    no_args_is_help=True,
    add_completion=False,
)


def _settings(**overrides: object) -> Settings:
    """Settings from the environment, command-line options winning over TRACKER_* variables."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings.from_env({**os.environ, **_as_env(given)})
    except SettingsError as e:
        _fail(e)


def _open(settings: Settings) -> tuple[Tracker, ViewStore]:
    """The tracker and its views, or a clear error and exit status 2."""
    try:
        tracker = open_tracker(settings)
        return tracker, open_views(tracker, create=settings.create_tables)
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


@cli.command()
def migrate(
    app_role: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL: as the tables' owner, let this (existing) role append events but "
            "never UPDATE, DELETE or TRUNCATE them; the tracker then runs as that role."
        ),
    ] = None,
) -> None:
    """Create the event store's tables (once, before starting several workers on PostgreSQL)."""
    settings = _settings(create_tables=True)
    if app_role is None:
        _create_tables(settings)
    else:
        try:
            make_append_only(settings, app_role)
        except (SettingsError, StoreUnavailable) as e:
            _fail(e)
        typer.echo(f"{app_role} may append events, never change them")
    typer.echo(f"tables ready in {store_for(settings).description}")


@cli.command()
def project(
    interval: Annotated[float, typer.Option(help="Seconds between polls of the event log.")] = 0.25,
    parent_pid: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Keep the views up to date, as a process of its own (run servers with
    TRACKER_PROJECTIONS=off then). Stops on Ctrl-C or SIGTERM."""
    settings = _settings()
    tracker, views = _open(settings)
    live = LiveProjection(
        Projector(tracker, views), interval=interval, may_run=projector_election(settings)
    )
    stop = _stop_on_signals()
    typer.echo(f"projecting {store_for(settings).description} (position {views.position()})")
    live.start()
    _until_stopped(stop, parent_pid)
    # A page in flight gets a few seconds to commit; a store that does not answer (the reason
    # the server died, perhaps) must not keep this process alive: no more I/O on the way out.
    live.stop(timeout=5)
    typer.echo(f"stopped at position {live.projector.last_seen[0]}")
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
    _until_stopped(stop, parent_pid)
    service.close()
    tracker.close()


def _stop_on_signals(*, interrupt: bool = True) -> threading.Event:
    """An event set by SIGTERM, and by Ctrl-C unless ``interrupt`` is off (then ignored)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, (lambda *_: stop.set()) if interrupt else signal.SIG_IGN)
    return stop


def _until_stopped(stop: threading.Event, parent_pid: int | None) -> None:
    """Wait until ``stop`` is set or, for a child of `tracker serve`, the server has died."""
    while not stop.wait(0.5):
        if parent_pid is not None and os.getppid() != parent_pid:
            return


@cli.command(name="rebuild")
def rebuild_views(
    views_named: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[VIEW]...",
            help="messages, state_counts, delivery_times, quarantine. They are one projection "
            "at one position, so they are always rebuilt together; naming them checks the names.",
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"],
            help="Only events received at or before this instant (UTC); needs --out.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Build into this SQLite file instead of replacing the live views."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes folding the history, each a share of the messages (default: one "
            "per core, at most four).",
        ),
    ] = default_workers(),
) -> None:
    """Rebuild the views from the whole event history, then swap them in at once.

    Readers keep the old views until the swap. Prints a checksum of each view: two rebuilds
    of the same history print the same ones."""
    unknown = sorted(set(views_named or ()) - set(VIEWS))
    if unknown:
        _fail(ValueError(f"no such view: {', '.join(unknown)} (views: {', '.join(VIEWS)})"))
    if until is not None and out is None:
        _fail(ValueError("--until builds the views as of a past instant: give --out FILE.sqlite"))
    settings = _settings()
    tracker, live_views = _open(settings)
    target = open_output_file(str(out)) if out else live_views
    head = tracker.recorder.max_notification_id() or 0
    with _progress() as bar:
        task = bar.add_task("rebuilding", total=head or 1, events=0, rate=0.0, unit="events")

        def advance(progress: Progress) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = progress.events / elapsed if elapsed else 0.0
            bar.update(task, completed=progress.position, events=progress.events, rate=rate)

        result = rebuild(
            tracker,
            target,
            into_live=out is None,
            until=until.replace(tzinfo=UTC) if until else None,
            workers=workers,
            on_page=advance,
        )
        bar.update(task, completed=head or 1, events=result.events)
    tracker.close()
    rate = result.events / result.seconds if result.seconds else 0.0
    where = str(out) if out else f"the live views of {store_for(settings).description}"
    typer.echo(
        f"rebuilt {', '.join(VIEWS)} from {result.events:,} events in {result.seconds:.1f} s "
        f"({rate:,.0f} events/s), up to notification {result.position}, into {where}"
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
JSON = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]
WHEN = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


def _print_json(answer: msgspec.Struct) -> None:
    typer.echo(msgspec.json.encode(answer).decode())


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@cli.command()
def history(
    id_sms: Annotated[str, typer.Argument(help="The message's id_sms.")],
    as_of: Annotated[
        datetime | None, typer.Option(formats=WHEN, help="As it stood at this instant (UTC).")
    ] = None,
    as_json: JSON = False,
) -> None:
    """Every report of a message in arrival order: what it did, and the state it left."""
    number = message_number(id_sms)
    if number is None:
        _fail(ValueError(f"id_sms must be ASCII digits from 0 to 2^63-1: {id_sms!r}"))
    tracker, _ = _open(_settings())
    answer = queries.history(tracker, number, as_of, limit=None)
    tracker.close()
    if answer is None:
        typer.secho(f"no status was received for id_sms {number}", err=True)
        raise typer.Exit(1)
    if as_json:
        return _print_json(answer)
    table = Table(title=f"id_sms {number}: {answer.state or 'no known state'}")
    for column in ("received (UTC)", "id_sms as sent", "state", "time", "outcome", "state after"):
        table.add_column(column, overflow="fold")  # a long reason folds, never cut
    for r in answer.reports:
        style = "red" if r.outcome == "rejected" else ("dim" if r.outcome != "applied" else "")
        outcome = r.outcome if r.reason is None else f"{r.outcome}: {r.reason}"
        table.add_row(
            _when(r.received_at), msgspec.json.encode(r.id_sms).decode(), r.state, r.time or "—",
            outcome, r.state_after or "—", style=style,
        )  # fmt: skip
    OUT.print(table)


@cli.command()
def messages(
    state: Annotated[str | None, typer.Option(help="Current state.")] = None,
    final: Annotated[bool | None, typer.Option("--final/--not-final", help="Final or not.")] = None,
    conflict: Annotated[
        bool | None, typer.Option("--conflict/--no-conflict", help="A report after the final.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="`next` of the previous page.")] = None,
    as_json: JSON = False,
) -> None:
    """A page of messages from the messages view, in id order."""
    _, views = _open(_settings())
    try:
        page = queries.list_messages(
            views, cursor=cursor, limit=limit, state=state, final=final, conflict=conflict
        )
    except queries.BadCursor as e:
        _fail(e)
    if as_json:
        return _print_json(page)
    table = Table()
    for column in ("id_sms", "state", "time", "final", "conflict", "reports", "last received"):
        table.add_column(column)
    for m in page.messages:
        table.add_row(
            str(m.id_sms), m.state or "—", m.time or "—", "yes" if m.final else "",
            "yes" if m.conflict else "", str(m.reports), _when(m.last_received_at),
        )  # fmt: skip
    OUT.print(table)
    if page.next:
        OUT.print(f"next page: --cursor {page.next}")


@cli.command()
def stats(
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of per-day figures.")] = 31,
    as_json: JSON = False,
) -> None:
    """Counts by state, final share, conflicts and delivery-time percentiles."""
    _, views = _open(_settings())
    answer = queries.stats(views, days)
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


@cli.command()
def quarantine(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JSON = False,
) -> None:
    """Input that named no message, most recently received first, with the reason."""
    _, views = _open(_settings())
    answer = queries.quarantine(views, limit)
    if as_json:
        return _print_json(answer)
    table = Table(
        "last received", "kind", "receipts", "reason", "raw", title=f"{answer.total} items"
    )
    for i in answer.items:
        raw = i.raw if len(i.raw) <= 60 else i.raw[:59] + "…"
        table.add_row(_when(i.last_received_at), i.kind, str(i.receipts), i.reason,
                      raw if i.encoding == "utf-8" else f"(base64) {raw}")  # fmt: skip
    OUT.print(table)


@cli.command()
def export(
    what: Annotated[str, typer.Argument(help="messages (the view) or reports (every report).")],
    out: Annotated[Path, typer.Option(help="The file to write.")],
    fmt: Annotated[
        str, typer.Option("--format", help="csv, jsonl or parquet (needs the parquet extra).")
    ] = "csv",
) -> None:
    """Export the messages view or every stored report, streamed, with a progress bar."""
    if what not in ("messages", "reports"):
        _fail(ValueError(f"export messages or reports, not {what!r}"))
    if fmt not in exports.FORMATS:
        _fail(ValueError(f"--format must be one of {', '.join(exports.FORMATS)}, not {fmt!r}"))
    tracker, views = _open(_settings())
    if what == "messages":
        rows, fields = exports.message_rows(views), exports.MESSAGE_FIELDS
        total = sum(n for _, _, n in views.state_counts())
    else:
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
    tracker.close()
    typer.echo(f"wrote {written:,} {what} to {out} ({fmt})")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [TRACKER_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind [TRACKER_PORT].")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [TRACKER_WORKERS].")] = None,
) -> None:
    """Serve the webhook and the read API (uvicorn)."""
    settings = _settings(host=host, port=port, workers=workers)
    if settings.create_tables:
        # Create the tables once, here, so that workers starting together never race to do it.
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
