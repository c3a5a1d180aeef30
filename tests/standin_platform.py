"""A stand-in for the platform's status requests (docs/webhook.md) over real HTTP: the
JSON one (.../json/state.php, one id a request) and the XML one (.../xml/state.php, batched),
with the platform's errors on demand. It records every request it was sent.

Run alone, to try `tracker reconcile` without the platform (docs/usage.md):
``python -m tests.standin_platform --port 8090 3235=deliver 4235=read`` prints its two URLs
and credentials and answers for those messages until stopped."""

from __future__ import annotations

import argparse
import json
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

LOGIN, PASSWORD = "acme-login", "s3cret-Pa55word-never-shown"
TOKEN = "t0ken-never-shown-0123456789"

# What each failure answers: (status, content type, body); "timeout" answers late instead.
FAILURES = {
    "password": (400, "text/json", json.dumps({"error": "Incorrect login or password"})),
    "locked": (400, "text/json", json.dumps({"error": "Your account is locked"})),
    "500": (500, "text/html", "<html><body>Internal Server Error</body></html>"),
    "malformed": (200, "text/json", '{"id_sms": 1, "state": "deliver"'),
    "wrong shape": (200, "text/json", json.dumps({"id_sms": 1, "state": "deliver"})),
}


@dataclass
class Asked:
    """One request the stand-in received."""

    at: float  # time.monotonic()
    path: str
    content_type: str
    ids: list[int]
    body: bytes


@dataclass
class Answer:
    state: str
    time: str
    num_parts: int | None = None
    price: float | None = None
    sms: str | None = None
    viber: str | None = None


@dataclass
class StandinPlatform:
    """Answers from ``states``; after ``fail_after`` good requests, fails as ``failure`` says."""

    states: dict[int, Answer] = field(default_factory=dict)
    failure: str | None = None
    fail_after: int = 0
    late: float = 3.0  # seconds a "timeout" answer takes
    requests: list[Asked] = field(default_factory=list)
    port: int = 0  # 0: any free one

    def start(self) -> StandinPlatform:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                platform._answer(self, body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, fmt: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/api/{fmt}/state.php"

    @property
    def asked(self) -> list[int]:
        return [n for r in self.requests for n in r.ids]

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        fmt = "xml" if handler.path.endswith("/xml/state.php") else "json"
        try:
            ids, credentials = _xml_request(body) if fmt == "xml" else _json_request(body)
        except (ValueError, ET.ParseError, KeyError, TypeError):
            return _send(handler, 400, "text/json", '{"error": "Incorrect JSON document format"}')
        self.requests.append(Asked(time.monotonic(), handler.path,
                                   handler.headers.get("Content-Type", ""), ids, body))  # fmt: skip
        if credentials not in ({"token": TOKEN}, {"login": LOGIN, "password": PASSWORD}):
            return _send(handler, *FAILURES["password"])
        if self.failure and len(self.requests) > self.fail_after:
            if self.failure == "timeout":
                time.sleep(self.late)
            else:
                return _send(handler, *FAILURES[self.failure])
        known = [(n, self.states[n]) for n in ids if n in self.states]
        if fmt == "json":
            answer = [{"id_sms": n, "time_change_state": a.time, "state": a.state,
                       "num_parts": a.num_parts, "price": a.price} for n, a in known]  # fmt: skip
            return _send(handler, 200, "text/json", json.dumps(answer))
        root = ET.Element("response")
        for n, a in known:
            attributes = {"id_sms": str(n), "time": a.time}
            attributes.update({k: v for k, v in (("sms", a.sms), ("viber", a.viber)) if v})
            ET.SubElement(root, "state", attributes).text = a.state
        text = '<?xml version="1.0" encoding="utf-8" ?>\n' + ET.tostring(root, "unicode")
        return _send(handler, 200, "text/xml", text)


def _json_request(body: bytes) -> tuple[list[int], dict]:
    (item,) = json.loads(body)
    assert item["detail"] == 1
    credentials = {k: item[k] for k in ("token", "login", "password") if k in item}
    return [int(item["id_sms"])], credentials


def _xml_request(body: bytes) -> tuple[list[int], dict]:
    root = ET.fromstring(body)
    security = root.find("security")
    credentials = {e.tag: e.get("value") for e in (security if security is not None else [])}
    return [int(e.text or "") for e in root.iter("id_sms")], credentials


def _send(handler: BaseHTTPRequestHandler, status: int, kind: str, text: str) -> None:
    data = text.encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", f"{kind}; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:  # the client gave up waiting (a "timeout" answer)
        pass


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.standin_platform", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=8090, help="0: any free port")
    parser.add_argument("--failure", choices=[*FAILURES, "timeout"], help="answer this way")
    parser.add_argument(
        "answers", nargs="*", metavar="ID=STATE", help="a message's state now (sms and viber too)"
    )
    args = parser.parse_args()
    now = datetime.now(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%d %H:%M:%S")  # its clock
    states = {}
    for given in args.answers:
        id_sms, _, state = given.partition("=")
        states[int(id_sms)] = Answer(state, now, num_parts=1, price=2.5, sms=state)
    platform = StandinPlatform(states, failure=args.failure, port=args.port).start()
    print(f"TRACKER_PLATFORM_URL={platform.url('json')}  (or {platform.url('xml')})")
    print(f"TRACKER_PLATFORM_TOKEN={TOKEN}  (or LOGIN={LOGIN}, PASSWORD={PASSWORD})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        platform.stop()


if __name__ == "__main__":
    main()
