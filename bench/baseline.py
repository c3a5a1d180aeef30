"""The baseline a user would write instead: a receiver on the same stack without event sourcing.

    .venv/bin/python bench/baseline.py DATABASE_URL PORT

One transaction per POST appends each report to a history table and upserts a current-state
table by the same rules (tracker.domain.status.prevails), with the same durability (SQLite WAL
with synchronous=FULL; PostgreSQL's defaults). No quarantine, no outcomes, no audit trail, no
views: only what a hand-written receiver would do. bench/ingest.py serves it next to the
tracker and drives both with the same load.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from datetime import UTC, datetime

import msgspec
import psycopg_pool
import uvicorn
from litestar import Litestar, Response, post

from tracker.domain.ids import message_number
from tracker.domain.status import Report, fold_step
from tracker.domain.timestamps import parse_time, zone

ZONE = zone("Europe/Moscow")


class Item(msgspec.Struct):
    id_sms: int | str
    time: str = ""
    state: str = ""


decode = msgspec.json.Decoder(list[Item]).decode


def current(rows: dict[int, Report | None], number: int, report: Report) -> None:
    rows[number] = fold_step(rows.get(number), report)


class SQLiteStore:
    def __init__(self, path: str):
        self.path, self.local = path, threading.local()
        db = self._db()
        db.execute(
            "CREATE TABLE IF NOT EXISTS history (id_sms INTEGER, state TEXT, time TEXT, "
            "received_at TEXT)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS current (id_sms INTEGER PRIMARY KEY, state TEXT, time TEXT)"
        )

    def _db(self) -> sqlite3.Connection:
        if not hasattr(self.local, "db"):
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self.local.db = db
        return self.local.db

    def write(self, items: list[tuple[int, Report]], received_at: str) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO history VALUES (?,?,?,?)",
                [(n, r.state, r.time, received_at) for n, r in items],
            )
            numbers = sorted({n for n, _ in items})
            held: dict[int, Report | None] = {}
            for n, state, time in db.execute(
                f"SELECT id_sms, state, time FROM current WHERE id_sms IN "
                f"({','.join('?' * len(numbers))})",
                numbers,
            ):
                held[n] = Report(state, time, parse_time(time, ZONE))
            for n, report in items:
                current(held, n, report)
            db.executemany(
                "INSERT INTO current VALUES (?,?,?) ON CONFLICT(id_sms) DO UPDATE SET "
                "state=excluded.state, time=excluded.time",
                [(n, r.state, r.time) for n, r in held.items() if r is not None],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


class PostgresStore:
    def __init__(self, url: str):
        base, _, schema = url.partition("?schema=")
        self.schema = schema or "public"
        self.pool = psycopg_pool.ConnectionPool(base, min_size=4, max_size=8, open=True)
        with self.pool.connection() as conn:
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.schema}".history (id_sms BIGINT, '
                "state TEXT, time TEXT, received_at TIMESTAMPTZ)"
            )
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.schema}".current (id_sms BIGINT PRIMARY KEY, '
                "state TEXT, time TEXT)"
            )

    def write(self, items: list[tuple[int, Report]], received_at: str) -> None:
        s = self.schema
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                f'INSERT INTO "{s}".history VALUES (%s,%s,%s,%s)',
                [(n, r.state, r.time, received_at) for n, r in items],
            )
            numbers = sorted({n for n, _ in items})
            cur.execute(
                f'SELECT id_sms, state, time FROM "{s}".current WHERE id_sms = ANY(%s) '
                "ORDER BY id_sms FOR UPDATE",
                [numbers],
            )
            held: dict[int, Report | None] = {
                n: Report(state, time, parse_time(time, ZONE)) for n, state, time in cur
            }
            for n, report in items:
                current(held, n, report)
            cur.executemany(
                f'INSERT INTO "{s}".current VALUES (%s,%s,%s) ON CONFLICT (id_sms) DO UPDATE '
                "SET state=excluded.state, time=excluded.time",
                sorted((n, r.state, r.time) for n, r in held.items() if r is not None),
            )


def create_app(url: str) -> Litestar:
    store = (
        SQLiteStore(url.removeprefix("sqlite:///"))
        if url.startswith("sqlite")
        else PostgresStore(url)
    )

    @post("/webhooks/webcom", status_code=200, sync_to_thread=True)
    def webhook(body: bytes) -> Response[bytes]:
        items = decode(body)
        parsed = []
        for item in items:
            number = message_number(item.id_sms)
            if number is not None:
                parsed.append((number, Report(item.state, item.time, parse_time(item.time, ZONE))))
        store.write(parsed, datetime.now(UTC).isoformat())
        answer = [{"id_sms": item.id_sms} for item in items]
        return Response(msgspec.json.encode(answer), media_type="application/json")

    return Litestar([webhook])


if __name__ == "__main__":
    uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]),
                log_level="warning", access_log=False)  # fmt: skip
