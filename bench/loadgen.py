"""Load generator: posts realistic status batches to a receiver over loopback HTTP, then reports.

    .venv/bin/python bench/loadgen.py URL [--plan FILE | --arrival sequential|mixed]
                                          [--seconds 10] [--connections 8] [--rate 0]

Runs in its own process (started by bench/ingest.py and bench/scale.py). It posts a plan: a
stream of request bodies, ``--batch`` reports each, written once by ``write_plan`` so that every
receiver compared in a round is given the same bytes in the same order. The connections take
the plan's bodies in turn from one shared queue, as a platform's senders take a queue's
messages; ``--start`` skips the bodies an earlier run posted. Two arrivals:

- **sequential** (the first one): each connection's stream owns a range of message ids; a
  message goes send -> deliver -> read, or send -> partly_deliver -> expired/not_deliver (about
  three reports each), shuffled within three batches, with ~3% exact duplicates;
- **mixed** (a platform's traffic): every message gets send, deliver and read, its three reports
  placed at random over a window of 20,000 reports of one stream, the ids shuffled (random keys,
  not sequential), and for 10% of the messages the final report comes before the deliver.

Prints one JSON object: statuses/s, distinct reports acknowledged, latency percentiles, errors,
the plan position reached, and whether the plan ran out before the time did.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import chain, zip_longest
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

PATHS = [
    ("send", "deliver", "read"),
    ("send", "deliver", "read"),
    ("send", "deliver", "read"),
    ("send", "partly_deliver", "expired"),
    ("send", "deliver", "not_deliver"),
]


def report_mix(first_id: int, messages: int, batch: int, seed: int) -> list[dict]:
    """About three reports per message, out of order within a few batches, ~3% duplicated."""
    rnd = random.Random(seed)
    reports = []
    for n in range(first_id, first_id + messages):
        minute = rnd.randrange(60)
        for step, state in enumerate(rnd.choice(PATHS)):
            time_ = "" if state == "send" else f"2026-01-01 12:{minute:02d}:{10 * step:02d}"
            reports.append({"id_sms": n, "time": time_, "state": state})
    window = 3 * batch  # out of order within a few batches, as a real sender's retries are
    for start in range(0, len(reports), window):
        part = reports[start : start + window]
        rnd.shuffle(part)
        reports[start : start + window] = part
    for i in rnd.sample(range(len(reports)), k=len(reports) // 30):  # ~3% exact duplicates
        reports.insert(i + rnd.randrange(1, batch), reports[i])
    return reports


def bodies(first_id: int, messages: int, batch: int, seed: int) -> list[tuple[bytes, int]]:
    """Pre-encoded request bodies (with their report counts), ``batch`` reports each."""
    plan = report_mix(first_id, messages, batch, seed)
    chunks = [plan[i : i + batch] for i in range(0, len(plan), batch)]
    return [(json.dumps(chunk).encode(), len(chunk)) for chunk in chunks]


# The mixed arrival: a platform's traffic, as issue 19 describes it.
WINDOW = 20_000  # a message's three reports land anywhere within this many reports of the stream
FINAL_FIRST = 0.10  # the share of messages whose final report comes before their deliver
MIXED_START = datetime(2026, 1, 5, 9, 0, 0)  # platform time (local) of the first message
PLAN_RATE = 160_000  # reports a plan holds per second of run: flat out, then at half the rate


def shuffled(count: int, *, first: int = 1, seed: int = 0, start: int = 0) -> Iterator[int]:
    """The numbers ``first .. first + count - 1`` in a shuffled order, from its ``start``-th on,
    made lazily (10 million of them would take a gigabyte as a shuffled list): a seeded
    bijection of k-bit numbers (odd multipliers and xor-shifts), walked until it falls in range."""
    bits = max(2, (count - 1).bit_length())
    mask, half = (1 << bits) - 1, bits // 2
    rnd = random.Random(seed)
    a, b, c = (rnd.getrandbits(bits) | 1 for _ in range(3))
    for i in range(start, count):
        x = i
        while True:
            x = (x * a + c) & mask
            x ^= x >> half
            x = (x * b) & mask
            x ^= x >> half
            if x < count:
                break
        yield first + x


def mixed_reports(
    numbers: Iterable[int], seed: int, *, window: int = WINDOW, final_first: float = FINAL_FIRST
) -> Iterator[tuple[int, str, str]]:
    """``(id_sms, state, time)`` in arrival order: each message's send, deliver and read placed at
    random over ``window`` reports of the stream (send first; for ``final_first`` of them the
    read before the deliver), one message per number, in the numbers' order. Made as a stream
    (a heap of the reports still to come), so that any length fits in memory."""
    rnd = random.Random(seed)
    pending: list[tuple[float, int, tuple[int, str, str]]] = []
    second, stamps = -1, ("", "")
    for m, number in enumerate(numbers):
        base = 3 * m  # three reports per message: where this message's window opens
        while pending and pending[0][0] < base:
            yield heapq.heappop(pending)[2]
        if m // 100 != second:  # a hundred messages a second of platform time
            second = m // 100
            sent = MIXED_START + timedelta(seconds=second)
            stamps = tuple(
                (sent + timedelta(seconds=s)).strftime("%Y-%m-%d %H:%M:%S") for s in (10, 20)
            )
        at = sorted(base + rnd.random() * window for _ in range(3))
        if rnd.random() < final_first:
            at[1], at[2] = at[2], at[1]
        heapq.heappush(pending, (at[0], 3 * m, (number, "send", "")))
        heapq.heappush(pending, (at[1], 3 * m + 1, (number, "deliver", stamps[0])))
        heapq.heappush(pending, (at[2], 3 * m + 2, (number, "read", stamps[1])))
    while pending:
        yield heapq.heappop(pending)[2]


def sequential_stream(reports: int, connections: int, batch: int) -> Iterator[tuple[list, int]]:
    """The sequential arrival as one stream of bodies: each connection's ``report_mix`` (its own
    range of ids), their bodies taken in turn; with each body its count of reports not in an
    earlier body (the duplicates are the same objects)."""
    per = reports // connections
    plans = [report_mix(1_000_000 * (c + 1), per // 3, batch, seed=c) for c in range(connections)]
    chunked = [[p[i : i + batch] for i in range(0, len(p), batch)] for p in plans]
    seen: set[int] = set()
    for chunk in chain.from_iterable(zip_longest(*chunked)):
        if chunk:
            before = len(seen)
            seen.update(id(r) for r in chunk)
            yield chunk, len(seen) - before


def mixed_stream(
    reports: int, batch: int, seed: int, numbers: Iterable[int] | None = None
) -> Iterator[tuple[list, int]]:
    """The mixed arrival as bodies of ``batch`` reports (all distinct); messages from ``numbers``
    (by default a million upward, shuffled), about ``reports`` reports in all."""
    messages = -(-reports // 3)
    numbers = shuffled(messages, first=1_000_000, seed=seed) if numbers is None else numbers
    chunk: list[dict] = []
    for n, state, time_ in mixed_reports(numbers, seed):
        chunk.append({"id_sms": n, "time": time_, "state": state})
        if len(chunk) == batch:
            yield chunk, batch
            chunk = []
    if chunk:
        yield chunk, len(chunk)


def write_plan(path: Path, stream: Iterable[tuple[list, int]]) -> int:
    """Write a plan: per body a line ``LENGTH REPORTS DISTINCT`` then the JSON body. The number
    of reports written."""
    encode, total = msgspec.json.encode, 0
    with path.open("wb") as out:
        for chunk, new in stream:
            body = encode(chunk)
            out.write(b"%d %d %d\n" % (len(body), len(chunk), new))
            out.write(body)
            total += len(chunk)
    return total


def make_plan(path: Path, arrival: str, seconds: float, connections: int, batch: int) -> int:
    """A plan for a run of ``seconds`` flat out and one at half the rate, at up to
    ``PLAN_RATE`` reports a second."""
    reports = max(20_000, int(PLAN_RATE * seconds))
    if arrival == "sequential":
        return write_plan(path, sequential_stream(reports, connections, batch))
    return write_plan(path, mixed_stream(reports, batch, seed=19))


def read_plan(path: Path) -> list[tuple[memoryview, int, int]]:
    """A plan's bodies (views into the file's bytes), with their reports and distinct reports."""
    data = memoryview(path.read_bytes())
    bodies, at = [], 0
    while at < len(data):
        end = data.obj.index(b"\n", at)  # type: ignore[union-attr]
        length, count, new = map(int, bytes(data[at:end]).split())
        bodies.append((data[end + 1 : end + 1 + length], count, new))
        at = end + 1 + length
    return bodies


class Connection:
    """A kept-alive HTTP/1.1 connection that sends pre-built requests and reads the answers'
    status, skipping their bodies. httpx spent about 1.5 ms of CPU a POST building requests and
    parsing answers: flat out, the load generator took a fifth of the two cores it shares with
    the server it measures (docs/benchmarks.md, 2026-11-27, commits f1e72c6..c4c6f4c)."""

    def __init__(self, url: str, path: str):
        parts = urlsplit(url)
        self.host = f"{parts.hostname}:{parts.port}"
        self.path = path
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, body: bytes | memoryview) -> bytes:
        """The whole request, head and body in one segment."""
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def post(self, request: bytes) -> int:
        """Send one request; its response's status code once the whole response is read."""
        self.sock.sendall(request)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._receive()
        head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = next(
            (int(line.split(b":", 1)[1]) for line in lines[1:]
             if line[:15].lower() == b"content-length:"),
            0,
        )  # fmt: skip
        while len(self.buffer) < length:
            self._receive()
        self.buffer = self.buffer[length:]
        return status

    def _receive(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def close(self) -> None:
        self.sock.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--plan", type=Path, help="a plan written by write_plan (else one is made)")
    parser.add_argument("--arrival", choices=["sequential", "mixed"], default="sequential")
    parser.add_argument("--start", type=int, default=0, help="the plan's first body to post")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0, help="POSTs/s in all; 0 = flat out")
    args = parser.parse_args()

    if args.plan is None:
        args.plan = Path(f"/tmp/loadgen-{args.arrival}-{args.seconds}-{args.connections}.plan")
        make_plan(args.plan, args.arrival, args.seconds, args.connections, args.batch)
    plan = read_plan(args.plan)
    latencies: list[float] = []
    statuses = distinct = 0
    errors: dict[str, int] = {}
    lock = threading.Lock()
    queue = iter(range(args.start, len(plan)))  # the next body to post, shared
    taken = [args.start]
    deadline = time.monotonic() + args.seconds
    interval = args.connections / args.rate if args.rate else 0.0

    def run(phase: float) -> None:
        nonlocal statuses, distinct
        mine, sent, new, failed = [], 0, 0, {}
        client = Connection(args.url, "/webhooks/webcom")
        try:
            # Paced connections start out of step, so that POSTs arrive evenly rather than all
            # eight at once each interval (a burst no steady sender makes).
            next_at = time.monotonic() + phase * interval
            while time.monotonic() < deadline:
                if interval:
                    time.sleep(max(0.0, next_at - time.monotonic()))
                    next_at += interval
                with lock:
                    k = next(queue, None)
                    if k is None:
                        break
                    taken[0] = k + 1
                body, count, fresh = plan[k]
                request = client.request(body)
                started = time.perf_counter()
                status = client.post(request)
                mine.append(time.perf_counter() - started)
                if status == 200:
                    sent += count
                    new += fresh
                else:
                    key = str(status)
                    failed[key] = failed.get(key, 0) + 1
        finally:
            client.close()
        with lock:
            latencies.extend(mine)
            statuses += sent
            distinct += new
            for k, v in failed.items():
                errors[k] = errors.get(k, 0) + v

    began = time.monotonic()
    threads = [
        threading.Thread(target=run, args=(c / args.connections,)) for c in range(args.connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    print(
        json.dumps(
            {
                "posts": len(latencies),
                "statuses": statuses,
                "distinct": distinct,  # reports acknowledged that no earlier body held
                "seconds": round(elapsed, 2),
                "statuses_per_s": round(statuses / elapsed),
                "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
                "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
                "errors": errors,
                "next": taken[0],  # where a following run continues the plan
                "exhausted": taken[0] >= len(plan) and elapsed < args.seconds * 0.99,
            }
        )
    )


if __name__ == "__main__":
    main()
