"""A stand-in for the platform: posts batches, and re-sends every report it has no
acknowledgement for, five attempts at most, as Webcom Mobi does. It keeps count of what was
acknowledged, so that a test can check the store holds all of it (``StoreAudit``)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tracker.application import Tracker
from tracker.read.export import report_rows

ATTEMPTS = 5
BACKOFF = (1.0, 2.0, 4.0, 8.0)  # seconds before the 2nd, 3rd, 4th and 5th attempt


@dataclass
class Outcome:
    """What the platform saw."""

    reports: int = 0
    posts: int = 0
    acknowledged: list[dict] = field(default_factory=list)  # every report acknowledged
    given_up: list[dict] = field(default_factory=list)  # reports never acknowledged in 5 tries
    answers: Counter = field(default_factory=Counter)  # status code, or the transport error
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for answer, n in self.answers.items() if str(answer).startswith("5"))


class Platform:
    """``senders`` threads post batches of up to ``batch`` due reports to ``url``."""

    def __init__(
        self,
        url: str,
        reports: list[dict],
        *,
        batch: int = 100,
        senders: int = 4,
        pace: float = 0.0,
        path: str = "/webhooks/webcom",
    ):
        self.url, self.path, self.batch, self.senders = url, path, batch, senders
        self.pace = pace  # seconds each sender waits between posts
        self.outcome = Outcome(reports=len(reports))
        self._order = itertools.count()
        self._due = [(0.0, next(self._order), 1, r) for r in reports]  # (when, order, attempt, r)
        heapq.heapify(self._due)
        self._in_flight = 0
        self._lock = threading.Condition()

    def run(self) -> Outcome:
        began = time.monotonic()
        threads = [threading.Thread(target=self._send) for _ in range(self.senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.outcome.seconds = time.monotonic() - began
        return self.outcome

    @property
    def done(self) -> bool:
        with self._lock:
            return not self._due and not self._in_flight

    def _take(self) -> list[tuple[int, dict]] | None:
        """The next batch of due reports (with their attempt numbers); None when all is done."""
        with self._lock:
            while True:
                if not self._due and not self._in_flight:
                    self._lock.notify_all()
                    return None
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    taken = []
                    while self._due and self._due[0][0] <= now and len(taken) < self.batch:
                        _, _, attempt, report = heapq.heappop(self._due)
                        taken.append((attempt, report))
                    self._in_flight += 1
                    return taken
                wait = self._due[0][0] - now if self._due else 0.5
                self._lock.wait(timeout=min(wait, 0.5))

    def _settle(self, taken: list[tuple[int, dict]], acked: set) -> None:
        with self._lock:
            self._in_flight -= 1
            for attempt, report in taken:
                if report["id_sms"] in acked:
                    self.outcome.acknowledged.append(report)
                elif attempt == ATTEMPTS:
                    self.outcome.given_up.append(report)
                else:
                    when = time.monotonic() + BACKOFF[attempt - 1]
                    heapq.heappush(self._due, (when, next(self._order), attempt + 1, report))
            self._lock.notify_all()

    def _send(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while (taken := self._take()) is not None:
                acked: set = set()
                body = [report for _, report in taken]
                try:
                    response = client.post(self.path, json=body)
                    answer: object = response.status_code
                    if response.status_code == 200:
                        acked = {item["id_sms"] for item in response.json()}
                except httpx.TransportError as e:
                    answer = type(e).__name__
                with self._lock:
                    self.outcome.posts += 1
                    self.outcome.answers[answer] += 1
                self._settle(taken, acked)
                if self.pace:
                    time.sleep(self.pace)


class StoreAudit:
    """Every report the store holds, by message in storage order, checked against what the
    platform was told was stored."""

    def __init__(self, tracker: Tracker):
        self.reports: dict[int, list[dict]] = {}
        self.rows = list(report_rows(tracker))  # in the order of the log
        for row in self.rows:
            self.reports.setdefault(row["id_sms"], []).append(row)
        self._held = {(i, r["state"], r["time"]) for i, rows in self.reports.items() for r in rows}

    def lost(self, acknowledged: list[dict]) -> list[dict]:
        """The acknowledged reports the store does not hold."""
        return [a for a in acknowledged if (a["id_sms"], a["state"], a["time"]) not in self._held]

    def received_out_of_order(self) -> list[tuple[str, str]]:
        """Pairs of neighbouring reports in the order of the log whose receipt times go back
        (one clock: there must be none)."""
        times = [r["received_at"] for r in self.rows]
        return [(a, b) for a, b in itertools.pairwise(times) if b < a]

    def stored_twice(self) -> list[int]:
        """The messages holding one report (state and time) more than once."""
        return [
            id_sms
            for id_sms, rows in self.reports.items()
            if max(Counter((r["state"], r["time"]) for r in rows).values()) > 1
        ]
