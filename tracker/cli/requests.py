"""`tracker requests`, `tracker request ID` and `tracker replay ID`: the webhook's request log at
a terminal. The reads never create a store; a replay records through the store as the webhook."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

import anyio
import typer
from rich.table import Table

from tracker.application import Batch, Receipt, StoreUnavailable, Tracker
from tracker.bootstrap import open_reader, open_request_reader
from tracker.cli.options import (
    JSON,
    LIMIT,
    OUT,
    TIME_FORMS,
    fail,
    load_settings,
    parse_instant,
    print_json,
    when,
)
from tracker.config import Settings, SettingsError
from tracker.read import requests as reads
from tracker.read.queries import BadCursor
from tracker.request_log import RequestFilter, RequestStore
from tracker.web.access import Access
from tracker.web.ingest import take
from tracker.web.request_log import Seen
from tracker.web.requests_api import replay_refusal, replayed

REQUEST_ID = Annotated[int, typer.Argument(metavar="ID", help="The request's id in the log.")]


@contextmanager
def _request_log(settings: Settings | None = None) -> Iterator[tuple[Tracker, RequestStore]]:
    """The store's tracker and request log, neither created; a clear error if either is missing.
    ``settings``: those the caller loaded already (else loaded here)."""
    try:
        settings = settings or load_settings()
        tracker = open_reader(settings)
        try:
            store = open_request_reader(settings, tracker)
        except (SettingsError, StoreUnavailable):
            tracker.close()
            raise
    except (SettingsError, StoreUnavailable) as e:
        fail(e)
    try:
        yield tracker, store
    finally:
        store.close()
        tracker.close()


def requests(
    request_id: Annotated[
        int | None,
        typer.Argument(metavar="[ID]", help="Show this one request whole, with its body."),
    ] = None,
    received_from: Annotated[
        datetime | None,
        typer.Option(
            "--from",
            parser=parse_instant,
            metavar="TIME",
            help=f"Only requests received at or after this instant. {TIME_FORMS}",
        ),
    ] = None,
    received_to: Annotated[
        datetime | None,
        typer.Option(
            "--to",
            parser=parse_instant,
            metavar="TIME",
            help="Only requests received before this instant (written as --from).",
        ),
    ] = None,
    status: Annotated[
        int | None, typer.Option(metavar="CODE", help="Only requests answered with this status.")
    ] = None,
    id_sms: Annotated[
        int | None,
        typer.Option("--id-sms", metavar="ID_SMS", help="Only requests that carried this message."),
    ] = None,
    limit: LIMIT = 50,
    cursor: Annotated[
        str | None,
        typer.Option(metavar="NEXT", help="Where the previous page ended: the value it printed."),
    ] = None,
    as_json: JSON = False,
) -> None:
    """The requests that reached the webhook, newest first: when, from where, with which token
    (its name), how big, the answer's status, the ids acknowledged, how long it took. Every
    POST is there, accepted or refused (TRACKER_REQUEST_LOG); `tracker request ID` shows one
    with its body and answer."""
    if request_id is not None:
        return request(request_id, as_json)
    where = RequestFilter(received_from, received_to, status, id_sms)
    with _request_log() as (_, store):
        try:
            page = reads.list_requests(store, where, cursor, limit)
        except BadCursor as e:
            fail(e)
    if as_json:
        return print_json(page)
    if not page.requests:
        OUT.print("no request matches" if cursor is None else "no more requests")
        return
    table = Table()
    for column in ("id", "received", "sender", "token", "bytes", "format", "status", "acked",
                   "ms", "ids", "note"):  # fmt: skip
        table.add_column(column, no_wrap=column == "received")
    for r in page.requests:
        ids = ", ".join(map(str, r.ids[:5])) + (f" (+{r.ids_total - 5})" if r.ids_total > 5 else "")
        note = " ".join(filter(None, [r.note, f"of {r.replay_of}" if r.replay_of else None]))
        table.add_row(
            str(r.id), when(r.received_at), r.sender, r.token or "", f"{r.size:,}",
            r.format or "", str(r.status), str(r.acknowledged), f"{r.latency_ms:.1f}", ids,
            note,
        )  # fmt: skip
    OUT.print(table)
    if page.next:
        OUT.print(f"next page: --cursor {page.next}")


def request(request_id: REQUEST_ID, as_json: JSON = False) -> None:
    """One request to the webhook whole: what came (the body as text when it is UTF-8, else
    base64) and what it was answered."""
    with _request_log() as (_, store):
        found = reads.request_detail(store, request_id)
    if found is None:
        fail(LookupError(f"no request {request_id} in the request log"))
    if as_json:
        return print_json(found)
    for label, value in (
        ("id", found.id), ("received", when(found.received_at)),
        ("answered", when(found.answered_at)), ("sender", found.sender),
        ("token", found.token or ""), ("size", f"{found.size:,} bytes"),
        ("content type", found.content_type or ""), ("format", found.format or ""),
        ("status", found.status), ("acknowledged", found.acknowledged),
        ("latency", f"{found.latency_ms:.1f} ms"), ("ids", ", ".join(map(str, found.ids))),
        ("note", found.note or ""), ("replay of", found.replay_of or ""),
    ):  # fmt: skip
        typer.echo(f"{label + ':':<14}{value}")
    typer.echo(f"--- body ({found.body_encoding or 'not kept'})")
    typer.echo(found.body or "")
    typer.echo(f"--- answer ({found.answer_encoding or 'not kept'})")
    typer.echo(found.answer or "")


def replay(request_id: REQUEST_ID) -> None:
    """Run a recorded request's body through the webhook's reading and recording again, as it
    would be now (after fixing a setting that refused or quarantined it), and print the answer
    the webhook would give. Reports stored already are repeats: acknowledged, nothing new
    folded. The replay is recorded in the request log, naming the original."""
    settings = load_settings()
    with _request_log(settings) as (tracker, store):
        original = reads.request_record(store, request_id)
        if original is None:
            fail(LookupError(f"no request {request_id} in the request log"))
        refusal = replay_refusal(original, Access(settings))
        if refusal:
            fail(ValueError(refusal[1]))
        received_at, started, what = datetime.now(UTC), time.perf_counter(), Seen()

        async def record(batch: Batch) -> Receipt:
            return await anyio.to_thread.run_sync(partial(_record, tracker, batch))

        try:
            answer = anyio.run(take, original.body or b"", record, what)
        except StoreUnavailable as e:
            fail(e)
        if settings.request_log:  # TRACKER_REQUEST_LOG=false: nothing is recorded, as in serve
            store.insert(
                [
                    replayed(
                        original, what, answer.status, answer.content, "cli", received_at, started
                    )
                ]
            )
    typer.echo(f"status {answer.status}, {what.acknowledged} id(s) acknowledged", err=True)
    typer.echo(answer.content.decode("utf-8", "replace"))
    if answer.status != 200:
        raise typer.Exit(1)


def _record(tracker: Tracker, batch: Batch) -> Receipt:
    return tracker.record_batches([batch])[0]
