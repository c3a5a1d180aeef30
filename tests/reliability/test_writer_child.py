"""The writer that `tracker serve` runs as a child process: while it is down the webhook answers
503 (nothing acknowledged), it is started again, and it never outlives the server."""

from __future__ import annotations

import json
import os
import signal
import time

from tests.e2e.conftest import start_server, stop_server
from tests.reliability.test_projector_child import child_running, gone_within


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

        second = writer_of(server.process.pid, within=15)
        assert second != first
        deadline = time.monotonic() + 15
        while (answer := server.post(body(100, 50))).status_code == 503:  # as the platform
            assert time.monotonic() < deadline, "the writer was not started again"
            time.sleep(0.2)
        assert answer.status_code == 200
        assert [a["id_sms"] for a in answer.json()] == list(range(100, 150))
        store = server.open_store()
        try:
            for n in (1, 49, 100, 149):
                assert [e.state for e in store.history(n)] == ["send"]
        finally:
            store.close()
    finally:
        stop_server(server)
    assert gone_within(second, 5), "the writer outlived a server stopped with SIGTERM"


def test_the_writer_does_not_outlive_a_server_killed_outright(sqlite_url, tmp_path):
    server = start_server(sqlite_url, tmp_path / "server.log")
    child = writer_of(server.process.pid)
    server.process.kill()
    server.process.wait()
    assert gone_within(child, 5), "the writer outlived a SIGKILLed server"
