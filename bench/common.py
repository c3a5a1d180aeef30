"""What the benchmarks share: a fresh store to measure on, its bytes on disk, and their tables."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

import psycopg

POSTGRES = os.environ.get("TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def fresh_store(kind: str, folder: Path, name: str) -> tuple[str, str | None]:
    """A database URL on an empty store, and the PostgreSQL schema to drop afterwards."""
    if kind == "sqlite":
        return f"sqlite:///{folder / name}.db", None
    schema = f"tracker_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{POSTGRES}?schema={schema}", schema


def drop(schema: str | None) -> None:
    if schema:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    """A Markdown table, as docs/benchmarks.md quotes it."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def bytes_on_disk(database_url: str, schema: str | None) -> int:
    """What a store takes on disk, events and views together, once the server is stopped.

    SQLite: every database file of the store's name in its folder (the events file, and the
    tracker's views file ``NAME.views.db`` beside it), each WAL checkpointed into its file
    first (``wal_checkpoint(TRUNCATE)``), with whatever WAL and shared-memory files remain.
    PostgreSQL: ``pg_total_relation_size`` (table, indexes, TOAST) of every table of the
    store's schema."""
    if schema is None:
        path = Path(database_url.removeprefix("sqlite:///"))
        stem = path.name.removesuffix(".db")
        files = [f for f in path.parent.iterdir() if f.name.startswith(f"{stem}.")]
        for f in files:
            if f.name.endswith(".db"):
                db = sqlite3.connect(f, isolation_level=None)
                try:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    db.close()
        return sum(
            f.stat().st_size
            for f in path.parent.iterdir()
            if f.name.startswith(f"{stem}.") and f.name.endswith((".db", "-wal", "-shm"))
        )
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(format('%%I.%%I', schemaname, "
            "tablename)::regclass)), 0) FROM pg_tables WHERE schemaname = %s",
            [schema],
        ).fetchone()
    return int(row[0]) if row else 0
