"""`tracker reconcile`: ask the platform about messages left non-final, once or on a period."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer

from tracker.application import StoreUnavailable, Tracker
from tracker.bootstrap import open_reader, open_reader_views
from tracker.cli.options import fail, load_settings, progress_bar
from tracker.config import Settings, SettingsError, duration
from tracker.platform import PlatformClient, PlatformError
from tracker.reconcile import Pacer, Reconciler, candidates, client_for, state_of
from tracker.views.store import ViewStore


def _positive(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"give a number above 0, not {value}")
    return value


def _duration(value: str | None) -> str | None:
    if value is not None:
        try:
            duration(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    return value


def _count(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise typer.BadParameter(f"give 1 or more, not {value}")
    return value


def reconcile(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List the messages that would be asked about; ask nothing."),
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(metavar="N", callback=_count, help="Ask about N messages at most."),
    ] = None,
    rate: Annotated[
        float,
        typer.Option(metavar="R", callback=_positive, help="Requests a second, at most."),
    ] = 2.0,
    after: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            callback=_duration,
            help="Ask about messages whose last report is older than this (30m, 6h, 3d; by "
            "default TRACKER_RECONCILE_AFTER, else 6h).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(metavar="SECONDS", callback=_positive, help="How long to wait for an answer."),
    ] = 10.0,
    periodic: Annotated[bool, typer.Option(hidden=True)] = False,  # `tracker serve` runs it so
    parent_pid: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Ask the platform for the state of the messages that are not final and whose last
    report is older than TRACKER_RECONCILE_AFTER, and record each answer as a report through
    the same rules as the webhook's (a repeat is a duplicate; a final state never changes).

    The platform is TRACKER_PLATFORM_URL (its JSON status request, ending in json/state.php,
    one message a request; or its XML one, ending in xml/state.php, 100 a request), with
    TRACKER_PLATFORM_TOKEN, or TRACKER_PLATFORM_LOGIN and TRACKER_PLATFORM_PASSWORD. A message
    the views list as not final is confirmed in the event store first: a final one is never
    asked about. An error from the platform ends the run with its reason; what was recorded
    before stays."""
    settings = load_settings(reconcile_after=after)
    try:
        client = client_for(settings, timeout)
    except SettingsError as e:
        if not dry_run:
            fail(e)
        client, unset = None, e  # a dry run lists the candidates all the same
    tracker, views = _existing_store(settings)
    try:
        if client is None:
            _dry_run(settings, tracker, views, None, limit)
            typer.echo(f"a real run needs the platform's settings: {unset}")
            return
        with client:
            if periodic:
                _periodically(settings, tracker, views, client, rate, parent_pid)
            elif dry_run:
                _dry_run(settings, tracker, views, client, limit)
            else:
                _once(settings, tracker, views, client, limit, rate)
    finally:
        tracker.close()


def _existing_store(settings: Settings) -> tuple[Tracker, ViewStore]:
    """The store and its views as they are: a store that is not there is named, never made
    (a run in the wrong folder must not succeed on an empty store of its own)."""
    try:
        tracker = open_reader(settings)
    except (SettingsError, StoreUnavailable) as e:
        fail(e)
    try:
        return tracker, open_reader_views(tracker, settings)
    except (SettingsError, StoreUnavailable) as e:
        tracker.close()
        fail(e)


def _dry_run(
    settings: Settings,
    tracker: Tracker,
    views: ViewStore,
    client: PlatformClient | None,
    limit: int | None,
) -> None:
    reconciler = Reconciler(tracker, client, Pacer(1.0))  # type: ignore[arg-type]  # asks nothing
    try:
        chosen = list(reconciler.confirmed(candidates(views, settings.reconcile_age, limit)))
    except StoreUnavailable as e:
        fail(e)
    for id_sms, message in chosen:
        time = (message.current.time if message.current else "") or "—"
        typer.echo(f"{id_sms:>12}  {state_of(message) or '(no known state)':<16}  {time}")
    if client is None:
        typer.echo(f"would ask the platform about {len(chosen)} message(s); asked nothing")
    else:
        requests = -(-len(chosen) // client.batch)
        typer.echo(
            f"would ask {client.shown} ({client.format}, {_per_request(client)}) about "
            f"{len(chosen)} message(s) in {requests} request(s); asked nothing (--dry-run)"
        )
    if reconciler.summary.skipped:
        typer.echo(f"{reconciler.summary.skipped} skipped: final in the store (the views lag)")


def _now() -> str:
    """The time as the server's log lines show it (UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _per_request(client: PlatformClient) -> str:
    return "one id a request" if client.batch == 1 else f"up to {client.batch} ids a request"


def _once(
    settings: Settings,
    tracker: Tracker,
    views: ViewStore,
    client: PlatformClient,
    limit: int | None,
    rate: float,
) -> None:
    try:
        ids = candidates(views, settings.reconcile_age, limit)
    except StoreUnavailable as e:
        fail(e)
    error: Exception | None = None
    with progress_bar("reconciling", len(ids), "messages") as bar:
        reconciler = Reconciler(
            tracker, client, Pacer(rate), progress=lambda s: bar.advance(s.done, s.done)
        )
        try:
            reconciler.run(ids)
        except (PlatformError, StoreUnavailable) as e:
            error = e  # said once the bar is drawn for the last time
        except KeyboardInterrupt:
            error = KeyboardInterrupt()
        else:
            bar.finish()
    typer.echo(str(reconciler.summary))
    if isinstance(error, KeyboardInterrupt):
        typer.secho("interrupted: what was recorded stays", err=True)
        raise typer.Exit(130)
    if error is not None:
        fail(error)


def _periodically(
    settings: Settings,
    tracker: Tracker,
    views: ViewStore,
    client: PlatformClient,
    rate: float,
    parent_pid: int | None,
) -> None:
    """Run on TRACKER_RECONCILE_EVERY's period until SIGTERM, Ctrl-C or the server's death: a
    failing run says its reason in one line, and the next one comes a period later."""
    period = settings.reconcile_period
    if period is None:
        fail(SettingsError("TRACKER_RECONCILE_EVERY is not set: set the period (30m, 6h)"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    every = settings.reconcile_every.strip()
    while not stop.is_set():
        reconciler = Reconciler(tracker, client, Pacer(rate), stop=stop.is_set)
        try:
            reconciler.run(candidates(views, settings.reconcile_age))
            line = f"INFO - {_now()} - reconcile: {reconciler.summary}; next run in {every}"
        except (PlatformError, StoreUnavailable) as e:
            line = (
                f"WARNING - {_now()} - reconcile: {e} ({reconciler.summary}); next run in {every}"
            )
        except Exception as e:  # one line, and the next run a period later:
            # a crash would restart the process at once, asking the platform again and again
            problem = " ".join(f"{type(e).__name__}: {e}".split())[:300]
            line = f"ERROR - {_now()} - reconcile failed: {problem}; next run in {every}"
        typer.echo(line, err=True)
        deadline = period.total_seconds()
        while deadline > 0 and not stop.wait(min(0.5, deadline)):
            deadline -= 0.5
            if parent_pid is not None and os.getppid() != parent_pid:
                return
