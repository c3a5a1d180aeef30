"""Ingest benchmark: the real server over loopback HTTP, next to the store's raw insert rate.

    .venv/bin/python bench/ingest.py [--store sqlite|postgres|both] [--seconds 10]

For each store, in one run: (1) the raw batched insert rate of event-sized rows into a table
shaped like the event store's, 100 rows per transaction, with the same durability; (2) the
tracker serving on a fresh store, driven by bench/loadgen.py in its own process. Prints a
Markdown table with the ratio between the two (the machines are shared and noisy, so only
same-run ratios are compared) and the server's peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

HERE = Path(__file__).parent
POSTGRES = os.environ.get("TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TOPIC = "tracker.domain.message:Message.StatusReported"
STATE = b"x" * 330  # a stored report event is about 330 bytes


def raw_insert_rate_sqlite(folder: Path, seconds: float) -> float:
    db = sqlite3.connect(folder / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    rows = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        batch = [(uuid.uuid4().hex, 1, TOPIC, STATE) for _ in range(100)]
        db.execute("BEGIN")
        db.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", batch)
        db.execute("COMMIT")
        rows += 100
    elapsed = time.perf_counter() - began
    db.close()
    return rows / elapsed


def raw_insert_rate_postgres(schema: str, seconds: float) -> float:
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(
            f'CREATE TABLE "{schema}".raw_events (notification_id BIGSERIAL, '
            "originator_id UUID, originator_version INTEGER, topic TEXT, state BYTEA, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        rows = 0
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            batch = [(uuid.uuid4(), 1, TOPIC, STATE) for _ in range(100)]
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(
                    f'INSERT INTO "{schema}".raw_events '
                    "(originator_id, originator_version, topic, state) VALUES (%s,%s,%s,%s)",
                    batch,
                )
            rows += 100
        return rows / (time.perf_counter() - began)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(database_url: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_PORT": str(port),
        "TRACKER_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tracker", "serve"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/schema/openapi.json", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(log.read_text())


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_store(kind: str, args: argparse.Namespace) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"tracker-bench-{kind}-"))
    schema = f"tracker_bench_{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        raw = raw_insert_rate_sqlite(folder, args.raw_seconds)
        database_url = f"sqlite:///{folder / 'tracker.db'}"
    else:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        raw = raw_insert_rate_postgres(schema, args.raw_seconds)
        database_url = f"{POSTGRES}?schema={schema}"
    process, url = serve(database_url, folder / "server.log")
    try:
        load = subprocess.run(
            [
                sys.executable,
                str(HERE / "loadgen.py"),
                url,
                "--seconds",
                str(args.seconds),
                "--connections",
                str(args.connections),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(load.stdout)
        result["peak_rss_mb"] = round(peak_rss_mb(process.pid), 1)
    finally:
        process.terminate()
        process.wait(timeout=30)
        if kind == "postgres":
            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    result["store"] = kind
    result["raw_rows_per_s"] = round(raw)
    result["ratio"] = round(result["statuses_per_s"] / raw, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--raw-seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    results = [run_store(kind, args) for kind in kinds]
    print(
        "| store | raw insert rows/s | ingest statuses/s | ratio | POST p50 ms | POST p99 ms "
        "| errors | server peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['store']} | {r['raw_rows_per_s']:,} | {r['statuses_per_s']:,} | "
            f"{r['ratio']:.0%} | {r['p50_ms']} | {r['p99_ms']} | {r['errors'] or 0} | "
            f"{r['peak_rss_mb']} |"
        )
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
