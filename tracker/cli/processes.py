"""The commands that run until stopped: `tracker serve` (the servers, with the writer and the
projector as supervised children), `tracker project` and `tracker write` (those children)."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from tracker.audit.tree import AuditTree
from tracker.bootstrap import projector_election, settle_heap, store_for
from tracker.bootstrap.server import audit_key, followers, forwarding_for
from tracker.cli.options import (
    as_env,
    create_tables,
    fail,
    load_settings,
    open_store,
    open_tracker_or_fail,
)
from tracker.config import SettingsError
from tracker.forwarding.signing import new_secret
from tracker.reconcile import client_for
from tracker.supervisor import ChildFailed, ProjectorProcess, ReconcilerProcess, WriterProcess
from tracker.views.projector import LiveProjection, Projector
from tracker.writer_process import WRITER_SOCKET, WriterService, frame_limit


def project(
    interval: Annotated[
        float, typer.Option(metavar="SECONDS", help="How often to look for new events.")
    ] = 0.25,
    parent_pid: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Keep the views (the messages list, the counts and the delivery times) and the audit tree
    up to date with the stored events, as a process of its own: one for all the servers, which
    then run with TRACKER_PROJECTIONS=off. Stops on Ctrl-C or SIGTERM."""
    settings = load_settings()
    _log_as_the_server_does(settings.log_level)
    tracker, views = open_store(settings)
    projector, may_run = Projector(tracker, views), projector_election(settings)
    forwarding = forwarding_for(settings, views, may_run)
    live = LiveProjection(
        projector,
        interval=interval,
        may_run=may_run,
        followers=followers(settings, tracker, AuditTree(views), projector, forwarding),
    )
    stop = _stop_on_signals()
    typer.echo(f"keeping the views of {store_for(settings).description} up to date "
               f"(from event {views.position()})")  # fmt: skip
    live.start()
    if forwarding:
        forwarding.start()
        typer.echo(f"forwarding the changes to {len(forwarding.forwarders)} endpoint(s)")
    _until_stopped(stop, parent_pid)
    if forwarding:
        forwarding.stop()
    # A page in flight gets a few seconds to commit; a store that does not answer (the reason
    # the server died, perhaps) must not keep this process alive: no more I/O on the way out.
    live.stop(timeout=5)
    typer.echo(f"stopped after event {live.projector.last_seen[0]}")
    tracker.close()


def _log_as_the_server_does(level: str) -> None:
    """Log records of TRACKER_LOG_LEVEL and above to stderr, in the server's format: without it
    only warnings reached stderr, bare (a forwarder's failed deliveries, said at info, not at
    all)."""
    logging.basicConfig(
        level=level.upper(), format="%(levelname)s - %(asctime)s - %(name)s - %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its line a POST names the full URL


def write(
    socket_: Annotated[str, typer.Option("--socket", help="The unix socket to listen on.")],
    parent_pid: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Commit the batches that server processes send over a unix socket (`tracker serve` runs
    it as a child process). Stops on Ctrl-C or SIGTERM, after committing what it was sent."""
    settings = load_settings()
    tracker = open_tracker_or_fail(settings)
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


def forward_secret() -> None:
    """Print a new secret for TRACKER_FORWARD_SECRET: whsec_ and 24 random bytes in base64, the
    Standard Webhooks form. Give the same secret to the receivers: they check each POST with it."""
    typer.echo(new_secret())


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


def _defaulted(metavar: str, what: str, variable: str, default: str) -> Any:
    """An option of `tracker serve` whose default is a TRACKER_* variable's, else a value."""
    text = f"{what} (by default TRACKER_{variable}, else {default})."
    return typer.Option(metavar=metavar, help=text, show_default=False)


def serve(
    host: Annotated[
        str | None, _defaulted("ADDRESS", "The address to listen on", "HOST", "127.0.0.1")
    ] = None,
    port: Annotated[int | None, _defaulted("PORT", "The port to listen on", "PORT", "8000")] = None,
    workers: Annotated[
        int | None, _defaulted("N", "How many server processes", "WORKERS", "1")
    ] = None,
) -> None:
    """Serve the webhook, the read API and the web console until Ctrl-C or SIGTERM.

    The batches are committed by a writer process and the views kept up to date by a
    projector process, both children of this one; with TRACKER_RECONCILE_EVERY set, a third
    child runs `tracker reconcile` on that period. The store's tables are created first if
    they are missing (unless TRACKER_CREATE_TABLES=false)."""
    settings = load_settings(host=host, port=port, workers=workers)
    _check_listen(settings.host, settings.port)
    try:
        if audit_key(settings) is not None:
            typer.echo("signing the audit digests with the key in TRACKER_AUDIT_KEY", err=True)
    except SettingsError as e:
        fail(e)
    if settings.reconcile_period is not None:  # the platform's settings, checked before start
        try:
            client_for(settings).close()
        except SettingsError as e:
            fail(SettingsError(f"TRACKER_RECONCILE_EVERY is set, so the platform is asked: {e}"))
    # Create the tables once, here (unless TRACKER_CREATE_TABLES=false), so that workers
    # starting together never race to do it; a store that cannot be served fails here.
    create_tables(settings)
    # The children's and the server processes' settings: as resolved here, tables made.
    served = as_env({"host": settings.host, "port": settings.port,
                     "workers": settings.workers, "create_tables": False})  # fmt: skip
    writer = None
    if settings.writer == "process":
        writer = WriterProcess({**os.environ, **served}, _warn)
        writer.start()
        try:
            writer.wait_ready()
        except ChildFailed as e:
            fail(e)
        served[WRITER_SOCKET] = writer.path
    projector = None
    if settings.projections == "process":
        projector = ProjectorProcess({**os.environ, **served}, _warn)
        projector.start()
    reconciler = None
    if settings.reconcile_period is not None:
        reconciler = ReconcilerProcess({**os.environ, **served}, _warn)
        reconciler.start()
        typer.echo(
            f"reconciling every {settings.reconcile_every.strip()} with the platform's status "
            f"request ({settings.platform_format}), messages quiet for {settings.reconcile_after}"
        )
    # uvicorn stops serving on SIGTERM, then raises the signal again under the handler it
    # found: the default one would end this process before its children are stopped (and
    # the writer's socket directory removed), so it finds one that unwinds to the finally.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with _environment(served):
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
                access_log=False,  # tracker.web.access_log writes a JSON line per request instead
            )
    finally:
        if reconciler:
            reconciler.stop()
        if projector:
            projector.stop()
        if writer:  # after the server: requests in flight got their receipts
            writer.stop()


@contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """The server processes' settings, for as long as they run: uvicorn starts its worker
    processes with this process's environment and takes the application only as an import
    string (``app_from_env`` reads the settings there), so that is the one way to tell them.
    Each variable is put back as it was once the servers have stopped."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _warn(line: str) -> None:
    typer.secho(line, fg=typer.colors.YELLOW, err=True)


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
        fail(RuntimeError(f"cannot listen on {host}:{port}: {reason}"))


def _exit_on_sigterm(*_: object) -> None:
    raise SystemExit(0)
