"""A webhook receiver over real HTTP, on a free loopback port, for the forwarders' tests.

It answers each POST as its script says (``"ok"``: 200, a number: that status, ``"hang"``: no
answer for ``hang`` seconds, then the connection closed, ``"endless"``: 200 with a body that
trickles on until the client hangs up), then 200 for good, and keeps every
request it was sent, and the ones it accepted, with their headers."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec

from tracker.forwarding.signing import Signer

OK = ("ok", "endless")


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int | None  # None: no answer (hung up)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def changes(self) -> list[dict]:
        return msgspec.json.decode(self.body)["data"]["changes"]


class Receiver:
    def __init__(self, script: Iterable[int | str] = (), hang: float = 3.0):
        self.script = list(script)
        self.hang = hang
        self.requests: list[Received] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        self.hanging = threading.Event()  # set: every request hangs (until cleared)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                    step = receiver.script.pop(0) if receiver.script else "ok"
                    if receiver.hanging.is_set():
                        step = "hang"
                try:
                    answer = None if step == "hang" else (200 if step in OK else int(step))
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    with receiver.lock:
                        receiver.requests.append(Received(headers, body, answer))
                    if answer is None:
                        time.sleep(receiver.hang)
                        self.close_connection = True
                        return
                    self.send_response(answer)
                    if step == "endless":
                        self.send_header("transfer-encoding", "chunked")
                        self.end_headers()
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            for _ in range(int(receiver.hang * 100)):
                                self.wfile.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
                                self.wfile.flush()
                                time.sleep(0.01)
                        return
                    self.send_header("content-length", "0")
                    self.end_headers()
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks?token=abc"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.answered == 200]

    def changes(self) -> list[dict]:
        """Every change accepted, in the order they came (repeats included)."""
        return [c for r in self.accepted for c in r.changes]

    def wait_for(self, positions: int, within: float = 30.0) -> list[dict]:
        """Wait until changes of ``positions`` distinct positions were accepted."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            got = self.changes()
            if len({c["position"] for c in got}) >= positions:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{len(self.changes())} changes accepted, {positions} expected")

    def check_signatures(self, secret: str) -> None:
        signer = Signer(secret)
        for r in self.requests:
            signer.verify(r.headers, r.body, now=int(time.time()))
