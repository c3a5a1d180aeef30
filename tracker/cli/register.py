"""tracker register FILE: registrations from a CSV or JSON Lines file, in batches, stored."""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import msgspec
import typer

from tracker.application import Batch, Receipt
from tracker.cli.options import fail, load_settings, open_tracker_or_fail, progress_bar
from tracker.domain.registration import CONFLICT, REGISTERED, REJECTED
from tracker.web.sent_intake import KEYS, Registrations, read_item

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
BATCH = 1000  # items a transaction stores
DIGITS = 18  # an id_sms or parts of at most this many ASCII digits is a JSON number


def register(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="A CSV file with a header row (id_sms, sent_at, sender, campaign, channel, "
            "parts; only id_sms is needed), or JSON Lines (one object a line, as POST "
            "/messages/sent takes in its array); - reads standard input (give --format).",
        ),
    ],
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="csv|jsonl",
            help="The file's format, when its name does not end in .csv, .jsonl or .ndjson.",
            show_default=False,
        ),
    ] = None,
    batch: Annotated[
        int, typer.Option(metavar="N", help="Registrations stored per transaction.")
    ] = BATCH,
) -> None:
    """Register what was sent, from a file, as POST /messages/sent does: the first registration
    of a message stands, the same one again records nothing (running a file twice registers
    nothing new), a different one is recorded as a conflict and never applied, and a line with
    a value that cannot be read is recorded as rejected with the reason. A line whose id_sms
    names no message is quarantined and reported with its line number. Prints a summary."""
    kind = file_format or FORMATS.get(Path(file).suffix.lower())
    if kind not in ("csv", "jsonl"):
        fail(ValueError(f"{file}: say --format csv or --format jsonl (the name does not tell)"))
    if batch < 1:
        fail(ValueError(f"--batch is a number of registrations, 1 or more: not {batch}"))
    settings = load_settings()
    try:
        stream = sys.stdin.buffer if file == "-" else Path(file).open("rb")  # noqa: SIM115
    except OSError as e:
        fail(ValueError(f"{file}: {e.strerror or e}"))
    size = 0 if file == "-" else Path(file).stat().st_size
    tracker = open_tracker_or_fail(settings)
    zone = tracker.local_zone
    totals: Counter[str] = Counter()
    try:
        items = _csv_items(stream) if kind == "csv" else _jsonl_items(stream)
        with progress_bar("registering", size, "lines") as bar:
            lines = 0
            for chunk in _chunks(items, batch):
                intake = Registrations()
                for line, raw in chunk:
                    reason = read_item(raw, intake, zone)
                    if reason is not None:
                        typer.secho(f"line {line}: quarantined: {reason}", err=True)
                intake.finish()
                [receipt] = tracker.record_batches(
                    [Batch((), tuple(intake.unusable), registrations=tuple(intake.registrations))]
                )
                _count(totals, receipt, len(intake.registrations))
                lines += len(chunk)
                bar.advance(stream.tell() if size else lines, lines)
            bar.finish(events=lines)
    except ValueError as e:  # a header that is not ours, a file that is not text
        fail(e)
    finally:
        tracker.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    typer.echo(
        ", ".join(f"{totals[k]:,} {k}" for k in (REGISTERED, CONFLICT, REJECTED, "duplicate"))
        + f", {totals['quarantined']:,} quarantined"
    )
    if totals["unstored"]:
        fail(ValueError(f"{totals['unstored']:,} registration(s) could not be stored: run again"))


def _count(totals: Counter[str], receipt: Receipt, items: int) -> None:
    totals.update(receipt.registrations)
    totals["duplicate"] += receipt.duplicates
    totals["quarantined"] += receipt.quarantined
    if not receipt.stored and items:  # contended past the retry budget: nothing stored
        totals["unstored"] += items


def _chunks(items: Iterator[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _jsonl_items(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Each non-blank line with its number (from 1): the item as POST /messages/sent reads it."""
    for number, line in enumerate(stream, 1):
        item = line.strip(b" \t\r\n")
        if item:
            yield number, item.removeprefix(b"\xef\xbb\xbf") if number == 1 else item


def _csv_items(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Each row of a CSV file with a header, as the JSON item it says (empty cells are not
    given; an id_sms or parts of ASCII digits is a number, else the text as it is, which the
    rules judge) and the line it begins on."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    rows = csv.reader(text)
    line = 1
    try:
        header = next(rows, None)
        if header is None:
            return
        names = [name.strip() for name in header]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # which value is it? (an item's key given twice is rejected, too)
            raise ValueError(f"the CSV header names {', '.join(map(repr, twice))} twice")
        unknown = [n for n in names if n not in KEYS]
        if unknown or "id_sms" not in names:
            raise ValueError(
                f"the CSV header must name id_sms and only these columns: {', '.join(KEYS)} "
                + (f"(not {', '.join(map(repr, unknown))})" if unknown else "(it has no id_sms)")
            )
        line = rows.line_num + 1
        while True:
            try:
                row = next(rows, None)
            except csv.Error as e:  # a cell past csv's field limit: this line alone is lost
                yield line, msgspec.json.encode({"unreadable CSV row": str(e)})
                line = rows.line_num + 1
                continue
            if row is None:
                return
            if any(cell.strip() for cell in row):
                yield line, _as_json(names, row)
            line = rows.line_num + 1
    except UnicodeDecodeError:
        raise ValueError(f"line {line} or near it: the file is not UTF-8 text") from None
    finally:
        text.detach()  # the stream is the caller's to close (standard input is not ours)


def _as_json(names: list[str], row: list[str]) -> bytes:
    item: dict[str, object] = {}
    for name, cell in zip(names, row, strict=False):
        if not cell:
            continue
        digits = name in ("id_sms", "parts") and cell.isascii() and cell.isdigit()
        number = digits and len(cell) <= DIGITS and (name == "parts" or cell[0] != "0")
        item[name] = int(cell) if number else cell  # "03234" names 3234, shown as sent
    if len(row) > len(names):
        item["columns beyond the header"] = row[len(names) :]
    return msgspec.json.encode(item)
