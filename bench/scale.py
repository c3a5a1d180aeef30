"""Scale benchmark: ingest over HTTP with millions of events already stored, against an empty store.

    .venv/bin/python bench/scale.py [--store sqlite|postgres|both] [--events 10000000]
                                    [--seconds 10] [--rounds 3]

For each store: a store is filled with ``--events`` report events, in-process through the
application (`Tracker.record_batches`, groups of ``GROUP`` POSTs of 100 reports, mixed arrival:
bench/loadgen.py), with progress on standard error; its views are built by `tracker rebuild`.
Then in each of ``--rounds`` rounds, `tracker serve` is driven flat out over loopback HTTP for
``--seconds`` by bench/loadgen.py with one plan of mixed arrival, on a fresh empty store and on
the filled store (the order turning each round; the machines are shared and their speed
drifts, so each ratio is taken within its round). The filled store's runs continue along the
plan, the empty stores' runs start it afresh. The plan's messages are numbered after the stored
ones (``--ids after``, the default: a platform numbers the messages it sends in order, and the
reports that come are of its recent messages), shuffled among themselves; with ``--ids among``
they are drawn from the same shuffled range as the stored ones, so each lands at a random place
in the store's indexes (the worst case). Prints the round with the median filled / empty ratio,
every round's ratio, and the bytes on disk per report (events and views) of an empty store's
run and of the filled store. A smoke run: ``--events 200000 --seconds 3 --rounds 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import bytes_on_disk, drop, fresh_store, print_table
from bench.ingest import caught_up, drive, peak_rss_mb, serve
from bench.loadgen import PLAN_RATE, mixed_reports, mixed_stream, shuffled, write_plan
from tracker.application import Batch, Status
from tracker.bootstrap import open_tracker
from tracker.config import Settings

FIRST_ID = 1_000_000
GROUP = 100  # POSTs of 100 reports stored in one transaction while filling
SEED = 23


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fill(database_url: str, events: int, space: int, ids: str) -> int:
    """Store about ``events`` report events through the application, mixed arrival, the first
    messages of the shuffled ``space`` (``among``) or of the numbers below the plan's
    (``before``); the number of reports stored."""
    tracker = open_tracker(Settings(database_url=database_url))
    messages = -(-events // 3)
    numbers = (
        shuffled(space, first=FIRST_ID, seed=SEED)
        if ids == "among"
        else shuffled(messages, first=FIRST_ID, seed=SEED)
    )
    reports = mixed_reports(islice(numbers, messages), SEED)
    stored, began, said = 0, time.monotonic(), time.monotonic()
    try:
        while True:
            group = []
            for _ in range(GROUP):
                chunk = list(islice(reports, 100))
                if not chunk:
                    break
                group.append(Batch(tuple(Status(id_sms=n, state=s, time=t) for n, s, t in chunk)))
            if not group:
                break
            receipts = tracker.record_batches(group)
            if any(not r.stored for r in receipts):
                raise RuntimeError("the fill stored nothing of a group")
            stored += sum(len(b.statuses) for b in group)
            if time.monotonic() - said > 10:
                said = time.monotonic()
                rate = stored / (said - began)
                say(f"  filled {stored:,} of {messages * 3:,} reports ({rate:,.0f}/s)")
    finally:
        tracker.close()
    say(f"  filled {stored:,} reports in {time.monotonic() - began:.0f} s")
    return stored


def rebuild_views(database_url: str) -> None:
    """`tracker rebuild`, as an operator runs it (its progress bar is left out)."""
    began = time.monotonic()
    env = {**os.environ, "TRACKER_DATABASE_URL": database_url, "TRACKER_LOG_LEVEL": "warning"}
    out = subprocess.run(
        [sys.executable, "-m", "tracker", "rebuild"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    said = next((line for line in out.stdout.splitlines() if line.startswith("rebuilt")), "")
    say(f"  views rebuilt in {time.monotonic() - began:.0f} s: {said[:100]}")


def run(database_url: str, folder: Path, name: str, plan: Path, args, start: int = 0) -> dict:
    """``tracker serve`` on a store, once its views caught up, driven flat out from the plan's
    body ``start``; the views caught up again before it stops."""
    process, url = serve(database_url, folder / f"{name}.log")
    try:
        lag, seconds = caught_up(url)
        if lag:
            say(f"  the views caught up {lag:,} events in {seconds:.1f} s")
        result = drive(url, plan, args, start=start)
        caught_up(url)
        result["peak_rss_mb"] = round(peak_rss_mb(process.pid), 1)
    finally:
        process.terminate()
        process.wait(timeout=60)
    say(f"  {name}: {result['statuses_per_s']:,} statuses/s, p99 {result['p99_ms']} ms")
    return result


def run_store(kind: str, args: argparse.Namespace) -> dict:
    """The filled store written once; then ``--rounds`` rounds of an empty store's run and the
    filled store's (the order turning each round), each ratio taken within its round. The
    filled store's runs continue along the plan (its earlier bodies are stored there), the
    empty stores' runs start it afresh."""
    folder = Path(tempfile.mkdtemp(prefix=f"tracker-scale-{kind}-"))
    fill_messages = -(-args.events // 3)
    reports = int(PLAN_RATE / 1.5 * args.seconds * args.rounds)
    space = fill_messages + -(-reports // 3)  # the plan's ids: the range's after the fill's
    plan = folder / "mixed.plan"
    numbers = (
        shuffled(space, first=FIRST_ID, seed=SEED, start=fill_messages)
        if args.ids == "among"  # the rest of one shuffled range: among the stored messages
        else shuffled(space - fill_messages, first=FIRST_ID + fill_messages, seed=SEED + 2)
    )
    write_plan(plan, mixed_stream(reports, 100, seed=SEED + 1, numbers=numbers))
    filled_url, filled_schema = fresh_store(kind, folder, "filled")
    rounds = []
    try:
        say(f"{kind}: storing {args.events:,} events first")
        stored = fill(filled_url, args.events, space, args.ids)
        rebuild_views(filled_url)
        os.sync()  # the fill's gigabytes written back first, not during the measured runs
        position = 0
        for n in range(args.rounds):
            say(f"{kind}: round {n + 1} of {args.rounds}")
            runs = {}
            for which in ("empty", "filled") if n % 2 == 0 else ("filled", "empty"):
                if which == "filled":
                    runs[which] = run(filled_url, folder, "filled", plan, args, start=position)
                    position = runs[which]["next"]
                    stored += runs[which]["distinct"]
                    continue
                url, schema = fresh_store(kind, folder, f"empty-{n}")
                try:
                    runs[which] = run(url, folder, f"empty-{n}", plan, args)
                    runs[which]["bytes"] = bytes_on_disk(url, schema)
                finally:
                    drop(schema)
            runs["ratio"] = runs["filled"]["statuses_per_s"] / runs["empty"]["statuses_per_s"]
            rounds.append(runs)
        filled_bytes = bytes_on_disk(filled_url, filled_schema)
    finally:
        drop(filled_schema)
        shutil.rmtree(folder, ignore_errors=True)
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    empty = median["empty"]
    return {
        "store": kind,
        "events": args.events,
        "stored_at_end": stored,
        "empty": empty["statuses_per_s"],
        "filled": median["filled"]["statuses_per_s"],
        "ratio": round(median["ratio"], 3),
        "rounds": [round(r["ratio"], 3) for r in rounds],
        "p99_ms": [empty["p99_ms"], median["filled"]["p99_ms"]],
        "errors": sum(sum(r[w]["errors"].values()) for r in rounds for w in ("empty", "filled")),
        "empty_bytes_per_report": round(empty["bytes"] / max(1, empty["distinct"])),
        "filled_bytes_per_report": round(filled_bytes / max(1, stored)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--ids",
        choices=["after", "among"],
        default="after",
        help="the posted messages' numbers: after the stored ones, as a platform numbers the "
        "messages it sends (default), or shuffled among them (every report a random place in "
        "the store's indexes: the worst case)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of an empty and the filled store (median)"
    )
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    results = [run_store(kind, args) for kind in kinds]
    print(f"Ingest over HTTP, mixed arrival, {args.seconds:g} s flat out each; the round with "
          f"the median filled / empty of {args.rounds}:\n")  # fmt: skip
    print_table(
        ["store", "events stored first", "empty store statuses/s", "filled store statuses/s",
         "filled / empty", "every round's filled / empty", "POST p99 ms (empty, filled)",
         "errors (all runs)", "bytes on disk per report (an empty store's run, the filled store)"],
        [[r["store"], f"{r['events']:,}", f"{r['empty']:,}", f"{r['filled']:,}",
          f"{r['ratio']:.2f}", ", ".join(f"{x:.2f}" for x in r["rounds"]),
          f"{r['p99_ms'][0]}, {r['p99_ms'][1]}", r["errors"],
          f"{r['empty_bytes_per_report']}, {r['filled_bytes_per_report']}"] for r in results],
    )  # fmt: skip
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
