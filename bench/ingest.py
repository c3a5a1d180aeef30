"""Ingest benchmark: the real server over loopback HTTP, beside the store's raw insert rate and
two receivers without event sourcing: bench/baseline.py and the CRUD receiver bench/crud.py.

    .venv/bin/python bench/ingest.py [--store sqlite|postgres|both] [--seconds 10] [--rounds 3]
                                     [--arrival sequential|mixed|both]

For each store and each arrival (bench/loadgen.py: sequential, and mixed, a platform's traffic
with shuffled ids, each message's reports spread over 20,000 reports), in one run: a plan is
written once, so that every receiver is given the same stream; then in each of ``--rounds``
rounds (default 3): (1) the raw batched insert rate of rows shaped as the store's events
(``RAW_*`` below: random keys, 100 rows a transaction, the same durability); (2) the baseline
receiver, the CRUD receiver and the tracker, each on a fresh store, driven flat out by
bench/loadgen.py in its own process, the three in an order that turns each round; each ratio is
taken within its round. After each tracker run, its projection lag and the seconds its views
took to catch up; after the last round's, the tracker again at half the POST rate it reached,
further along the same stream, for the latency there. Each server is then stopped and its bytes
on disk per distinct report stored are taken (events and views together; bench/common.py).

Prints Markdown tables: the round with the median tracker / baseline ratio, every round's
ratios (the machines are shared and noisy: a baseline measured a minute apart varied from
19,000 to 37,000 statuses/s, so only ratios within a round are compared), the bytes per report,
and the lag and half-rate figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
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

from bench.common import POSTGRES, bytes_on_disk, drop, fresh_store, print_table
from bench.loadgen import make_plan
from tracker.domain.ids import message_id

HERE = Path(__file__).parent
RECEIVERS = ("baseline", "crud", "tracker")
ARRIVALS = ("sequential", "mixed")

# The raw insert rate's rows: shaped as the store's event rows, one block to adjust when the
# stored format changes. A 16-byte id (the message id of a shuffled number: random keys, as
# under mixed arrival), version 1, a short topic, a 60-byte state; 100 rows a transaction.
# PostgreSQL keeps the library's notification_id column (each event numbered in the log).
RAW_SQLITE_TABLE = (
    "CREATE TABLE events (originator_id BLOB, originator_version INTEGER, topic TEXT, "
    "state BLOB, PRIMARY KEY (originator_id, originator_version))"
)
RAW_POSTGRES_TABLE = (
    'CREATE TABLE "{schema}".events (notification_id BIGSERIAL, originator_id UUID, '
    "originator_version INTEGER, topic TEXT, state BYTEA, "
    "PRIMARY KEY (originator_id, originator_version))"
)
RAW_TOPIC = "r1"
RAW_STATE = b"x" * 60
RAW_BATCH = 100


def raw_rows(kind: str, seed: int = 0):
    """Endless batches of raw rows, keys in random order (an odd multiplier mod 2^63 is a
    bijection: no key comes twice)."""
    multiplier = random.Random(seed).getrandbits(63) | 1
    n = 0
    while True:
        ids = [message_id((n + i) * multiplier % 2**63) for i in range(RAW_BATCH)]
        keys = [i.bytes for i in ids] if kind == "sqlite" else ids
        yield [(key, 1, RAW_TOPIC, RAW_STATE) for key in keys]
        n += RAW_BATCH


def raw_insert_rate_sqlite(folder: Path, seconds: float) -> float:
    """Rows/s over the transactions alone (the rows are made outside the clock)."""
    db = sqlite3.connect(folder / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(RAW_SQLITE_TABLE)
    rows, spent = 0, 0.0
    for batch in raw_rows("sqlite"):
        began = time.perf_counter()
        db.execute("BEGIN")
        db.executemany("INSERT INTO events VALUES (?,?,?,?)", batch)
        db.execute("COMMIT")
        spent += time.perf_counter() - began
        rows += len(batch)
        if spent >= seconds:
            break
    db.close()
    return rows / spent


def raw_insert_rate_postgres(schema: str, seconds: float) -> float:
    """Rows/s over the transactions alone (the rows are made outside the clock)."""
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(RAW_POSTGRES_TABLE.format(schema=schema))
        insert = (
            f'INSERT INTO "{schema}".events (originator_id, originator_version, topic, state) '
            "VALUES (%s,%s,%s,%s)"
        )
        rows, spent = 0, 0.0
        for batch in raw_rows("postgres"):
            began = time.perf_counter()
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(insert, batch)
            spent += time.perf_counter() - began
            rows += len(batch)
            if spent >= seconds:
                break
        return rows / spent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(database_url: str, log: Path, receiver: str = "tracker") -> tuple[subprocess.Popen, str]:
    """``tracker serve``, or a bench/ receiver (``baseline``, ``crud``), on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_PORT": str(port),
        "TRACKER_LOG_LEVEL": "warning",
        "PYTHONPATH": str(HERE.parent),
    }
    command = (
        [sys.executable, "-m", "tracker", "serve"]
        if receiver == "tracker"
        else [sys.executable, str(HERE / f"{receiver}.py"), database_url, str(port)]
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


def drive(
    url: str, plan: Path, args: argparse.Namespace, rate: float = 0.0, start: int = 0
) -> dict:
    """bench/loadgen.py posting ``plan`` from its body ``start`` to ``url``, in its own process;
    its JSON summary."""
    command = [sys.executable, str(HERE / "loadgen.py"), url, "--plan", str(plan),
               "--start", str(start), "--seconds", str(args.seconds),
               "--connections", str(args.connections), "--rate", str(rate)]  # fmt: skip
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    if result["exhausted"]:
        print(f"warning: the plan ran out before {args.seconds} s ({url})", file=sys.stderr)
    return result


def caught_up(url: str) -> tuple[int, float]:
    """The tracker's projection lag now (events), and the seconds until it is 0."""
    lag = httpx.get(f"{url}/health/ready", timeout=30).json()["projection"]["lag"]
    began = time.monotonic()
    while httpx.get(f"{url}/health/ready", timeout=30).json()["projection"]["lag"] > 0:
        time.sleep(0.05)
    return lag, time.monotonic() - began


def run_server(
    kind: str, folder: Path, receiver: str, plan: Path, args, *, half_rate=False
) -> dict:
    """One receiver on a fresh store, flat out; the tracker's views then caught up (and, with
    ``half_rate``, it is driven again at half its POST rate, further along the plan); then the
    server stopped and its bytes on disk per distinct report stored."""
    database_url, schema = fresh_store(kind, folder, receiver)
    process, url = serve(database_url, folder / f"{receiver}.log", receiver)
    try:
        result = drive(url, plan, args)
        distinct = result["distinct"]
        if receiver == "tracker":
            result["lag_events"], result["catch_up_s"] = caught_up(url)
            if half_rate:
                rate = result["posts"] / result["seconds"] / 2
                half = drive(url, plan, args, rate=rate, start=result["next"])
                distinct += half["distinct"]
                result.update({f"half_rate_{k}": half[k] for k in ("p50_ms", "p99_ms",
                                                                   "statuses_per_s")})  # fmt: skip
                caught_up(url)
        result["peak_rss_mb"] = round(peak_rss_mb(process.pid), 1)
        process.terminate()
        process.wait(timeout=30)
        result["bytes_per_report"] = round(bytes_on_disk(database_url, schema) / max(1, distinct))
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        drop(schema)
    return result


def raw_insert_rate(kind: str, folder: Path, args: argparse.Namespace) -> float:
    if kind == "sqlite":
        return raw_insert_rate_sqlite(folder, args.raw_seconds)
    _, schema = fresh_store(kind, folder, "raw")
    try:
        return raw_insert_rate_postgres(schema, args.raw_seconds)
    finally:
        drop(schema)


def run_arrival(kind: str, arrival: str, plan: Path, args: argparse.Namespace) -> dict:
    """``args.rounds`` rounds (raw rate, then the three receivers in an order that turns each
    round), each ratio taken within its round; the half-rate run follows the last round's
    tracker. The result holds the round whose tracker / baseline ratio is the median."""
    rounds = []
    for n in range(args.rounds):
        folder = Path(tempfile.mkdtemp(prefix=f"tracker-bench-{kind}-"))  # fresh stores
        try:
            raw = raw_insert_rate(kind, folder, args)
            order = RECEIVERS[n % 3 :] + RECEIVERS[: n % 3]
            runs = {
                receiver: run_server(kind, folder, receiver, plan, args,
                                     half_rate=n == args.rounds - 1)
                for receiver in order
            }  # fmt: skip
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        result, baseline, crud = runs["tracker"], runs["baseline"], runs["crud"]
        result["raw_rows_per_s"] = round(raw)
        for name, other in (("baseline", baseline), ("crud", crud)):
            for k in ("statuses_per_s", "p99_ms", "bytes_per_report", "errors"):
                result[f"{name}_{k}"] = other[k]
        result["ratio"] = round(result["statuses_per_s"] / raw, 3)
        result["vs_baseline"] = round(result["statuses_per_s"] / baseline["statuses_per_s"], 3)
        result["vs_crud"] = round(result["statuses_per_s"] / crud["statuses_per_s"], 3)
        rounds.append(result)
    median = sorted(rounds, key=lambda r: r["vs_baseline"])[len(rounds) // 2]
    return {
        **rounds[-1],  # the half-rate figures
        **median,
        "store": kind,
        "arrival": arrival,
        "rounds": [{k: r[k] for k in ROUND_FIGURES} for r in rounds],
    }


ROUND_FIGURES = ("raw_rows_per_s", "baseline_statuses_per_s", "crud_statuses_per_s",
                 "statuses_per_s", "ratio", "vs_baseline", "vs_crud", "lag_events",
                 "catch_up_s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--arrival", choices=[*ARRIVALS, "both"], default="both")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--raw-seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the three receivers (median reported)"
    )
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    arrivals = list(ARRIVALS) if args.arrival == "both" else [args.arrival]
    plans = Path(tempfile.mkdtemp(prefix="tracker-bench-plans-"))
    try:
        paths = {}
        for arrival in arrivals:  # one stream per arrival, given to every receiver
            paths[arrival] = plans / f"{arrival}.plan"
            made = make_plan(paths[arrival], arrival, args.seconds, args.connections, batch=100)
            print(f"plan: {arrival} arrival, {made:,} reports", file=sys.stderr)
        results = []
        for kind in kinds:
            for arrival in arrivals:
                print(f"measuring {kind}, {arrival} arrival", file=sys.stderr)
                results.append(run_arrival(kind, arrival, paths[arrival], args))
    finally:
        shutil.rmtree(plans, ignore_errors=True)
    print_tables(results, args.rounds)
    print(json.dumps(results), file=sys.stderr)


def print_tables(results: list[dict], rounds: int) -> None:
    print(f"The round with the median tracker / baseline ratio of {rounds}:\n")
    print_table(
        ["store", "arrival", "raw insert rows/s", "baseline statuses/s", "CRUD statuses/s",
         "tracker statuses/s", "tracker / raw", "tracker / baseline", "tracker / CRUD",
         "POST p50 ms", "POST p99 ms", "errors (tracker, baseline, CRUD)",
         "server peak RSS MB (with its child processes)"],
        [[r["store"], r["arrival"], f"{r['raw_rows_per_s']:,}",
          f"{r['baseline_statuses_per_s']:,}", f"{r['crud_statuses_per_s']:,}",
          f"{r['statuses_per_s']:,}", f"{r['ratio']:.0%}", f"{r['vs_baseline']:.0%}",
          f"{r['vs_crud']:.0%}", r["p50_ms"], r["p99_ms"],
          f"{r['errors'] or 0}, {r['baseline_errors'] or 0}, {r['crud_errors'] or 0}",
          r["peak_rss_mb"]] for r in results],
    )  # fmt: skip
    print()
    print_table(
        ["store", "arrival", "round", "raw insert rows/s", "baseline statuses/s",
         "CRUD statuses/s", "tracker statuses/s", "tracker / raw", "tracker / baseline",
         "tracker / CRUD"],
        [[r["store"], r["arrival"], n + 1, f"{x['raw_rows_per_s']:,}",
          f"{x['baseline_statuses_per_s']:,}", f"{x['crud_statuses_per_s']:,}",
          f"{x['statuses_per_s']:,}", f"{x['ratio']:.0%}", f"{x['vs_baseline']:.0%}",
          f"{x['vs_crud']:.0%}"]
         for r in results for n, x in enumerate(r["rounds"])],
    )  # fmt: skip
    print()
    print("Bytes on disk per distinct report stored, events and views together (median round):\n")
    print_table(
        ["store", "arrival", "tracker", "CRUD", "baseline", "tracker / CRUD"],
        [[r["store"], r["arrival"], r["bytes_per_report"], r["crud_bytes_per_report"],
          r["baseline_bytes_per_report"],
          f"{r['bytes_per_report'] / max(1, r['crud_bytes_per_report']):.2f}"]
         for r in results],
    )  # fmt: skip
    print()
    print_table(
        ["store", "arrival", "lag at the end of the flat-out run (events), every round",
         "views caught up after s, every round", "half rate statuses/s",
         "half rate POST p50 ms", "half rate POST p99 ms"],
        [[r["store"], r["arrival"], ", ".join(f"{x['lag_events']:,}" for x in r["rounds"]),
          ", ".join(f"{x['catch_up_s']:.2f}" for x in r["rounds"]),
          f"{r['half_rate_statuses_per_s']:,}", r["half_rate_p50_ms"], r["half_rate_p99_ms"]]
         for r in results],
    )  # fmt: skip


if __name__ == "__main__":
    main()
