"""The commands that only read, for people at a terminal: history, messages, stats, quarantine
and export. They never create a store: pointed at the wrong place they say where they looked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.table import Table

from tracker.bootstrap import noted_as_of
from tracker.cli import breakdown
from tracker.cli.options import (
    CONFLICT,
    JSON,
    LIMIT,
    OUT,
    TIME_FORMS,
    VIEWS_FILE,
    fail,
    load_settings,
    parse_instant,
    platform_time,
    print_json,
    progress_bar,
    read_views,
    reader,
    reading_views,
    when,
)
from tracker.domain.ids import message_number
from tracker.read import export as exports
from tracker.read import queries
from tracker.read.breakdown import day_filter
from tracker.read.models import RegistrationRecord, ReportRecord


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
    said, whether it was applied or rejected, and the state it left the message in; and its
    registrations (what was sent) in their place, a conflict marked. Read from the event store
    itself, so it is never behind.

    Times: "received" is the tracker's clock in UTC; "time" is the platform's own time as it
    sent it, with the offset from UTC it was read in (TRACKER_TIMEZONE, Moscow by default)."""
    number = message_number(id_sms)
    if number is None:
        fail(ValueError(f"id_sms must be ASCII digits from 0 to 2^63-1: {id_sms!r}"))
    tracker = reader()
    answer = queries.history(tracker, number, as_of, limit=None, cut=None)
    tracker.close()
    if answer is None:
        at = f" at or before {when(as_of)}" if as_of else ""
        typer.secho(f"no status was received for id_sms {number}{at}", err=True)
        raise typer.Exit(1)
    if as_json:
        return print_json(answer)
    title = f"id_sms {number}: {answer.state or 'no known state'}"
    if answer.registration is not None:
        title += f", registered{_sent(answer.registration)}"
    table = Table(title=title + (f", as of {when(as_of)}" if as_of else ""))
    # The instant of receipt is never broken (it is what --as-of takes); a long reason folds.
    table.add_column("received", no_wrap=True)
    for column in ("id_sms as sent", "state", "time", "outcome", "state after"):
        table.add_column(column, overflow="fold")
    details = [report_details(r) for r in answer.reports]
    shown = any(details) or bool(answer.registrations)  # a registration's values go there
    if shown:  # only when a report came by a poll, said more or came more than once
        table.add_column("details", overflow="fold")
    registrations = iter(answer.registrations)
    following = next(registrations, None)
    for n, (r, more) in enumerate(zip(answer.reports, details, strict=True)):
        while following is not None and following.before <= n:
            table.add_row(*registration_row(following), style=STYLES[following.outcome])
            following = next(registrations, None)
        style = "red" if r.outcome == "rejected" else ("dim" if r.outcome != "applied" else "")
        outcome = r.outcome if r.reason is None else f"{r.outcome}: {r.reason}"
        table.add_row(
            when(r.received_at), msgspec.json.encode(r.id_sms).decode(), r.state,
            platform_time(r.time, r.instant), outcome, r.state_after or "—",
            *([more] if shown else []), style=style,
        )  # fmt: skip
    while following is not None:  # received after every report
        table.add_row(*registration_row(following), style=STYLES[following.outcome])
        following = next(registrations, None)
    OUT.print(table)


STYLES = {"registered": "cyan", "conflict": "bold yellow", "rejected": "red"}


def registration_row(g: RegistrationRecord) -> list[str]:
    """A registration as a row of the history: "registration" in the state column, the sending
    time in the time column, its outcome (a conflict in capitals: it is never applied)."""
    outcome = "CONFLICT (not applied)" if g.outcome == "conflict" else g.outcome
    outcome = outcome if g.reason is None else f"{outcome}: {g.reason}"
    said = [f"{k} {v}" for k in ("sender", "campaign", "channel") if (v := getattr(g, k))]
    said += [f"{g.parts} part(s)"] * (g.parts is not None)
    sent = when(g.sent_at) if g.sent_at else "—"
    id_sent = msgspec.json.encode(g.id_sms).decode()
    return [when(g.received_at), id_sent, "registration", sent, outcome, "—", "; ".join(said)]


def _sent(g: RegistrationRecord) -> str:
    return f" (sent {when(g.sent_at)})" if g.sent_at else ""


def report_details(r: ReportRecord) -> str:
    """What a report said beyond its state, how it came when not by the webhook, and how often:
    ``by poll; sms: not_deliver, viber: read; 2 part(s) at 10.6 each; received 3 times``."""
    parts = [] if r.source == "webhook" else [f"by {r.source}"]
    if r.channels:
        parts.append(", ".join(f"{k}: {v}" for k, v in sorted(r.channels.items())))
    if r.num_parts is not None or r.price is not None:
        parts.append(
            " ".join(
                [f"{r.num_parts} part(s)"] * (r.num_parts is not None)
                + [f"at {r.price} each"] * (r.price is not None)
            )
        )
    if r.deliveries > 1:
        parts.append(f"received {r.deliveries} times")
    return "; ".join(parts)


def _either_or(flags: str, text: str) -> Any:
    """An option that keeps only what has a property, or only what has not; unset, both."""
    return typer.Option(flags, help=text, show_default=False)


OVERDUE = (
    "A message is overdue when it is not final TRACKER_OVERDUE_AFTER (72h by default) after its "
    "first report, by the tracker's clock now (with --views, at the instant those views stand "
    "at)."
)


def _clock(views_file: Path | None) -> dict[str, Any]:
    """What overdue is read against: TRACKER_OVERDUE_AFTER, and the time now, or the instant a
    rebuild's output file stands at."""
    noted = noted_as_of(views_file) if views_file is not None else None
    now = datetime.fromisoformat(noted) if noted else datetime.now(UTC)
    return {"now": now, "overdue_after": load_settings().overdue_age}


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
        _either_or(
            "--final/--not-final",
            "Only messages in a final state (read, not_deliver, expired), or only the others.",
        ),
    ] = None,
    conflict: Annotated[
        bool | None,
        _either_or(
            "--conflict/--no-conflict",
            f"Only messages with a conflict, or only those without. {CONFLICT}",
        ),
    ] = None,
    overdue: Annotated[
        bool | None,
        _either_or(
            "--overdue/--not-overdue",
            f"Only overdue messages, or only the others. {OVERDUE}",
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
        fail(e)
    try:
        with reading_views(views_file) as views:
            clock = _clock(views_file)  # once the file is known to hold views
            chosen = queries.MessageFilter(
                state=state, final=final, conflict=conflict, overdue=overdue
            )
            page = queries.list_messages(views, chosen, cursor=cursor, limit=limit, **clock)
    except queries.BadCursor as e:
        fail(e)
    if as_json:
        return print_json(page)
    if not page.messages:
        OUT.print("no message matches" if cursor is None else "no more messages")
        return
    table = Table()
    for column in ("id_sms", "state", "time", "final", "conflict", "overdue", "reports"):
        table.add_column(column)
    table.add_column("last received", no_wrap=True)
    for m in page.messages:
        table.add_row(
            str(m.id_sms), m.state or "—", platform_time(m.time, m.instant),
            "yes" if m.final else "", "yes" if m.conflict else "",
            "yes" if m.overdue else "", str(m.reports),
            when(m.last_received_at),
        )  # fmt: skip
    OUT.print(table)
    if page.next:
        OUT.print(f"next page: --cursor {page.next}")


def stats(
    days: Annotated[
        int, typer.Option(metavar="DAYS", help="Days of per-day figures, 1 to 366.")
    ] = 31,
    views_file: VIEWS_FILE = None,
    as_json: JSON = False,
    by: Annotated[
        str | None,
        typer.Option(metavar="BY", help="Group by sender, campaign, channel or day instead."),
    ] = None,
    day_from: Annotated[
        str | None, typer.Option("--from", metavar="DAY", help="With --by: first sending day.")
    ] = None,
    day_to: Annotated[
        str | None, typer.Option("--to", metavar="DAY", help="With --by: last day, inclusive.")
    ] = None,
    plot: Annotated[
        bool, typer.Option("--plot", help="With --by: a chart of volume and delivery rate.")
    ] = False,
) -> None:
    """How many messages there are in each state, how many are final, how many have a
    conflict and how many are overdue, and how long delivery took (50th, 90th and 99th
    percentiles, per day and overall), measured on the tracker's clock from a message's first
    report to its delivery.

    A conflict is a report that comes after the message's final state by the platform's times
    (a status after expired, or read after an earlier not_deliver). A message is overdue when
    it is not final TRACKER_OVERDUE_AFTER (72h by default) after its first receipt
    (its first report, or its registration if that came first).

    With --by: the messages sent on each day from --from to --to (UTC dates, both inclusive),
    by sender, campaign, channel or day: delivery rate, pending share, p50/p95/p99 of the time
    from sending to delivery, counts by state (definitions: docs/views.md)."""
    if by is None and (plot or day_from or day_to):
        fail(ValueError("--from, --to and --plot apply only with --by (sender, campaign, "
                        "channel or day)"))  # fmt: skip
    if by is not None:
        return _breakdown(by, day_from, day_to, views_file, as_json=as_json, plot=plot)
    if not 1 <= days <= 366:
        fail(ValueError(f"--days is from 1 to 366, not {days}"))
    with reading_views(views_file) as views:
        answer = queries.stats(views, days, **_clock(views_file))
    if as_json:
        return print_json(answer)
    OUT.print(
        f"{answer.messages:,} messages, {answer.final:,} final ({answer.final_share:.1%}), "
        f"{answer.conflicts:,} with a conflict, {answer.overdue:,} overdue (not final "
        f"{load_settings().overdue_after} after their first receipt)"
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


def _breakdown(
    by: str | None, first: str | None, last: str | None, views_file: Path | None, **how: bool
) -> None:
    try:
        day_from, day_to = day_filter("--from", first), day_filter("--to", last)
        with reading_views(views_file) as views:
            answer = queries.breakdown(views, by or "", day_from, day_to)
    except (queries.BadFilter, queries.BreakdownIncomplete) as e:
        fail(e)
    breakdown.show(answer, **how)


def quarantine(
    limit: LIMIT = 50,
    views_file: VIEWS_FILE = None,
    as_json: JSON = False,
) -> None:
    """Input that named no message (an item without a usable id_sms, a body that is not a
    list of items), most recently received first, with the reason it was set aside. Nothing
    sent is ever dropped: it is kept here instead."""
    with reading_views(views_file) as views:
        answer = queries.quarantine(views, limit)
    if as_json:
        return print_json(answer)
    table = Table(title=f"{answer.total} item{'' if answer.total == 1 else 's'}")
    table.add_column("last received", no_wrap=True)
    for column in ("kind", "receipts", "reason", "raw"):
        table.add_column(column)
    for i in answer.items:
        raw = i.raw if len(i.raw) <= 60 else i.raw[:59] + "…"
        table.add_row(when(i.last_received_at), i.kind, str(i.receipts), i.reason,
                      raw if i.encoding == "utf-8" else f"(base64) {raw}")  # fmt: skip
    OUT.print(table)


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
        fail(ValueError(f"export messages or reports, not {what!r}"))
    if fmt not in exports.FORMATS:
        fail(ValueError(f"--format must be one of {', '.join(exports.FORMATS)}, not {fmt!r}"))
    if what == "reports" and views_file is not None:
        fail(ValueError("--views holds the views only: reports come from the event store"))
    if what == "messages":
        tracker, views = read_views(views_file)
        rows, fields = exports.message_rows(views), exports.MESSAGE_FIELDS
        total = sum(n for _, _, n in views.state_counts())
    else:
        tracker = reader()
        rows, fields = exports.report_rows(tracker), exports.REPORT_FIELDS
        total = tracker.recorder.max_notification_id() or 0
    with progress_bar(f"exporting {what}", total, what) as bar:

        def advance(n: int) -> None:
            bar.advance(n, n)

        try:
            written = exports.write(rows, fields, fmt, out, advance)
        except RuntimeError as e:
            fail(e)
        bar.finish()
    if tracker:
        tracker.close()
    typer.echo(f"wrote {written:,} {what} to {out} ({fmt})")
