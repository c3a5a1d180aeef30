"""The command line: ``tracker serve`` and ``tracker migrate``; settings come from TRACKER_*."""

from __future__ import annotations

import os
from typing import Annotated, NoReturn

import typer
import uvicorn

from tracker.bootstrap import open_tracker, store_for
from tracker.config import Settings, SettingsError

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


def _create_tables(settings: Settings) -> None:
    try:
        open_tracker(settings).close()
    except SettingsError as e:
        _fail(e)


def _fail(error: Exception) -> NoReturn:
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _as_env(values: dict[str, object]) -> dict[str, str]:
    return {f"TRACKER_{k.upper()}": str(v) for k, v in values.items()}


@cli.command()
def migrate() -> None:
    """Create the event store's tables (once, before starting several workers on PostgreSQL)."""
    settings = _settings(create_tables=True)
    _create_tables(settings)
    typer.echo(f"tables ready in {store_for(settings).description}")


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
    uvicorn.run(
        "tracker.web.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        proxy_headers=False,
        server_header=False,
    )


def main() -> None:
    cli()
