"""The projector and the writer that `tracker serve` runs as child processes: restarted when
they die, never outliving the server; the views always caught up in the end, and nothing
acknowledged lost while the writer is down (503 until it is back)."""

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


@pytest.mark.parametrize("command", [b"project", b"write"])
def test_no_child_outlives_a_server_killed_outright(command, sqlite_url, tmp_path):
    server = start_server(sqlite_url, tmp_path / "server.log")
    child = child_running(server.process.pid, command)
    server.process.kill()
    server.process.wait()
    assert gone_within(child, 5), f"tracker {command.decode()} outlived a SIGKILLed server"


def test_a_writer_orphaned_by_a_killed_server_removes_its_sockets_directory(sqlite_url, tmp_path):
    """The server removes the directory when it stops; killed outright, it cannot, so its
    writer does, on its way out (the temporary directory filled with empty tracker-* folders)."""
    server = start_server(sqlite_url, tmp_path / "server.log")
    writer = writer_of(server.process.pid)
    command = Path(f"/proc/{writer}/cmdline").read_bytes().split(b"\0")
    socket_dir = Path(command[command.index(b"--socket") + 1].decode()).parent
    assert socket_dir.is_dir()
    server.process.kill()
    server.process.wait()
    assert gone_within(writer, 5)
    assert not socket_dir.exists()


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


def writer_of(pid: int, within: float = 10.0) -> int:
    return child_running(pid, b"write", within)


def body(first: int, count: int) -> bytes:
    return json.dumps(
        [{"id_sms": n, "time": "", "state": "send"} for n in range(first, first + count)]
    ).encode()


def test_a_killed_writer_costs_503s_until_it_is_back_and_loses_nothing_acknowledged(
    database_url, tmp_path
):
    server = start_server(database_url, tmp_path / "server.log")
    try:
        assert server.post(body(1, 50)).status_code == 200
        first = writer_of(server.process.pid)

        os.kill(first, signal.SIGKILL)
        assert gone_within(first, 5)
        assert server.post(body(100, 50)).status_code == 503  # nothing acknowledged
        with server.client() as client:  # not ready: a balancer would send batches elsewhere
            assert client.get("/health/ready").status_code == 503

        second = writer_of(server.process.pid, within=15)
        assert second != first
        deadline = time.monotonic() + 15
        while (answer := server.post(body(100, 50))).status_code == 503:  # as the platform
            assert time.monotonic() < deadline, "the writer was not started again"
            time.sleep(0.2)
        assert answer.status_code == 200
        assert [a["id_sms"] for a in answer.json()] == list(range(100, 150))
        with server.client() as client:
            assert client.get("/health/ready").status_code == 200
        store = server.open_store()
        try:
            for n in (1, 49, 100, 149):
                assert [e.event.state for e in store.history(n)] == ["send"]
        finally:
            store.close()
    finally:
        stop_server(server)
    assert gone_within(second, 5), "the writer outlived a server stopped with SIGTERM"


def test_a_server_stopped_with_sigterm_stops_its_children_and_removes_the_writers_socket(
    sqlite_url, tmp_path
):
    """uvicorn raises SIGTERM again once it has stopped serving: under the default handler
    that ended the server before its finally, leaving the socket's directory behind."""
    server = start_server(sqlite_url, tmp_path / "server.log")
    writer = writer_of(server.process.pid)
    command = Path(f"/proc/{writer}/cmdline").read_bytes().split(b"\0")
    socket_dir = Path(command[command.index(b"--socket") + 1].decode()).parent
    projector = projector_of(server.process.pid)
    assert socket_dir.is_dir()
    stop_server(server)  # SIGTERM
    assert gone_within(writer, 5) and gone_within(projector, 5)
    assert not socket_dir.exists()
