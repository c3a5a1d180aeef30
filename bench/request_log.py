"""Request log benchmark: what recording every webhook request costs ingest.

    .venv/bin/python bench/request_log.py [--store sqlite|postgres|both] [--seconds 10]
                                          [--rounds 3] [--arrival mixed|sequential]

In each round, on fresh stores, ``tracker serve`` is driven flat out by bench/loadgen.py over
the same plan twice: with the request log on (the default) and with TRACKER_REQUEST_LOG=false,
in an order that turns each round; the ratio of the two rates is taken within the round (the
machines are shared and noisy). Beside the rates, the CPU time the server's processes (the
HTTP server, its writer and projector; not PostgreSQL's) spent per 1,000 statuses, counted from
before the load until two seconds after it (the request log's last batch stored, the views
caught up): a cost that other load on the machine disturbs less than it does a rate. After the
logged run: how many requests the log holds against how many were posted (all of them, once
its queue has drained).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import drop, fresh_store, print_table
from bench.ingest import drive, serve
from bench.loadgen import make_plan

VARIANTS = ("logged", "unlogged")


def run(kind: str, folder: Path, variant: str, plan: Path, args) -> dict:
    """One server on a fresh store, flat out; for the logged one, what its log holds."""
    database_url, schema = fresh_store(kind, folder, variant)
    os.environ["TRACKER_REQUEST_LOG"] = "true" if variant == "logged" else "false"
    process, url = serve(database_url, folder / f"{variant}.log")
    try:
        time.sleep(1.0)  # its children started
        processes = family(process.pid)
        before = cpu_seconds(processes)
        result = drive(url, plan, args)
        time.sleep(2.0)
        result["cpu_ms_per_1000"] = round(
            (cpu_seconds(processes) - before) * 1e6 / max(1, result["statuses"]), 1
        )
        if variant == "logged":
            result["recorded"] = recorded(url, result.get("posts") or 0)
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.environ.pop("TRACKER_REQUEST_LOG", None)
        drop(schema)
    return result


TICKS = os.sysconf("SC_CLK_TCK")


def family(pid: int) -> list[int]:
    """A process and its descendants."""
    found = [pid]
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    for child, parent in sorted(parents.items()):
        if parent in found:
            found.append(child)
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used (those still running)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def recorded(url: str, posted: int, within: float = 30.0) -> int:
    """Requests the log holds, counted a page of 1,000 at a time, waiting for the queue to
    drain (up to ``within`` seconds) when it holds fewer than were posted."""
    deadline = time.monotonic() + within
    while True:
        count, cursor = 0, None
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
                page = client.get("/requests", params=params).json()
                count += len(page["requests"])
                if not (cursor := page["next"]):
                    break
        if count >= posted or time.monotonic() > deadline:
            return count
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--arrival", choices=["sequential", "mixed"], default="mixed")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    plans = Path(tempfile.mkdtemp(prefix="tracker-bench-plans-"))
    rows = []
    try:
        plan = plans / "plan"
        made = make_plan(plan, args.arrival, args.seconds, args.connections, batch=100)
        print(f"plan: {args.arrival} arrival, {made:,} reports", file=sys.stderr)
        for kind in kinds:
            for n in range(args.rounds):
                folder = Path(tempfile.mkdtemp(prefix=f"tracker-bench-requests-{kind}-"))
                try:
                    order = VARIANTS if n % 2 == 0 else VARIANTS[::-1]
                    runs = {v: run(kind, folder, v, plan, args) for v in order}
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                a, u = runs["logged"], runs["unlogged"]
                rows.append([kind, n + 1, " then ".join(order), f"{a['statuses_per_s']:,}",
                             f"{u['statuses_per_s']:,}",
                             f"{a['statuses_per_s'] / u['statuses_per_s']:.3f}",
                             a["p99_ms"], u["p99_ms"], a["cpu_ms_per_1000"],
                             u["cpu_ms_per_1000"],
                             f"{a['cpu_ms_per_1000'] / u['cpu_ms_per_1000']:.3f}",
                             f"{a['recorded']:,} of {a.get('posts', 0):,}"])  # fmt: skip
    finally:
        shutil.rmtree(plans, ignore_errors=True)
    print_table(["store", "round", "order", "logged statuses/s", "unlogged statuses/s",
                 "logged / unlogged", "logged POST p99 ms", "unlogged POST p99 ms",
                 "logged CPU ms / 1000 statuses", "unlogged", "CPU logged / unlogged",
                 "requests recorded"], rows)  # fmt: skip


if __name__ == "__main__":
    main()
