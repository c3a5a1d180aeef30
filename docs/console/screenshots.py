"""Makes docs/console/*.png: two weeks of made-up traffic in a fresh SQLite store, served by the
real tracker and photographed in headless Chromium (`make screenshots`)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import sync_playwright

from tracker.application.commands import Batch, Registering
from tracker.bootstrap import open_tracker
from tracker.config import Settings
from tracker.domain.registration import Registration
from tracker.web.intake import read_body

HERE = Path(__file__).parent
PORT = 8799
PLATFORM_ZONE = ZoneInfo(Settings().timezone)
DAYS = 14
PAGES = {
    "overview": "/ui/",
    "messages": "/ui/messages?state=expired",
    "timeline": "/ui/messages/{conflicted}",
    "quarantine": "/ui/quarantine",
    "api": "/schema",
}


def platform_time(instant: datetime) -> str:
    """A status time as the platform writes it: its local time, no zone."""
    return instant.astimezone(PLATFORM_ZONE).strftime("%Y-%m-%d %H:%M:%S")


# Senders, their share of the traffic and how often their messages fail (the overview's tables)
SENDERS = [
    ("ShopCo", 0.45, 0.05),
    ("BankAlert", 0.3, 0.02),
    ("TaxiNow", 0.2, 0.15),
    ("", 0.05, 0.1),
]
CAMPAIGNS = ["black-friday", "otp", "welcome", "rides", ""]


def traffic(
    start: datetime, rnd: random.Random
) -> tuple[list[tuple[datetime, dict]], list[Registering]]:
    """(received_at, item) for a few hundred messages a day, delivery times spread log-normally,
    and the registration of each (its sender, campaign and sending time)."""
    arrivals, registrations = [], []
    id_sms = 5_000_000
    for day in range(DAYS):
        for _ in range(rnd.randint(150, 300)):
            id_sms += 1
            sent = start + timedelta(days=day, seconds=rnd.uniform(0, 86400))
            which = rnd.choices(range(len(SENDERS)), [share for _, share, _ in SENDERS])[0]
            sender, _, failing = SENDERS[which]
            registrations.append(
                Registering(
                    id_sms,
                    Registration(sent_at=sent, sender=sender or None,
                                 campaign=rnd.choice(CAMPAIGNS) or None),
                )
            )  # fmt: skip
            fate = rnd.random()
            delay = timedelta(seconds=rnd.lognormvariate(2.0 + day / 10, 1.3))
            steps = [("send", sent, "")]
            if fate >= failing:
                steps += [("deliver", sent + delay, ""), ("read", sent + 3 * delay, "")]
            elif fate < failing / 2:
                steps += [("partly_deliver", sent + delay, ""), ("expired", sent + 9 * delay, "")]
            else:
                steps += [("not_deliver", sent + delay, "")]
            if day == DAYS - 1 and fate > 0.6:
                steps = steps[:1]  # the last day's messages: some still pending
            for state, at, _ in steps:
                item = {"id_sms": str(id_sms), "time": platform_time(at), "state": state}
                late = timedelta(seconds=rnd.expovariate(1 / 20))  # the platform's own delay
                arrivals.append((at + late, item))
    return sorted(arrivals, key=lambda pair: pair[0]), registrations


def seed(database_url: str) -> int:
    """Records the traffic with its receipt times; returns a message with a conflict."""
    tracker = open_tracker(Settings(database_url=database_url))
    rnd = random.Random(20261126)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=DAYS)
    # send, read (sent twice), a late deliver, a not_deliver after the read, then an expiry
    # timed before the read: the read, applied on arrival, now follows the final state
    conflicted = 4_999_999
    sent = start + timedelta(hours=9)
    arrivals, registrations = traffic(start, rnd)
    for state, status_delay, arrival_delay in [
        ("send", 0, 2),
        ("read", 30, 33),
        ("deliver", 12, 35),
        ("read", 30, 61),
        ("not_deliver", 80, 84),
        ("expired", 20, 95),
    ]:
        item = {
            "id_sms": conflicted,
            "time": platform_time(sent + timedelta(seconds=status_delay)),
            "state": state,
        }
        arrivals.append((sent + timedelta(seconds=arrival_delay), item))
    try:
        # each message registered as it is sent (POST /messages/sent), then one POST per
        # report, each at its own time, in the order of those times (the tracker's receipt
        # clock never goes back)
        registered = [(r.registration.sent_at, r) for r in registrations]
        for received_at, item in sorted([*registered, *arrivals], key=lambda pair: pair[0]):
            if isinstance(item, Registering):
                batch = Batch((), registrations=(item,), received_at=received_at)
                tracker.record_batches([batch])
            else:
                tracker.record(read_body(json.dumps([item]).encode()).statuses, (), received_at)
    finally:
        tracker.close()
    return conflicted


def main() -> None:
    chromium = os.environ.get("TRACKER_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        sys.exit("needs Debian's chromium (apt-get install chromium) or TRACKER_CHROMIUM")
    folder = Path(tempfile.mkdtemp(prefix="tracker-screens-"))
    database_url = f"sqlite:///{folder / 'tracker.db'}"
    conflicted = seed(database_url)
    env = {**os.environ, "TRACKER_DATABASE_URL": database_url, "TRACKER_PORT": str(PORT)}
    server = subprocess.Popen([sys.executable, "-m", "tracker", "serve"], env=env)
    base = f"http://127.0.0.1:{PORT}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/health/live", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        bad = [{"id_sms": "12ab", "time": "", "state": "send"}, {"time": "", "state": "read"}]
        httpx.post(f"{base}/webhooks/webcom", content=json.dumps(bad))
        httpx.post(f"{base}/webhooks/webcom", content=b"{not json")
        while httpx.get(f"{base}/health/ready").json()["projection"]["lag"]:
            time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium)
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            for name, path in PAGES.items():
                page.goto(base + path.format(conflicted=conflicted))
                page.screenshot(
                    path=HERE / f"{name}.png", full_page=name not in ("messages", "api")
                )
                print(f"docs/console/{name}.png")
            browser.close()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
