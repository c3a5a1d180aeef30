"""What the commands share: settings from the environment and options, opening the store for a
command, errors as one line, the options and the output (tables, JSON, instants, progress)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import msgspec
import typer
from eventsourcing.persistence import PersistenceError
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer.core import TyperArgument, TyperCommand

from tracker.application import StoreUnavailable, Tracker
from tracker.bootstrap import (
    noted_as_of,
    open_reader,
    open_reader_views,
    open_request_store,
    open_tracker,
    open_views,
    open_views_file,
)
from tracker.config import Settings, SettingsError
from tracker.views.store import ViewStore

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


class Command(TyperCommand):
    """A command whose arguments read as ``_Argument`` says (re-classed: they keep their state)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if type(param) is TyperArgument:
                param.__class__ = _Argument


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, command-line options winning over TRACKER_* variables."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings.from_env({**os.environ, **as_env(given)})
    except SettingsError as e:
        fail(e)


def as_env(values: dict[str, object]) -> dict[str, str]:
    """Settings as the TRACKER_* variables that say them."""
    return {f"TRACKER_{k.upper()}": str(v) for k, v in values.items()}


def fail(error: Exception) -> NoReturn:
    """Say what went wrong in one line on stderr and exit with status 2."""
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def open_tracker_or_fail(settings: Settings, *, legacy: bool = False) -> Tracker:
    """The tracker, its store created if need be; or a clear error and exit status 2."""
    try:
        return open_tracker(settings, legacy=legacy)
    except (SettingsError, StoreUnavailable) as e:
        fail(e)


def open_store(settings: Settings) -> tuple[Tracker, ViewStore]:
    """The tracker and its views, created if need be; or a clear error and exit status 2."""
    tracker = open_tracker_or_fail(settings)
    try:
        return tracker, open_views(tracker, create=settings.create_tables)
    except (SettingsError, StoreUnavailable) as e:
        fail(e)


def create_tables(settings: Settings) -> None:
    tracker, _ = open_store(settings)
    tracker.close()
    if settings.request_log:  # the request log's tables (its own file on SQLite)
        try:
            open_request_store(settings).close()
        except (SettingsError, StoreUnavailable, PersistenceError) as e:
            fail(e)


def reader() -> Tracker:
    """The tracker on an existing store, creating nothing; or a clear error and exit status 2."""
    try:
        return open_reader(load_settings())
    except (SettingsError, StoreUnavailable) as e:
        fail(e)


def read_views(views_file: Path | None) -> tuple[Tracker | None, ViewStore]:
    """The store's live views, or with ``--views FILE`` those of a rebuild's output file (its
    instant said on stderr); nothing is created."""
    try:
        if views_file is not None:
            views = open_views_file(views_file)
            instant = noted_as_of(views_file)
            typer.echo(f"views of {views_file}, as of {instant or 'an unrecorded instant'}",
                       err=True)  # fmt: skip
            return None, views
        settings = load_settings()
        tracker = open_reader(settings)
        try:
            return tracker, open_reader_views(tracker, settings)
        except (SettingsError, StoreUnavailable):
            tracker.close()
            raise
    except (SettingsError, StoreUnavailable) as e:
        fail(e)


@contextmanager
def reading_views(views_file: Path | None) -> Iterator[ViewStore]:
    """The views ``read_views`` opens, for a query: the store closed after it."""
    tracker, views = read_views(views_file)
    try:
        yield views
    finally:
        if tracker:
            tracker.close()


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


class Bar:
    """A progress bar's task: how far the work is, how many units are done and how fast."""

    def __init__(self, progress: Progress, task: TaskID, total: int):
        self._progress, self._task, self.total = progress, task, total

    def advance(self, position: int, done: int) -> None:
        elapsed = self._progress.tasks[self._task].elapsed or 0.0
        rate = done / elapsed if elapsed else 0.0
        self._progress.update(self._task, completed=position, events=done, rate=rate)

    def finish(self, **fields: object) -> None:
        self._progress.update(self._task, completed=self.total, **fields)


@contextmanager
def progress_bar(description: str, total: int, unit: str, completed: int = 0) -> Iterator[Bar]:
    """A progress bar on stderr, up to ``total`` (at least 1), counting ``unit``."""
    progress = Progress(
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
    with progress:
        task = progress.add_task(description, total=total or 1, events=0, rate=0.0, unit=unit,
                                 completed=completed)  # fmt: skip
        yield Bar(progress, task, total or 1)


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


def _limit(value: int) -> int:
    if not 1 <= value <= 1000:
        raise typer.BadParameter(f"give from 1 to 1000, not {value}")
    return value


LIMIT = Annotated[
    int,
    typer.Option(metavar="N", callback=_limit, help="How many to show, 1 to 1000."),
]


def print_json(answer: msgspec.Struct) -> None:
    typer.echo(msgspec.json.encode(answer).decode())


def when(moment: datetime | None) -> str:
    """An instant as the API writes it: ISO 8601 in UTC, with ``Z`` (``--as-of`` reads it)."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def platform_time(time: str | None, instant: datetime | None) -> str:
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
