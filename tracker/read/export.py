"""Exports for analysts: the messages view or every report, streamed to CSV, JSON Lines or Parquet.

Rows are read and written a page at a time, so memory stays flat however large the store.
Parquet needs the optional ``parquet`` extra (pyarrow).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from tracker.application import Tracker
from tracker.views.log import EventLog
from tracker.views.store import MESSAGE_COLUMNS, ViewStore, iso

FORMATS = ("csv", "jsonl", "parquet")
MESSAGE_FIELDS = (
    "id_sms", "state", "time", "instant", "final", "conflict", "reports",
    "first_received_at", "last_received_at", "delivered_at",
)  # fmt: skip
REPORT_FIELDS = ("id_sms", "received_at", "state", "time", "instant", "outcome", "raw")
PAGE = 5000


def message_rows(views: ViewStore) -> Iterator[dict[str, Any]]:
    """The messages view, row by row in id order (timestamps as ISO 8601 UTC text)."""
    for values in views.scan("messages"):
        row = dict(zip(MESSAGE_COLUMNS, values, strict=True))
        yield {f: (bool(row[f]) if f in ("final", "conflict") else row[f]) for f in MESSAGE_FIELDS}


def report_rows(tracker: Tracker) -> Iterator[dict[str, Any]]:
    """Every stored report in the order it was stored (which is arrival order per message)."""
    log = EventLog(tracker)
    head, position = log.head(), 0
    while position < head:
        facts, _, position = log.page(position, head, PAGE)
        for f in facts:
            yield {
                "id_sms": f.id_sms,
                "received_at": iso(f.received_at),
                "state": f.state,
                "time": f.time,
                "instant": iso(f.instant),
                "outcome": f.outcome,
                "raw": f.raw,
            }


def write(
    rows: Iterator[dict[str, Any]],
    fields: tuple[str, ...],
    fmt: str,
    out: Path,
    on_row: Callable[[int], None] | None = None,
) -> int:
    """Write rows to ``out`` in ``fmt``; returns how many were written."""
    writer = {"csv": _csv, "jsonl": _jsonl, "parquet": _parquet}[fmt]
    return writer(rows, fields, out, on_row or (lambda n: None))


def _csv(rows, fields, out, on_row) -> int:
    n = 0
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for n, row in enumerate(rows, 1):
            writer.writerow(row)
            if n % PAGE == 0:
                on_row(n)
    on_row(n)
    return n


def _jsonl(rows, fields, out, on_row) -> int:
    encode, n = msgspec.json.encode, 0
    with out.open("wb") as f:
        for n, row in enumerate(rows, 1):
            f.write(encode(row) + b"\n")
            if n % PAGE == 0:
                on_row(n)
    on_row(n)
    return n


def _parquet(rows, fields, out, on_row) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise RuntimeError(
            "parquet needs pyarrow: pip install 'tracker[parquet]' (or use csv or jsonl)"
        ) from None
    types = {"id_sms": pa.int64(), "final": pa.bool_(), "conflict": pa.bool_(),
             "reports": pa.int64()}  # fmt: skip
    schema = pa.schema([(f, types.get(f, pa.string())) for f in fields])
    n, batch = 0, []
    with pq.ParquetWriter(out, schema) as writer:
        for row in rows:
            batch.append(row)
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
