"""The projector that `tracker serve` runs as a child process: restarted when it dies, never
outliving the server, and the views it keeps always caught up in the end."""

from __future__ import annotations

import json
import os
import signal
import time
from contextlib import suppress
from pathlib import Path

import pytest

from tests.e2e.conftest import start_server, stop_server
from tests.reliability.proxy import proxied


def children(pid: int) -> list[int]:
    """Child processes of any of its threads (the projector is restarted from a thread)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(FileNotFoundError):  # a thread that ended meanwhile
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def child_running(pid: int, command: bytes, within: float = 10.0) -> int:
    """The pid of the server's `tracker COMMAND` child, once there is one."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for child in children(pid):
            with suppress(FileNotFoundError):
                if command in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
                    return child
        time.sleep(0.1)
    raise AssertionError(f"no {command.decode()} process under {pid}")


def projector_of(pid: int, within: float = 10.0) -> int:
    return child_running(pid, b"project", within)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def send(server, first: int, count: int) -> None:
    items = [{"id_sms": n, "time": "", "state": "send"} for n in range(first, first + count)]
    assert server.post(json.dumps(items).encode()).status_code == 200


def test_a_killed_projector_is_started_again_and_the_views_catch_up(database_url, tmp_path):
    server = start_server(database_url, tmp_path / "server.log")
    try:
        send(server, 1, 50)
        assert server.settled()["projection"]["lag"] == 0
        first = projector_of(server.process.pid)

        os.kill(first, signal.SIGKILL)
        send(server, 100, 50)  # stored while no projector runs

        second = projector_of(server.process.pid, within=15)
        assert second != first
        ready = server.settled(within=20)
        assert ready["projection"]["lag"] == 0 and ready["projection"]["head"] >= 100
        with server.client() as client:
            assert client.get("/messages/149").json()["state"] == "send"
    finally:
        stop_server(server)
    assert gone_within(second, 5), "the projector outlived a server stopped with SIGTERM"


def test_the_projector_does_not_outlive_a_server_killed_outright(sqlite_url, tmp_path):
    server = start_server(sqlite_url, tmp_path / "server.log")
    child = projector_of(server.process.pid)
    server.process.kill()
    server.process.wait()
    assert gone_within(child, 5), "the projector outlived a SIGKILLed server"


@pytest.mark.postgres
def test_the_projector_does_not_outlive_a_server_killed_while_postgres_is_unreachable(
    postgres_url, tmp_path
):
    proxy, url = proxied(postgres_url)
    server = start_server(url, tmp_path / "server.log", lock_timeout="1")
    try:
        child = projector_of(server.process.pid)
        proxy.cut()  # the database stops answering: the projector's next poll waits on it
        time.sleep(1)
        server.process.kill()
        server.process.wait()
        assert gone_within(child, 15), "the projector outlived its server, waiting on the store"
    finally:
        proxy.cut()
