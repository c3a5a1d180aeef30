"""Slow clients (slowloris): a request's head and body have deadlines, real sockets trickling one
byte a second against a real ``tracker serve``; nobody else waits for them meanwhile.

One server on SQLite for the module: the deadlines live in the HTTP protocol, before any store.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import LiveServer, start_server, stop_server

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0
LATE = 1.5  # how long past its deadline a connection may still be open (timer, scheduling)

HEAD = b"POST /webhooks/webcom HTTP/1.1\r\nHost: tracker\r\nContent-Type: text/json\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("slow")
    live = start_server(
        f"sqlite:///{folder / 'tracker.db'}",
        folder / "server.log",
        header_timeout=str(HEADER_TIMEOUT),
        body_timeout=str(BODY_TIMEOUT),
    )
    try:
        yield live
    finally:
        stop_server(live)


def batch(*ids: int) -> bytes:
    items = [{"id_sms": i, "time": "2024-05-01 10:00:00", "state": "send"} for i in ids]
    return json.dumps(items).encode()


def post_head(body_length: int) -> bytes:
    return HEAD + b"Content-Length: %d\r\n\r\n" % body_length


def connect(server: LiveServer) -> socket.socket:
    address = urlsplit(server.base_url)
    return socket.create_connection((address.hostname, address.port), timeout=10)


class Trickler:
    """A client that sends ``fast`` at once, then ``slow`` one byte a second; it notes what the
    server answers and when the server closes the connection."""

    def __init__(self, sock: socket.socket, slow: bytes, fast: bytes = b""):
        self.sock, self.slow, self.fast = sock, slow, fast
        self.answer = b""
        self.closed = threading.Event()
        self.closed_after: float | None = None
        self.started = time.monotonic()
        threading.Thread(target=self._send, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()

    def _send(self) -> None:
        try:
            self.sock.sendall(self.fast)
            for byte in self.slow:
                if self.closed.wait(1.0):
                    return
                self.sock.send(bytes([byte]))
        except OSError:  # the server closed the connection
            return

    def _read(self) -> None:
        self.sock.settimeout(None)
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            self.answer += chunk
        self.closed_after = time.monotonic() - self.started
        self.closed.set()

    def wait_closed(self, deadline: float) -> float:
        """Seconds the connection lasted; fails if the server has not closed it by its deadline."""
        assert self.closed.wait(deadline + LATE), (
            f"the server still holds the connection {deadline + LATE:g} s on (answer so far: "
            f"{self.answer!r})"
        )
        assert self.closed_after is not None
        assert self.closed_after >= deadline - 0.1, "closed before its deadline"
        return self.closed_after

    def close(self) -> None:
        self.closed.set()
        self.sock.close()


def trickle(server: LiveServer, slow: bytes, fast: bytes = b"") -> Trickler:
    return Trickler(connect(server), slow, fast)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def detail_of(answer: bytes) -> str:
    return json.loads(answer.partition(b"\r\n\r\n")[2])["detail"]


def test_a_connection_that_never_sends_a_byte_is_closed_after_the_header_timeout(server):
    client = trickle(server, slow=b"")
    try:
        client.wait_closed(HEADER_TIMEOUT)
        assert client.answer == b"", "an idle connection is closed without a word"
    finally:
        client.close()


def test_a_head_trickling_one_byte_a_second_gets_408_and_the_connection_is_closed(server):
    client = trickle(server, slow=HEAD + b"X-Slow: " + b"a" * 60)
    try:
        client.wait_closed(HEADER_TIMEOUT)
        assert status_of(client.answer) == 408
        assert b"connection: close" in client.answer.lower()
        assert detail_of(client.answer) == "the request's head did not arrive within 2 s"
    finally:
        client.close()


def test_the_next_head_on_a_kept_alive_connection_has_the_same_deadline(server):
    sock = connect(server)
    sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: tracker\r\n\r\n")
    first = sock.recv(65536)
    assert status_of(first) == 200 and b"connection: close" not in first.lower()
    next_head = b"GET /health/live HTTP/1.1\r\nHost: tracker\r\nX-Slow: " + b"a" * 60
    client = Trickler(sock, slow=next_head)
    try:
        # Its first byte goes a second after the answer; the deadline is counted from that byte.
        client.wait_closed(1 + HEADER_TIMEOUT)
        assert status_of(client.answer) == 408
    finally:
        client.close()


def test_a_body_trickling_one_byte_a_second_gets_408_and_nothing_of_it_is_stored(server):
    # The batch itself comes at once; only the spaces after it, within its Content-Length, trickle.
    body = batch(5101)
    padding = b" " * 60
    client = trickle(server, slow=padding, fast=post_head(len(body) + len(padding)) + body)
    try:
        client.wait_closed(BODY_TIMEOUT)
        assert status_of(client.answer) == 408
        assert b"connection: close" in client.answer.lower()
        assert detail_of(client.answer) == "the request's body did not arrive within 3 s"
    finally:
        client.close()
    with server.client() as http:
        assert http.get("/messages/5101/history").status_code == 404
    # The application answered the 408 itself, so its access log (and metrics) saw it.
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line[:1] == "{"]
    assert {"method": "POST", "path": "/webhooks/webcom", "status": 408} in [
        {k: line.get(k) for k in ("method", "path", "status")} for line in lines
    ]


def test_a_slow_head_and_body_within_their_deadlines_are_stored_and_acknowledged(server):
    body = batch(5102)
    head = post_head(len(body))
    pieces = [head[:20], head[20:50], head[50:], body[:10], body[10:40], body[40:]]
    with connect(server) as sock:
        for piece in pieces:  # 0.4 s apart: the head takes 0.8 s of 2, the body 1.2 s of 3
            sock.sendall(piece)
            time.sleep(0.4)
        answer = sock.recv(65536)
    assert status_of(answer) == 200
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == [{"id_sms": 5102}]
    with server.client() as http:
        assert http.get("/messages/5102/history").status_code == 200


def test_trickling_clients_hold_up_no_other_sender_and_are_all_closed(server):
    body = batch(5103)
    padding = b" " * 60
    heads = [trickle(server, slow=HEAD + b"X-Slow: " + b"a" * 60) for _ in range(3)]
    bodies = [
        trickle(server, slow=padding, fast=post_head(len(body) + len(padding)) + body)
        for _ in range(3)
    ]
    try:
        time.sleep(0.5)
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            started = time.monotonic()
            live = http.get("/health/live")
            posted = http.post("/webhooks/webcom", content=batch(5104))
            took = time.monotonic() - started
        assert not any(c.closed.is_set() for c in heads + bodies), "answered while they trickled"
        assert (live.status_code, posted.status_code) == (200, 200)
        assert posted.json() == [{"id_sms": 5104}]
        assert took < 1.0, f"the other sender waited {took:.2f} s"
        for client in heads:
            client.wait_closed(HEADER_TIMEOUT)
        for client in bodies:
            client.wait_closed(BODY_TIMEOUT)
            assert status_of(client.answer) == 408
    finally:
        for client in heads + bodies:
            client.close()
    with server.client() as http:
        assert http.get("/messages/5103/history").status_code == 404
