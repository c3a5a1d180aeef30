"""The command line: the typer app, its commands registered in the order the help lists them.

Settings come from TRACKER_* variables, options winning over them. Times are printed as ISO 8601
instants in UTC (``Z``), as the HTTP API writes them, and read back in that form or any other
the tracker prints."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from tracker.cli import audit, changes, processes, reads, reconcile, register, requests, store
from tracker.cli.options import Command

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


# The commands in the order the help lists them, each with its line there (None: hidden).
COMMANDS = (
    ("migrate", store.migrate,
     "Create the store's tables, or convert a store an earlier version wrote."),
    ("project", processes.project, "Keep the views up to date, as a process of its own."),
    ("write", processes.write, None),  # `tracker serve` runs it
    ("rebuild", store.rebuild_views, "Build the views again from every stored event."),
    ("history", reads.history, "Every report of one message, in arrival order."),
    ("messages", reads.messages, "A page of messages with their current state."),
    ("stats", reads.stats, "Counts by state, conflicts and delivery times."),
    ("quarantine", reads.quarantine, "Input that named no message, with the reason."),
    ("export", reads.export, "Write the messages, or every report, to a file."),
    ("changes", changes.changes, "The state changes of messages in log order, as JSON lines."),
    ("requests", requests.requests, "The requests that reached the webhook, newest first."),
    ("request", requests.request, "One request to the webhook, with its body and answer."),
    ("replay", requests.replay, "Run a recorded request's body through the webhook again."),
    ("register", register.register,
     "Register what was sent: when, by which sender, in which campaign, from CSV or JSONL."),
    ("reconcile", reconcile.reconcile,
     "Ask the platform about messages left non-final; record its answers."),
    ("keygen", audit.keygen, "Make the key pair that signs the audit digests."),
    ("digest", audit.digest, "The history's digest (size, root hash), to publish or keep."),
    ("verify", audit.verify,
     "Check every stored event against the audit tree and kept digests (--views: the views)."),
    ("proof", audit.proof, "One message's events with their proofs, for checking offline."),
    ("verify-proof", audit.verify_proof, "Check a message's proof file, with no store."),
    ("forward-secret", processes.forward_secret,
     "Print a new secret that signs the outbound webhooks (TRACKER_FORWARD_SECRET)."),
    ("serve", processes.serve, "Serve the webhook, the read API and the web console."),
)  # fmt: skip
for name, command, short_help in COMMANDS:
    if short_help is None:
        cli.command(name, hidden=True)(command)
    else:
        cli.command(name, cls=Command, short_help=short_help)(command)


def main() -> None:
    cli()
