"""Audit benchmark: what keeping the audit tree costs ingest, and what the tree itself costs.

    .venv/bin/python bench/audit.py [--store sqlite|postgres|both] [--seconds 10] [--rounds 3]
                                    [--arrival mixed|sequential]

In each round, on fresh stores, ``tracker serve`` is driven flat out by bench/loadgen.py over
the same plan twice: with the audit tree kept (the default) and with TRACKER_AUDIT_TREE=false,
in an order that turns each round; the ratio of the two rates is taken within the round (the
machines are shared and noisy). After the audited run, once the views and the tree have caught
up: the audit tables' bytes per event, and, on the stopped store, the tree built afresh by the
follower (into a scratch file) and ``verify_log`` over the whole log, each against reading the
same rows alone (``select_log``), the plain alternative's floor.
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
from tracker.audit.follower import AuditFollower
from tracker.audit.tree import AuditTree
from tracker.audit.verify import verify_log
from tracker.bootstrap import open_output_views, open_tracker, open_views
from tracker.config import Settings

VARIANTS = ("audited", "unaudited")


def run(kind: str, folder: Path, variant: str, plan: Path, args) -> dict:
    """One server on a fresh store, flat out; for the audited one, the figures of the tree."""
    database_url, schema = fresh_store(kind, folder, variant)
    os.environ["TRACKER_AUDIT_TREE"] = "true" if variant == "audited" else "false"
    process, url = serve(database_url, folder / f"{variant}.log")
    try:
        result = drive(url, plan, args)
        if variant == "audited":
            began = time.monotonic()
            while httpx.get(f"{url}/health/ready", timeout=30).json()["projection"]["lag"] > 0:
                time.sleep(0.05)
            process.terminate()
            process.wait(timeout=30)
            result.update(tree_figures(database_url, folder, time.monotonic() - began))
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        os.environ.pop("TRACKER_AUDIT_TREE", None)
        drop(schema)
    return result


def tree_figures(database_url: str, folder: Path, views_s: float) -> dict:
    tracker = open_tracker(Settings(database_url=database_url))
    try:
        tree = AuditTree(open_views(tracker))
        head, events = tree.head(), tracker.store.max_notification_id() or 0
        follower = AuditFollower(tracker, tree)
        began = time.perf_counter()
        follower.catch_up()  # what the server's follower had left (none, mostly)
        left_s = time.perf_counter() - began
        size = tree.head().size
        began = time.perf_counter()
        read = 0
        for after in range(0, events, 10_000):
            read += len(tracker.store.select_log(after, min(events, after + 10_000)))
        read_s = time.perf_counter() - began
        scratch = AuditTree(open_output_views(folder / "scratch-tree.sqlite")).create()
        began = time.perf_counter()
        AuditFollower(tracker, scratch).catch_up()
        build_s = time.perf_counter() - began
        began = time.perf_counter()
        sound = verify_log(tracker, tree).sound
        verify_s = time.perf_counter() - began
        return {
            "events": size,
            "tree_behind_at_stop": size - head.size,
            "follower_left_s": round(left_s, 3),
            "views_caught_up_s": round(views_s, 2),
            "tree_bytes_per_event": round(tree_bytes(tree) / max(1, size), 1),
            "read_events_per_s": round(read / read_s),
            "build_events_per_s": round(size / build_s),
            "verify_events_per_s": round(size / verify_s),
            "verified": sound,
        }
    finally:
        tracker.close()


def tree_bytes(tree: AuditTree) -> int:
    with tree.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            f"SELECT SUM(LENGTH(hashes) + COALESCE(LENGTH(keys), 0)) AS n FROM {tree.tiles}"
        )
        return int(cursor.fetchone()["n"] or 0)


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
    rows, tree_rows = [], []
    try:
        plan = plans / "plan"
        made = make_plan(plan, args.arrival, args.seconds, args.connections, batch=100)
        print(f"plan: {args.arrival} arrival, {made:,} reports", file=sys.stderr)
        for kind in kinds:
            for n in range(args.rounds):
                folder = Path(tempfile.mkdtemp(prefix=f"tracker-bench-audit-{kind}-"))
                try:
                    order = VARIANTS if n % 2 == 0 else VARIANTS[::-1]
                    runs = {v: run(kind, folder, v, plan, args) for v in order}
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                a, u = runs["audited"], runs["unaudited"]
                rows.append([kind, n + 1, " then ".join(order), f"{a['statuses_per_s']:,}",
                             f"{u['statuses_per_s']:,}",
                             f"{a['statuses_per_s'] / u['statuses_per_s']:.3f}",
                             a["p99_ms"], u["p99_ms"]])  # fmt: skip
                tree_rows.append([kind, n + 1, f"{a['events']:,}", a["tree_behind_at_stop"],
                                  a["tree_bytes_per_event"], f"{a['read_events_per_s']:,}",
                                  f"{a['build_events_per_s']:,}",
                                  f"{a['build_events_per_s'] / a['read_events_per_s']:.2f}",
                                  f"{a['verify_events_per_s']:,}",
                                  f"{a['verify_events_per_s'] / a['read_events_per_s']:.2f}",
                                  a["verified"]])  # fmt: skip
    finally:
        shutil.rmtree(plans, ignore_errors=True)
    print_table(["store", "round", "order", "audited statuses/s", "unaudited statuses/s",
                 "audited / unaudited", "audited POST p99 ms", "unaudited POST p99 ms"],
                rows)  # fmt: skip
    print()
    print_table(["store", "round", "events", "tree behind at stop", "tree bytes / event",
                 "read rows/s (floor)", "tree built events/s", "built / read",
                 "verified events/s", "verified / read", "sound"], tree_rows)  # fmt: skip


if __name__ == "__main__":
    main()
