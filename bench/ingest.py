"""Ingest benchmark: the real server over loopback HTTP, next to the store's raw insert rate
and next to a hand-written receiver without event sourcing (bench/baseline.py).

    .venv/bin/python bench/ingest.py [--store sqlite|postgres|both] [--seconds 10] [--rounds 3]

For each store, in one run: (1) the raw batched insert rate of event-sized rows into a table
shaped like the event store's and keyed as the tracker keys messages, 100 rows per transaction,
with the same durability; (2) the baseline receiver on a fresh store, driven by
bench/loadgen.py in its own process; (3) the tracker on a fresh store, driven the same way
flat out; (1)-(3) repeated in ``--rounds`` paired rounds (default 3, the order of the two
servers alternating), each ratio taken within its round; then, after the last round, the
tracker's projection lag and the seconds the views took to catch up, and (4) the tracker again
at half the POST rate it reached, for the latency there. Prints Markdown tables: the round
with the median tracker / baseline ratio, every round's ratios (the machines are shared and
noisy: a baseline measured a minute apart varied from 19,000 to 37,000 statuses/s, so only
ratios within a round are compared), and the servers' peak memory.
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
from contextlib import suppress
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import POSTGRES, drop, fresh_store, print_table
from tracker.domain.ids import message_id

HERE = Path(__file__).parent
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
        batch = [(message_id(rows + i).hex, 1, TOPIC, STATE) for i in range(100)]
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
            batch = [(message_id(rows + i), 1, TOPIC, STATE) for i in range(100)]
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


def serve(database_url: str, log: Path, baseline: bool = False) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_PORT": str(port),
        "TRACKER_LOG_LEVEL": "warning",
        "PYTHONPATH": str(HERE.parent),
    }
    command = (
        [sys.executable, str(HERE / "baseline.py"), database_url, str(port)]
        if baseline
        else [sys.executable, "-m", "tracker", "serve"]
    )
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
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
    """Peak resident memory of a process and its children (`tracker serve` runs its writer and
    its projector as child processes), summed."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            total += int(line.split()[1]) / 1024
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(FileNotFoundError):
            for child in (task / "children").read_text().split():
                total += peak_rss_mb(int(child))
    return total


def drive(url: str, args: argparse.Namespace, rate: float = 0.0) -> dict:
    """bench/loadgen.py against ``url``, in its own process; its JSON summary."""
    command = [sys.executable, str(HERE / "loadgen.py"), url, "--seconds", str(args.seconds),
               "--connections", str(args.connections), "--rate", str(rate)]  # fmt: skip
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def run_server(kind, folder, name, args, *, baseline=False, then=None) -> dict:
    database_url, schema = fresh_store(kind, folder, name)
    process, url = serve(database_url, folder / f"{name}.log", baseline=baseline)
    try:
        result = drive(url, args)
        if then:
            result.update(then(url, result))
        result["peak_rss_mb"] = round(peak_rss_mb(process.pid), 1)
    finally:
        process.terminate()
        process.wait(timeout=30)
        drop(schema)
    return result


def lag_then_half_rate(args: argparse.Namespace):
    def measure(url: str, flat_out: dict) -> dict:
        ready = httpx.get(f"{url}/health/ready", timeout=30).json()["projection"]
        began = time.monotonic()
        while httpx.get(f"{url}/health/ready", timeout=30).json()["projection"]["lag"] > 0:
            time.sleep(0.05)
        caught_up = time.monotonic() - began
        half = drive(url, args, rate=flat_out["posts"] / flat_out["seconds"] / 2)
        return {
            "lag_events": ready["lag"],
            "catch_up_s": round(caught_up, 2),
            "half_rate_p50_ms": half["p50_ms"],
            "half_rate_p99_ms": half["p99_ms"],
            "half_rate_statuses_per_s": half["statuses_per_s"],
        }

    return measure


def raw_insert_rate(kind: str, folder: Path, args: argparse.Namespace) -> float:
    if kind == "sqlite":
        return raw_insert_rate_sqlite(folder, args.raw_seconds)
    _, schema = fresh_store(kind, folder, "raw")
    try:
        return raw_insert_rate_postgres(schema, args.raw_seconds)
    finally:
        drop(schema)


def run_store(kind: str, args: argparse.Namespace) -> dict:
    """``args.rounds`` paired rounds (raw rate, baseline, tracker; which server goes first
    alternates), each ratio taken within its round; the lag and the half-rate run follow the
    last round's tracker. The result holds the round whose tracker/baseline ratio is the median."""
    rounds = []
    for n in range(args.rounds):
        folder = Path(tempfile.mkdtemp(prefix=f"tracker-bench-{kind}-"))  # fresh stores
        raw = raw_insert_rate(kind, folder, args)
        then = lag_then_half_rate(args) if n == args.rounds - 1 else None
        order = ["baseline", "tracker"] if n % 2 == 0 else ["tracker", "baseline"]
        runs = {
            name: run_server(kind, folder, name, args, baseline=name == "baseline",
                             then=then if name == "tracker" else None)
            for name in order
        }  # fmt: skip
        result, baseline = runs["tracker"], runs["baseline"]
        result["raw_rows_per_s"] = round(raw)
        result["baseline_statuses_per_s"] = baseline["statuses_per_s"]
        result["baseline_p99_ms"] = baseline["p99_ms"]
        result["ratio"] = round(result["statuses_per_s"] / raw, 3)
        result["vs_baseline"] = round(result["statuses_per_s"] / baseline["statuses_per_s"], 3)
        rounds.append(result)
    median = sorted(rounds, key=lambda r: r["vs_baseline"])[len(rounds) // 2]
    return {
        **rounds[-1],  # the lag and the half-rate figures
        **median,
        "store": kind,
        "rounds": [{k: r[k] for k in ROUND_FIGURES} for r in rounds],
    }


ROUND_FIGURES = ("raw_rows_per_s", "baseline_statuses_per_s", "statuses_per_s", "ratio",
                 "vs_baseline")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--raw-seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=3, help="paired baseline/tracker rounds (median reported)"
    )
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    results = [run_store(kind, args) for kind in kinds]
    print(f"The round with the median tracker / baseline ratio of {args.rounds}:\n")
    print_table(
        ["store", "raw insert rows/s", "baseline receiver statuses/s", "tracker statuses/s",
         "tracker / raw", "tracker / baseline", "POST p50 ms", "POST p99 ms", "errors",
         "server peak RSS MB (with its child processes)"],
        [[r["store"], f"{r['raw_rows_per_s']:,}", f"{r['baseline_statuses_per_s']:,}",
          f"{r['statuses_per_s']:,}", f"{r['ratio']:.0%}", f"{r['vs_baseline']:.0%}",
          r["p50_ms"], r["p99_ms"], r["errors"] or 0, r["peak_rss_mb"]] for r in results],
    )  # fmt: skip
    print()
    print_table(
        ["store", "round", "raw insert rows/s", "baseline statuses/s", "tracker statuses/s",
         "tracker / raw", "tracker / baseline"],
        [[r["store"], n + 1, f"{x['raw_rows_per_s']:,}", f"{x['baseline_statuses_per_s']:,}",
          f"{x['statuses_per_s']:,}", f"{x['ratio']:.0%}", f"{x['vs_baseline']:.0%}"]
         for r in results for n, x in enumerate(r["rounds"])],
    )  # fmt: skip
    print()
    print_table(
        ["store", "lag at the end of the flat-out run (events)", "views caught up after s",
         "half rate statuses/s", "half rate POST p50 ms", "half rate POST p99 ms"],
        [[r["store"], f"{r['lag_events']:,}", r["catch_up_s"],
          f"{r['half_rate_statuses_per_s']:,}", r["half_rate_p50_ms"], r["half_rate_p99_ms"]]
         for r in results],
    )  # fmt: skip
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
