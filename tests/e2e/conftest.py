"""A real tracker server process on a free loopback port, on a SQLite file or on PostgreSQL;
and a headless Chromium to drive the web console."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support import IN_CI, create_schema, drop_schema
from tracker.application import Tracker
from tracker.audit.digest import new_key, write_key
from tracker.bootstrap import open_tracker
from tracker.config import Settings


@dataclass
class LiveServer:
    """A running ``tracker serve`` and the store it writes to."""

    base_url: str
    database_url: str
    process: subprocess.Popen
    log: Path

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)

    def post(self, body: bytes, headers: dict | None = None) -> httpx.Response:
        """POST a body to the webhook, as the platform does (text/json)."""
        headers = {"Content-Type": "text/json; charset=utf-8"} if headers is None else headers
        with self.client() as client:
            return client.post("/webhooks/webcom", content=body, headers=headers)

    def settled(self, within: float = 15.0, key: str | None = None) -> dict:
        """Wait until the views have caught up with every stored event (lag 0)."""
        deadline = time.monotonic() + within
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        with self.client(headers=headers) as client:
            while True:
                ready = client.get("/health/ready").json()
                if ready["projection"]["lag"] == 0 or time.monotonic() > deadline:
                    return ready
                time.sleep(0.05)

    def open_store(self) -> Tracker:
        """A second Tracker on the same store, to check what the server stored."""
        return open_tracker(Settings(database_url=self.database_url, create_tables=False))


def recorded(server: LiveServer, key: str | None = None, within: float = 15.0) -> None:
    """Wait until the request log holds a request (it is written a moment after the answer)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + within
    with server.client(headers=headers) as client:
        while not client.get("/requests").json()["requests"] and time.monotonic() < deadline:
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    database_url: str, log: Path, port: int | None = None, **settings: str
) -> LiveServer:
    port = port or free_port()
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_PORT": str(port),
        "TRACKER_LOG_LEVEL": "warning",
        **{f"TRACKER_{k.upper()}": v for k, v in settings.items()},
    }
    output = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tracker", "serve"], env=env, stdout=output, stderr=output
    )
    server = LiveServer(f"http://127.0.0.1:{port}", database_url, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited at start-up:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.base_url}/schema/openapi.json", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server did not answer within 30 s:\n{log.read_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    """One server per store kind for the module; tests use ids of their own."""
    yield from served(request, tmp_path_factory.mktemp("server"))


def served(
    request, folder: Path, fill: Callable[[str], None] | None = None, **settings: str
) -> Iterator[LiveServer]:
    """A server on a store of the kind ``request.param`` names (sqlite or postgres), in
    ``folder`` or a schema of its own; filled by ``fill`` (given the store's URL) before it
    starts, and then settled (the fill in its views). The schema is dropped after."""
    if request.param == "sqlite":
        database_url = f"sqlite:///{folder / 'tracker.db'}"
    else:
        database_url = create_schema(request.getfixturevalue("postgres_server"))
    try:
        if fill is not None:
            fill(database_url)
        server = start_server(
            database_url, folder / "server.log", **{"lock_timeout": "1", **settings}
        )
        try:
            if fill is not None:
                server.settled()
            yield server
        finally:
            stop_server(server)
    finally:
        if request.param == "postgres":
            drop_schema(database_url)


CHROMIUM = os.environ.get("TRACKER_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (a skip saying why when it is missing)."""
    if not CHROMIUM or not Path(CHROMIUM).exists():
        reason = (
            "no Chromium to drive the console: install Debian's chromium package "
            "(apt-get install chromium) or set TRACKER_CHROMIUM to a Chromium executable"
        )
        if IN_CI:
            pytest.fail(f"CI=true: the browser tests must run, but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab with no cookies, that fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"script errors on the page: {errors}"


# A server with API keys of every role, for the tests of who may do what (API and console).
KEYS = {
    "auditor": "auditor-key-0123456789",
    "analyst": "analyst-key-0123456789",
    "admin": "admin-key-0123456789ab",
}
BODY = b'[{"id_sms": 4100, "time": "2024-05-01 10:00:00", "state": "send"}]'


@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> Iterator[LiveServer]:
    """A server on SQLite with a key of each role, message 4100 stored and in the views, and
    its digests signed (TRACKER_AUDIT_KEY)."""
    folder = tmp_path_factory.mktemp("keys")
    write_key(folder / "audit-key.pem", new_key()[0])
    server = start_server(
        f"sqlite:///{folder / 'tracker.db'}",
        folder / "server.log",
        api_keys=",".join(f"{role}:{key}" for role, key in KEYS.items()),
        audit_key=str(folder / "audit-key.pem"),
    )
    try:
        assert server.post(BODY).status_code == 200
        server.settled(key=KEYS["admin"])
        recorded(server, KEYS["admin"])
        yield server
    finally:
        stop_server(server)
