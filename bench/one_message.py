"""One message with many reports, and one huge body: linear cost, and no sender starved.

    .venv/bin/python bench/one_message.py [--store sqlite|postgres|both] [--reports 40000]
                                          [--rounds 3]

For each store, a fresh ``tracker serve`` (writer process, projector process) on a fresh store,
then in each round, over loopback HTTP:

- **spread**: one body of ``--reports`` reports of as many messages, one each (the baseline:
  the same number of reports, with nothing to hold per message);
- **one id**: one body of ``--reports`` distinct reports of one message (a hostile sender; the
  first versions took 25.6 s for 40,000, each report checked against every earlier one);
- **repeated**: a 5 MiB body of one report repeated 80,000 times (one report, 79,999 repeats);
- **numbers**: a 5 MiB body of 765,000 distinct numbers, none naming a message (the first
  1,000 quarantined one by one, the rest as one).

Then the one-id message is read back: a history page of 10,000 reports over the API and its
console page, each three times, while /health/live is polled every 10 ms (the baseline: the
same polls with the server idle): a long history must not stall the server.

While each large body is stored, another sender POSTs a one-report body every 20 ms; its
latencies (p50 and the largest) are printed beside those of the same small POSTs with the
server otherwise idle, measured in the same round: a body must not stall the other senders.
Ratios are taken within a round (these machines are shared and noisy); the median round of
"one id / spread" is reported, with every round's ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.common import drop, fresh_store, print_table
from bench.ingest import serve

SMALL_EVERY = 0.02  # seconds between the other sender's POSTs


def times(n: int) -> list[str]:
    return [f"2012-{1 + k // 86400 % 12:02d}-{1 + k // 3600 // 24 % 28:02d} "
            f"{k // 3600 % 24:02d}:{k // 60 % 60:02d}:{k % 60:02d}" for k in range(n)]  # fmt: skip


def spread_body(first_id: int, n: int) -> bytes:
    return msgspec.json.encode(
        [{"id_sms": first_id + k, "time": t, "state": "deliver"} for k, t in enumerate(times(n))]
    )


def one_id_body(id_sms: int, n: int) -> bytes:
    return msgspec.json.encode(
        [{"id_sms": id_sms, "time": t, "state": "deliver"} for t in times(n)]
    )


def numbers_body(first: int) -> bytes:
    """5 MiB of distinct numbers, none naming a message (once 765,000 quarantine events)."""
    parts, size, n = [], 2, first
    while size + len(b"%d," % n) < 5 * 1024 * 1024:
        parts.append(b"%d" % n)
        size += len(parts[-1]) + 1
        n += 1
    return b"[" + b",".join(parts) + b"]"


def repeated_body(id_sms: int) -> bytes:
    item = b'{"id_sms":%d,"time":"2012-01-01 00:00:00","state":"read"},' % id_sms  # 5 MiB
    return b"[" + item * 80_000 + b'{"id_sms": %d, "time": "", "state": "send"}]' % (id_sms + 1)


class OtherSender:
    """POSTs a one-report body every SMALL_EVERY seconds until stopped; keeps the latencies."""

    def __init__(self, url: str, first_id: int):
        self.url, self.next_id = url, first_id
        self.latencies: list[tuple[float, float]] = []  # (when it began, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> OtherSender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as client:
            while not self._stop.is_set():
                body = b'[{"id_sms": %d, "time": "", "state": "send"}]' % self.next_id
                self.next_id += 1
                began = time.perf_counter()
                answer = client.post("/webhooks/webcom", content=body)
                self.latencies.append((began, time.perf_counter() - began))
                assert answer.status_code == 200, answer.text
                self._stop.wait(SMALL_EVERY)


def timed_post(url: str, body: bytes, other_from: int) -> tuple[float, list[float]]:
    """Seconds until the body is acknowledged, and the other sender's latencies meanwhile."""
    with OtherSender(url, other_from) as other, httpx.Client(base_url=url, timeout=600) as client:
        time.sleep(0.2)  # the other sender is under way
        began = time.perf_counter()
        answer = client.post("/webhooks/webcom", content=body)
        ended = time.perf_counter()
    assert answer.status_code == 200, answer.text[:200]
    return ended - began, [s for at, s in other.latencies if began <= at < ended]  # meanwhile


def idle_latencies(url: str, other_from: int, seconds: float = 2.0) -> list[float]:
    with OtherSender(url, other_from) as other:
        time.sleep(seconds)
    return [s for _, s in other.latencies]


def health_latencies(
    url: str, seconds: float | None = None, reads: list[str] = ()
) -> tuple[list[float], float]:
    """/health/live's latencies, polled every 10 ms while ``reads`` are fetched one after the
    other (or for ``seconds``), and the seconds the slowest read took."""
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not done.is_set():
                began = time.perf_counter()
                assert client.get("/health/live").status_code == 200
                latencies.append(time.perf_counter() - began)
                done.wait(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    slowest = 0.0
    with httpx.Client(base_url=url, timeout=600) as client:
        if seconds:
            time.sleep(seconds)
        for path in reads:
            began = time.perf_counter()
            assert client.get(path).status_code == 200, path
            slowest = max(slowest, time.perf_counter() - began)
    done.set()
    poller.join()
    return latencies, slowest


def ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.0f}"


def run_store(kind: str, args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    url_db, schema = fresh_store(kind, folder, "one-message")
    process, url = serve(url_db, folder / "server.log")
    rounds = []
    try:
        for r in range(args.rounds):
            base = 10_000_000 * (r + 1)
            idle = idle_latencies(url, base + 9_000_000)
            spread, during_spread = timed_post(
                url, spread_body(base, args.reports), base + 8_000_000
            )
            one, during_one = timed_post(url, one_id_body(base + 7_000_000, args.reports),
                                         base + 8_100_000)  # fmt: skip
            repeated, during_repeated = timed_post(url, repeated_body(base + 7_500_000),
                                                   base + 8_200_000)  # fmt: skip
            numbers, during_numbers = timed_post(url, numbers_body(base), base + 8_300_000)
            rounds.append((spread, one, repeated, idle, during_spread, during_one, during_repeated,
                           numbers, during_numbers))  # fmt: skip
        one_id = 10_000_000 * args.rounds + 7_000_000  # the last round's long message
        idle_reads, _ = health_latencies(url, seconds=2.0)
        api_reads, api_slowest = health_latencies(
            url, reads=[f"/messages/{one_id}/history?limit=10000"] * 3
        )
        page_reads, page_slowest = health_latencies(url, reads=[f"/ui/messages/{one_id}"] * 3)
    finally:
        process.terminate()
        process.wait(timeout=30)
        drop(schema)
    ratios = [one / spread for spread, one, *_ in rounds]
    median = sorted(range(len(rounds)), key=lambda i: ratios[i])[len(rounds) // 2]
    (spread, one, repeated, idle, during_spread, during_one, during_repeated, numbers,
     during_numbers) = rounds[median]  # fmt: skip
    print(f"\n### {kind}: {args.reports:,} reports in one body (median round of {len(rounds)})\n")
    print_table(
        ["body", "seconds to acknowledge", "reports/s", "/ spread"],
        [
            [f"spread: {args.reports:,} messages, one report each", f"{spread:.2f}",
             f"{args.reports / spread:,.0f}", "1.00"],
            [f"one id: {args.reports:,} reports of one message", f"{one:.2f}",
             f"{args.reports / one:,.0f}", f"{one / spread:.2f}"],
            ["repeated: one report 80,000 times (5 MiB)", f"{repeated:.2f}", "", ""],
            ["numbers: 5 MiB of distinct numbers, quarantined", f"{numbers:.2f}", "", ""],
        ],
    )  # fmt: skip
    print()
    print_table(
        ["another sender's one-report POSTs", "p50 ms", "max ms", "POSTs"],
        [
            ["server otherwise idle", ms(idle, 0.5), ms(idle, 1.0), len(idle)],
            ["while the spread body is stored", ms(during_spread, 0.5), ms(during_spread, 1.0),
             len(during_spread)],
            ["while the one-id body is stored", ms(during_one, 0.5), ms(during_one, 1.0),
             len(during_one)],
            ["while the repeated body is stored", ms(during_repeated, 0.5),
             ms(during_repeated, 1.0), len(during_repeated)],
            ["while the numbers body is stored", ms(during_numbers, 0.5),
             ms(during_numbers, 1.0), len(during_numbers)],
        ],
    )  # fmt: skip
    print()
    print_table(
        ["/health/live polled every 10 ms", "p50 ms", "max ms", "polls", "slowest read s"],
        [
            ["server otherwise idle", ms(idle_reads, 0.5), ms(idle_reads, 1.0), len(idle_reads),
             ""],
            [f"while GET /messages/ID/history?limit=10000 ({args.reports:,} reports)",
             ms(api_reads, 0.5), ms(api_reads, 1.0), len(api_reads), f"{api_slowest:.2f}"],
            ["while GET /ui/messages/ID (its timeline page)", ms(page_reads, 0.5),
             ms(page_reads, 1.0), len(page_reads), f"{page_slowest:.2f}"],
        ],
    )  # fmt: skip
    print(
        "\nevery round, one id / spread: "
        + ", ".join(f"{x:.2f}" for x in ratios)
        + f" (median {statistics.median(ratios):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--reports", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for kind in ("sqlite", "postgres") if args.store == "both" else (args.store,):
        run_store(kind, args)


if __name__ == "__main__":
    main()
