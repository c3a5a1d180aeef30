"""Load generator: posts realistic status batches to a tracker over loopback HTTP, then reports.

Runs in its own process (started by bench/ingest.py). Each connection owns a range of message
ids; a message goes send -> deliver -> read, or send -> partly_deliver -> expired/not_deliver
(about three reports each), shuffled within a window so reports arrive out of order, with a few
exact duplicates. Prints one JSON object: statuses/s, latency percentiles, errors.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import threading
import time
from urllib.parse import urlsplit

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

    def request(self, body: bytes) -> bytes:
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
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0, help="POSTs/s in all; 0 = flat out")
    args = parser.parse_args()

    per_connection = int(100_000 * args.seconds / args.connections) + 1000
    plans = [
        bodies(1_000_000 * (c + 1), per_connection // 3, args.batch, seed=c)
        for c in range(args.connections)
    ]
    latencies: list[float] = []
    statuses = 0
    errors: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds
    interval = args.connections / args.rate if args.rate else 0.0

    def run(plan: list[tuple[bytes, int]], phase: float) -> None:
        nonlocal statuses
        mine, sent, failed = [], 0, {}
        client = Connection(args.url, "/webhooks/webcom")
        requests = [(client.request(body), count) for body, count in plan]
        try:
            # Paced connections start out of step, so that POSTs arrive evenly rather than all
            # eight at once each interval (a burst no steady sender makes).
            next_at = time.monotonic() + phase * interval
            for request, count in requests:
                if time.monotonic() >= deadline:
                    break
                if interval:
                    time.sleep(max(0.0, next_at - time.monotonic()))
                    next_at += interval
                started = time.perf_counter()
                status = client.post(request)
                mine.append(time.perf_counter() - started)
                if status == 200:
                    sent += count
                else:
                    key = str(status)
                    failed[key] = failed.get(key, 0) + 1
        finally:
            client.close()
        with lock:
            latencies.extend(mine)
            statuses += sent
            for k, v in failed.items():
                errors[k] = errors.get(k, 0) + v

    began = time.monotonic()
    threads = [threading.Thread(target=run, args=(p, c / len(plans))) for c, p in enumerate(plans)]
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
                "seconds": round(elapsed, 2),
                "statuses_per_s": round(statuses / elapsed),
                "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
                "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
                "errors": errors,
            }
        )
    )


if __name__ == "__main__":
    main()
