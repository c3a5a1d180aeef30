"""What the benchmarks share: a fresh store to measure on, and their Markdown tables."""

from __future__ import annotations

import os
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
