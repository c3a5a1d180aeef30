"""The plain receiver a user would write instead of the tracker: CRUD on the same stack.

    .venv/bin/python bench/crud.py DATABASE_URL PORT

Litestar and msgspec, sqlite3 or psycopg, and nothing of the tracker: one transaction per POST
appends every report to a history table (indexed by message, to read a message's history) and
upserts a current-state table with the rank rule written in the upsert itself (send 0 <
partly_deliver 1 < deliver 2 < read, not_deliver, expired 3, final; a higher rank replaces the
state unless it is final, and within a rank the later time wins); the ids are acknowledged only
after the commit. Same durability as the tracker: SQLite in WAL mode with synchronous=FULL,
PostgreSQL's defaults. bench/ingest.py serves it beside the tracker and bench/baseline.py and
drives the three with the same stream.

It differs from bench/baseline.py, which stays as the earlier figures measured it: that one
applies the tracker's own fold in Python after reading the current rows (tracker.domain), and
its history has no index, so a message's history cannot be read without a full scan.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import psycopg_pool
import uvicorn
from litestar import Litestar, Response, post

PLATFORM_ZONE = ZoneInfo("Europe/Moscow")  # the platform sends local wall-clock times
RANK = {"send": 0, "partly_deliver": 1, "deliver": 2, "read": 3, "not_deliver": 3, "expired": 3}
FINAL = 3

# The rank rule, in the upsert: ``current`` is the row standing, ``excluded`` the report.
APPLIES = (
    "current.rank < 3 AND (excluded.rank > current.rank OR "
    "(excluded.rank = current.rank AND excluded.time > current.time))"
)


class Item(msgspec.Struct):
    id_sms: int | str
    time: str = ""
    state: str = ""


decode = msgspec.json.Decoder(list[Item]).decode


def message_number(value: int | str) -> int | None:
    if isinstance(value, str):
        return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None
    return value if 0 <= value < 2**63 else None


def instant(time_: str) -> datetime | None:
    """The report's time as an aware instant; None when absent or unreadable."""
    if not time_:
        return None
    try:
        return datetime.fromisoformat(time_).replace(tzinfo=PLATFORM_ZONE)
    except ValueError:
        return None


class SQLiteStore:
    def __init__(self, path: str):
        self.path, self.local = path, threading.local()
        db = self._db()
        db.executescript(
            "CREATE TABLE IF NOT EXISTS history (id_sms INTEGER NOT NULL, state TEXT NOT NULL, "
            "time INTEGER, received_at INTEGER NOT NULL);"
            "CREATE INDEX IF NOT EXISTS history_by_message ON history (id_sms);"
            "CREATE TABLE IF NOT EXISTS current (id_sms INTEGER PRIMARY KEY, state TEXT NOT NULL, "
            "rank INTEGER NOT NULL, time INTEGER);"
        )

    def _db(self) -> sqlite3.Connection:
        if not hasattr(self.local, "db"):
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self.local.db = db
        return self.local.db

    def write(self, reports: list[tuple[int, str, datetime | None]]) -> None:
        received_ms = time.time_ns() // 1_000_000
        rows = [(n, s, int(t.timestamp()) if t else None) for n, s, t in reports]
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO history VALUES (?,?,?,?)", [(*row, received_ms) for row in rows]
            )
            db.executemany(
                "INSERT INTO current VALUES (?,?,?,?) ON CONFLICT (id_sms) DO UPDATE SET "
                f"state=excluded.state, rank=excluded.rank, time=excluded.time WHERE {APPLIES}",
                [(n, s, RANK[s], t) for n, s, t in rows if s in RANK],
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
        s = self.schema
        with self.pool.connection() as conn:
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{s}".history (id_sms BIGINT NOT NULL, '
                "state TEXT NOT NULL, time TIMESTAMPTZ, received_at TIMESTAMPTZ NOT NULL)"
            )
            conn.execute(f'CREATE INDEX IF NOT EXISTS history_by_message ON "{s}".history (id_sms)')
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{s}".current (id_sms BIGINT PRIMARY KEY, '
                "state TEXT NOT NULL, rank SMALLINT NOT NULL, time TIMESTAMPTZ)"
            )

    def write(self, reports: list[tuple[int, str, datetime | None]]) -> None:
        s = self.schema
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                f'INSERT INTO "{s}".history VALUES (%s,%s,%s,now())', reports
            )  # fmt: skip
            # In id order (arrival order within an id): concurrent POSTs take the rows' locks
            # in one order, so they wait for one another and never deadlock.
            cur.executemany(
                f'INSERT INTO "{s}".current AS current VALUES (%s,%s,%s,%s) ON CONFLICT (id_sms) '
                f"DO UPDATE SET state=excluded.state, rank=excluded.rank, time=excluded.time "
                f"WHERE {APPLIES}",
                sorted(
                    ((n, st, RANK[st], t) for n, st, t in reports if st in RANK),
                    key=lambda row: row[0],
                ),
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
        reports = []
        for item in items:
            number = message_number(item.id_sms)
            if number is not None:
                reports.append((number, item.state, instant(item.time)))
        store.write(reports)  # returns after the commit: only then are the ids acknowledged
        answer = [{"id_sms": item.id_sms} for item in items]
        return Response(msgspec.json.encode(answer), media_type="application/json")

    return Litestar([webhook])


if __name__ == "__main__":
    uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]),
                log_level="warning", access_log=False)  # fmt: skip
