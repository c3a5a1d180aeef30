"""Exports for analysts: the messages view or every report, streamed to CSV, JSON Lines or Parquet.

Rows are read and written a page at a time, so memory stays flat however large the store.
Parquet needs the optional ``parquet`` extra (pyarrow). What each format writes, and why a CSV
cell may start with a quote that the value has not: docs/views.md, "Exports".
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from tracker.application import Tracker
from tracker.read.models import NO_KNOWN_STATE
from tracker.read.queries import WEBHOOK
from tracker.views.log import EventLog
from tracker.views.rows import channel_states
from tracker.views.store import ViewStore
from tracker.views.tables import MESSAGE_COLUMNS, iso

FORMATS = ("csv", "jsonl", "parquet")
STREAMED = ("csv", "jsonl")
MESSAGE_FIELDS = (
    "id_sms", "state", "time", "instant", "final", "conflict", "reports",
    "first_received_at", "last_received_at", "delivered_at", "channels",
)  # fmt: skip
REPORT_FIELDS = (
    "id_sms", "id_sms_as_sent", "received_at", "state", "time", "instant", "outcome", "reason",
    "raw", "raw_encoding", "source", "channels", "num_parts", "price",
)  # fmt: skip
TIMES = ("instant", "first_received_at", "last_received_at", "delivered_at", "received_at")
PAGE = 5000


def message_rows(views: ViewStore) -> Iterator[dict[str, Any]]:
    """The messages view, row by row in id order (times as ISO 8601 UTC text ending in Z)."""
    booleans = ("final", "conflict")
    for values in views.scan("messages"):
        row = dict(zip(MESSAGE_COLUMNS, values, strict=True))
        row["channels"] = channel_states(row["channels"])
        yield {
            f: bool(row[f]) if f in booleans else _z(row[f]) if f in TIMES else row[f]
            for f in MESSAGE_FIELDS
        }


def report_rows(tracker: Tracker) -> Iterator[dict[str, Any]]:
    """Every stored report in the order it was stored (which is arrival order per message)."""
    log = EventLog(tracker, exact=True, registrations=False)  # every report as stored
    head, position = log.head(), 0
    while position < head:
        facts, _, position = log.page(position, head, PAGE)
        for f in facts:
            if f.again:  # a repeat: its report's row is there already
                continue
            yield {
                "id_sms": f.id_sms,
                "id_sms_as_sent": f.id_sms if f.id_sent is None else f.id_sent,
                "received_at": _z(iso(f.received_at)),
                "state": f.state,
                "time": f.time,
                "instant": _z(iso(f.instant)),
                "outcome": f.outcome,
                "reason": f.report.reason,
                "raw": f.raw,
                "raw_encoding": None if f.raw is None else f.raw_encoding or "utf-8",
                "source": f.source or WEBHOOK,
                "channels": f.channels,
                "num_parts": f.num_parts,
                "price": f.price,
            }


def _z(stored: str | None) -> str | None:
    """The views' fixed-width UTC text (``...T09:00:00.000000+00:00``) as the API writes UTC, with
    Z (``...T09:00:00.000000Z``): still fixed-width, so text order stays time order."""
    if stored is None:
        return None
    if stored.endswith("+00:00"):
        return stored[:-6] + "Z"
    return iso(datetime.fromisoformat(stored))[:-6] + "Z"  # type: ignore[index]


def write(
    rows: Iterator[dict[str, Any]],
    fields: tuple[str, ...],
    fmt: str,
    out: Path,
    on_row: Callable[[int], None] | None = None,
) -> int:
    """Write rows to ``out`` in ``fmt``; returns how many were written."""
    on_row = on_row or (lambda n: None)
    if fmt == "parquet":
        return _parquet(rows, fields, out, on_row)
    counted = _counting(rows, on_row)
    with out.open("wb") as f:
        for chunk in encode(counted, fields, fmt):
            f.write(chunk)
    return counted.n


def encode(rows: Iterator[dict[str, Any]], fields: tuple[str, ...], fmt: str) -> Iterator[bytes]:
    """CSV (with a header line) or JSON Lines, a chunk of PAGE rows at a time, for streaming."""
    if fmt not in STREAMED:
        raise ValueError(f"{fmt} cannot be streamed: use one of {', '.join(STREAMED)}")
    if fmt == "jsonl":
        encode_row = msgspec.json.encode
        for page in _pages(rows):
            yield b"".join(encode_row(row) + b"\n" for row in page)
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    for page in _pages(_as_cells(_typed_as_text(rows, fields))):
        writer.writerows(page)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


# Columns whose values are a number or a string, which a CSV or Parquet cell of text cannot
# tell apart (3234 and "3234"), or an object (channels): written there as their JSON text.
TYPED = ("id_sms_as_sent", "channels")


def _typed_as_text(
    rows: Iterable[dict[str, Any]], fields: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    typed = [f for f in TYPED if f in fields]
    if not typed:
        yield from rows
        return
    for row in rows:
        yield {
            **row,
            **{f: msgspec.json.encode(row[f]).decode() for f in typed if row[f] is not None},
        }


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection"):
# such a cell gets a ' in front, which spreadsheets read as "text follows". A cell that starts
# with ' gets one too, so that dropping one leading ' always gives the value back.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def _as_cells(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """CSV cells: booleans as true/false (as in JSON), a message with no known state labelled as
    everywhere else text is shown, and formulas neutralised; None stays an empty cell."""
    for row in rows:
        cells = {}
        for field, value in row.items():
            if value is True or value is False:
                value = "true" if value else "false"
            elif isinstance(value, str):
                if value.startswith(FORMULA_STARTS):
                    value = "'" + value
            elif value is None and field == "state":
                value = NO_KNOWN_STATE
            cells[field] = value
        yield cells


def _pages(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    rows = iter(rows)
    while page := list(itertools.islice(rows, PAGE)):
        yield page


class _counting:
    """Rows passed through, counted, with ``on_row(n)`` every PAGE rows and at the end."""

    def __init__(self, rows: Iterator[dict[str, Any]], on_row: Callable[[int], None]):
        self.rows, self.on_row, self.n = rows, on_row, 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self.rows:
            self.n += 1
            if self.n % PAGE == 0:
                self.on_row(self.n)
            yield row
        self.on_row(self.n)


def _parquet(rows, fields, out, on_row) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise RuntimeError(
            "parquet needs pyarrow: pip install 'tracker[parquet]' (or use csv or jsonl)"
        ) from None
    types = {"id_sms": pa.int64(), "final": pa.bool_(), "conflict": pa.bool_(),
             "reports": pa.int64(), "num_parts": pa.int64(), "price": pa.float64()}  # fmt: skip
    types |= {f: pa.timestamp("us", tz="UTC") for f in TIMES}  # typed instants, in UTC
    schema = pa.schema([(f, types.get(f, pa.string())) for f in fields])
    times = [f for f in TIMES if f in fields]
    n, batch = 0, []
    with pq.ParquetWriter(out, schema) as writer:
        for row in _typed_as_text(rows, fields):
            batch.append({**row, **{f: _instant(row[f]) for f in times}})
            if len(batch) == PAGE:
                writer.write_table(pa.Table.from_pylist(batch, schema))
                n += len(batch)
                batch = []
                on_row(n)
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema))
            n += len(batch)
    on_row(n)
    return n


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
