"""The change feed over real HTTP: pages after a position, a stream cut and resumed with no gap
and no repeat while reports keep arriving, roles, the bound on streams, and shutdown."""

from __future__ import annotations

import itertools
import json
import signal
import socket
import threading
import time

import httpx
import pytest

from tests.e2e.conftest import KEYS, start_server, stop_server

STATES = ["send", "partly_deliver", "deliver", "read"]


def body(id_sms: int, state: str, minute: int) -> bytes:
    time_ = f"2026-12-07 10:{minute % 60:02d}:00" if state != "send" else ""
    return json.dumps([{"id_sms": id_sms, "state": state, "time": time_}]).encode()


def every_change(server, key: str | None = None) -> list[dict]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    found, after = [], 0
    with server.client(headers=headers) as client:
        while (page := client.get("/changes", params={"after": after, "limit": 1000}).json())[
            "changes"
        ]:
            found += page["changes"]
            after = page["next"]
    return found


class Sender:
    """Reports for new messages, one request after another, in a thread, until stopped."""

    def __init__(self, server, first: int):
        self.server, self.ids, self.sent = server, itertools.count(first), 0
        self.refused: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.server.client() as client:
            while not self.stop.is_set():
                n = next(self.ids)
                for minute, state in enumerate(STATES[: 1 + n % 4]):
                    answer = client.post(
                        "/webhooks/webcom",
                        content=body(n, state, minute),
                        headers={"Content-Type": "text/json"},
                    )
                    if answer.status_code != 200:
                        self.refused.append(answer.status_code)
                    self.sent += 1
                time.sleep(0.01)

    def __enter__(self) -> Sender:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def read_events(response: httpx.Response, count: int) -> list[tuple[int, str, dict]]:
    """Up to ``count`` events (id, type, data) from an open stream, then stop reading."""
    events, fields = [], {}
    for line in response.iter_lines():
        if line == "":
            if "data" in fields:
                events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                if len(events) >= count:
                    return events
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    return events


def test_pages_after_a_position_give_every_change_once_in_log_order(live_server):
    for n in range(5):
        for minute, state in enumerate(STATES):
            assert live_server.post(body(7000 + n, state, minute)).status_code == 200
    live_server.settled()
    whole = every_change(live_server)
    mine = [c for c in whole if 7000 <= c["id_sms"] < 7005]
    assert len(mine) == 20 and [c["position"] for c in whole] == sorted(
        {c["position"] for c in whole}
    )
    assert [(c["previous"], c["state"]) for c in mine if c["id_sms"] == 7003] == [
        (None, "send"), ("send", "partly_deliver"), ("partly_deliver", "deliver"),
        ("deliver", "read"),
    ]  # fmt: skip
    assert mine[-1]["final"] is True and mine[-1]["time"] == "2026-12-07 10:03:00"
    paged, after = [], 0
    with live_server.client() as client:
        while page := client.get("/changes", params={"after": after, "limit": 3}).json():
            assert len(page["changes"]) <= 3 and page["complete_from"] == 0
            if not page["changes"]:
                assert page["next"] == after and page["head"] == whole[-1]["position"]
                break
            paged += page["changes"]
            after = page["next"]
        one = client.get("/changes", params={"id_sms": "7002"}).json()["changes"]
    assert paged == whole
    assert one == [c for c in whole if c["id_sms"] == 7002]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("after=-1", "after"),
        ("after=x", "after"),
        ("after=99999999999999999999", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("id_sms=x", "id_sms"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(live_server, query, named):
    for path in ("/changes", "/changes/stream"):
        if path.endswith("stream") and named == "limit":
            continue
        with live_server.client() as client:
            answer = client.get(f"{path}?{query}")
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["detail"].startswith(named), answer.text


def test_a_bad_last_event_id_is_a_400_naming_it(live_server):
    with live_server.client() as client:
        answer = client.get("/changes/stream", headers={"Last-Event-ID": "seven"})
    assert answer.status_code == 400 and "Last-Event-ID" in answer.json()["detail"]


def test_a_stream_cut_mid_way_resumes_after_its_last_event_with_no_gap_and_no_repeat(
    live_server,
):
    """Reports keep arriving while a client reads some events, drops the connection, and
    comes back with Last-Event-ID, three times; then it reads on until it has caught up."""
    live_server.settled()
    start = (every_change(live_server) or [{"position": 0}])[-1]["position"]
    received: list[tuple[int, str, dict]] = []
    last = start
    with Sender(live_server, first=20_000) as sender, live_server.client() as client:
        for cut in range(4):
            headers = {"Last-Event-ID": str(last)} if cut else {}
            params = {} if cut else {"after": start}
            with client.stream("GET", "/changes/stream", headers=headers, params=params) as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                events = read_events(r, 15)
            # leaving the block closes the connection mid-stream
            received += events
            last = received[-1][0]
    assert sender.sent > 60 and sender.refused == []
    live_server.settled()
    expected = [c for c in every_change(live_server) if c["position"] > start]
    rest = [e for e in expected if e["position"] > last]
    resumed = {"Last-Event-ID": str(last)}  # the rest, from the last one received
    with (
        live_server.client() as client,
        client.stream("GET", "/changes/stream", headers=resumed) as r,
    ):
        received += read_events(r, len(rest)) if rest else []
    assert {kind for _, kind, _ in received} == {"change"}
    assert [i for i, _, _ in received] == [c["position"] for c in expected]  # none twice, none lost
    assert [data for _, _, data in received] == expected


def test_the_streams_of_a_process_are_bounded_and_a_closed_one_frees_its_place(tmp_path):
    server = start_server(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "log", streams="1")
    try:
        with server.client() as client, client.stream("GET", "/changes/stream") as first:
            assert first.status_code == 200
            refused = client.get("/changes/stream")
            assert refused.status_code == 503 and refused.headers["retry-after"]
            assert "TRACKER_STREAMS" in refused.json()["detail"]
        deadline = time.monotonic() + 10
        while True:  # the first stream's place comes back once the server sees it closed
            with server.client() as client, client.stream("GET", "/changes/stream") as again:
                if again.status_code == 200 or time.monotonic() > deadline:
                    break
            time.sleep(0.2)
        assert again.status_code == 200
    finally:
        stop_server(server)


def test_a_server_shutting_down_ends_its_open_streams_and_does_not_hang(tmp_path):
    server = start_server(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "log")
    ended = threading.Event()

    def listen() -> None:
        with server.client() as client, client.stream("GET", "/changes/stream") as r:
            for _ in r.iter_lines():
                pass
        ended.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(1.0)  # the stream is open and waiting
    began = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=10)
    except Exception:
        server.process.kill()
        raise
    assert time.monotonic() - began < 10 and server.process.returncode == 0
    assert ended.wait(5)  # the client saw its stream end


def test_a_server_shutting_down_does_not_wait_for_a_stream_whose_client_stopped_reading(tmp_path):
    server = start_server(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "log")
    try:
        with server.client() as client:  # some 8 MB of events: more than the sockets buffer
            items = [{"id_sms": n, "state": "send", "time": ""} for n in range(1, 25_001)]
            assert client.post("/webhooks/webcom", content=json.dumps(items)).status_code == 200
        server.settled(within=60)
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect((httpx.URL(server.base_url).host, httpx.URL(server.base_url).port))
        reader.sendall(b"GET /changes/stream HTTP/1.1\r\nHost: tracker\r\n\r\n")
        time.sleep(2.0)  # the stream has filled every buffer and waits to write: never read
        began = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=20)
        assert time.monotonic() - began < 20 and server.process.returncode == 0
        reader.close()
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def test_keys_are_asked_for_the_feed_and_every_role_may_read_it(keyed):
    with keyed.client() as client:
        assert client.get("/changes").status_code == 401
        assert client.get("/changes/stream").status_code == 401
        wrong = {"Authorization": "Bearer not-a-key-at-all-0123"}
        assert client.get("/changes/stream", headers=wrong).status_code == 401
        for role, key in KEYS.items():
            auth = {"Authorization": f"Bearer {key}"}
            page = client.get("/changes", headers=auth)
            assert page.status_code == 200, role
            assert [c["id_sms"] for c in page.json()["changes"]] == [4100]
            with client.stream("GET", "/changes/stream", headers=auth) as r:
                assert r.status_code == 200, role
                [(_, kind, data)] = read_events(r, 1)
            assert (kind, data["id_sms"], data["state"]) == ("change", 4100, "send")
