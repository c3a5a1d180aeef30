"""The request log over real HTTP: every request to the webhook recorded as it came, with what
it was answered, whatever the answer; filtered and paged; replayed after a setting is fixed;
and never in the way of an acknowledgement."""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.conftest import KEYS, LiveServer, start_server, stop_server
from tests.support import create_schema, drop_schema, run_cli
from tracker.bootstrap import open_request_store
from tracker.config import Settings

TOKEN, OTHER = "platform-token-0123456789", "second-token-0123456789"
MAX_BODY = 100_000


def body(*ids: int, state: str = "send") -> bytes:
    return json.dumps(
        [{"id_sms": i, "time": "2024-05-01 10:00:00", "state": state} for i in ids]
    ).encode()


def waiting_for(check: Callable[[], object], within: float = 15.0) -> object:
    """The first truthy answer of ``check`` (the log is written a moment after the answer)."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def requests_of(server: LiveServer, **params: object) -> list[dict]:
    with server.client() as client:
        answer = client.get("/requests", params={"limit": 1000, **params})
        assert answer.status_code == 200, answer.text
        return answer.json()["requests"]


def the_one(server: LiveServer, id_sms: int, count: int = 1) -> list[dict]:
    found = waiting_for(lambda: len(r := requests_of(server, id_sms=id_sms)) >= count and r)
    assert found, f"no request carrying {id_sms} was recorded"
    return found  # type: ignore[return-value]


def last(server: LiveServer, **where: object) -> dict:
    """The newest recorded request with these fields (waiting for it to be written)."""

    def match() -> dict | None:
        return next(
            (r for r in requests_of(server) if all(r[k] == v for k, v in where.items())), None
        )

    found = waiting_for(match)
    assert found, f"no request with {where} was recorded"
    return found  # type: ignore[return-value]


def detail(server: LiveServer, request_id: int) -> dict:
    with server.client() as client:
        answer = client.get(f"/requests/{request_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(request, tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("requests")
    if request.param == "sqlite":
        database_url = f"sqlite:///{folder / 'tracker.db'}"
    else:
        database_url = create_schema(request.getfixturevalue("postgres_server"))
    live = start_server(
        database_url, folder / "server.log", lock_timeout="1", body_timeout="1",
        max_body_bytes=str(MAX_BODY), webhook_tokens=f"platform:{TOKEN},{OTHER}",
    )  # fmt: skip
    try:
        yield live
    finally:
        stop_server(live)
        if request.param == "postgres":
            drop_schema(database_url)


def post(server: LiveServer, content, token: str = TOKEN, **kwargs) -> httpx.Response:
    with server.client() as client:
        return client.post(f"/webhooks/webcom/{token}", content=content, **kwargs)


def test_an_accepted_request_is_recorded_with_its_body_answer_and_acknowledged_count(server):
    sent = body(61001, 61002, 61001)
    answer = post(server, sent, headers={"Content-Type": "text/json; charset=utf-8"})
    assert answer.status_code == 200
    (found,) = the_one(server, 61002)
    assert found["status"] == 200 and found["acknowledged"] == 2 and found["ids"] == [61001, 61002]
    assert found["token"] == "platform" and found["sender"] == "127.0.0.1"
    assert found["size"] == len(sent) and found["format"] == "json"
    assert found["content_type"] == "text/json; charset=utf-8" and found["latency_ms"] > 0
    whole = detail(server, found["id"])
    assert whole["body"] == sent.decode() and whole["body_encoding"] == "utf-8"
    assert json.loads(whole["answer"]) == answer.json()
    assert TOKEN not in json.dumps(whole)  # the name, never the secret


def test_an_xml_request_is_recorded_with_its_xml_answer_and_a_bare_token_by_position(server):
    sent = b'<response><state id_sms="61011" time="2024-05-01 10:00:00">send</state></response>'
    assert post(server, sent, token=OTHER).status_code == 200
    (found,) = the_one(server, 61011)
    assert (found["format"], found["token"], found["acknowledged"]) == ("xml", "token-2", 1)
    assert "<id_sms>61011</id_sms>" in detail(server, found["id"])["answer"]


def test_refused_requests_are_recorded_whatever_the_answer(server):
    wrong = post(server, body(61021), token="not-the-token-at-all-00")
    assert wrong.status_code == 404
    recorded = last(server, status=404)
    assert recorded["token"] is None and recorded["size"] == len(body(61021))
    assert "not-the-token" not in json.dumps(detail(server, recorded["id"]))

    with server.client() as client:  # no route there: tokens are set
        assert client.post("/webhooks/webcom", content=body(61022, 61023)).status_code == 404
    unrouted = last(server, status=404, size=len(body(61022, 61023)))
    assert detail(server, unrouted["id"])["body"] == body(61022, 61023).decode()

    assert post(server, b'{"not": "a list"').status_code == 400
    assert last(server, status=400)["format"] == "json"

    too_big = b"[" + b" " * (MAX_BODY * 2) + b"]"
    assert post(server, too_big).status_code == 413
    big = last(server, status=413)
    assert big["size"] == len(too_big) and big["note"] == "truncated"


def test_a_body_that_comes_too_slowly_is_recorded_as_408(server):
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            f"POST /webhooks/webcom/{TOKEN} HTTP/1.1\r\nHost: x\r\n".encode()
            + b"Content-Length: 100\r\n\r\n"
            + b'[{"id_sms": 6103'
        )
        assert b" 408 " in s.recv(4096).split(b"\r\n", 1)[0]
    slow = last(server, status=408)
    assert slow["size"] == 16
    log = server.log.read_text()  # the client's delay, not the server's error: no traceback
    assert "408: the request's body did not arrive" not in log


def test_a_length_past_what_a_database_holds_is_recorded_and_holds_up_no_other_record(server):
    host, port = server.base_url.removeprefix("http://").split(":")
    for announced in (2**64 - 1, 2**63):  # within HTTP's 64 bits, past a signed BIGINT
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                f"POST /webhooks/webcom/{TOKEN} HTTP/1.1\r\nHost: x\r\n".encode()
                + f"Content-Length: {announced}\r\n\r\n[".encode()
            )
            assert b" 413 " in s.recv(4096).split(b"\r\n", 1)[0]
    assert post(server, body(61041)).status_code == 200
    the_one(server, 61041)  # stored: the records before it did not stop the writer
    huge = last(server, status=413, note="truncated", size=2**63 - 1)
    assert detail(server, huge["id"])["body"] is None


def test_a_body_its_client_abandoned_is_recorded_as_incomplete(server):
    host, port = server.base_url.removeprefix("http://").split(":")
    for name, token, id_sms in (("platform", TOKEN, 61051), (None, "not-the-token-00000", 61052)):
        sent = body(id_sms)  # whole JSON, but less than the length announced
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                f"POST /webhooks/webcom/{token} HTTP/1.1\r\nHost: x\r\n".encode()
                + f"Content-Length: {len(sent) + 100}\r\n\r\n".encode()
                + sent
            )
            time.sleep(0.3)  # gone before the rest came: not a body to replay as if whole
        abandoned = last(server, size=len(sent), token=name, note="body incomplete")
        with server.client() as client:
            assert client.post(f"/requests/{abandoned['id']}/replay").status_code == 409


def test_cursor_paging_has_no_repeat_and_no_gap_and_bad_parameters_are_400(server):
    for n in range(12):
        post(server, body(61100 + n))
    for n in range(12):  # all stored (earlier tests' records made a count of 12 no wait)
        the_one(server, 61100 + n)
    everything = [r["id"] for r in requests_of(server)]
    paged, cursor = [], None
    with server.client() as client:
        while True:
            params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
            page = client.get("/requests", params=params).json()
            paged += [r["id"] for r in page["requests"]]
            if not (cursor := page["next"]):
                break
        assert paged == everything
        bad = (({"limit": 0}, "limit"), ({"cursor": "x"}, "cursor"),
               ({"from": "yesterday"}, "from"), ({"status": "ok"}, "status"),
               ({"id_sms": "-1"}, "id_sms"), ({"to": "2024-13-01"}, "to"))  # fmt: skip
        for params, named in bad:
            answer = client.get("/requests", params=params)
            assert answer.status_code == 400 and named in answer.json()["detail"], answer.text
        assert client.get("/requests/999999999").status_code == 404


def test_hostile_bodies_are_recorded_without_a_500(server):
    repeats = json.dumps(
        [{"id_sms": 61200, "time": "2024-05-01 10:00:00", "state": "send"}] * 80_000
    )
    assert len(repeats) > MAX_BODY  # too big for this server: 413, its start kept
    assert post(server, repeats.encode()).status_code == 413
    binary = bytes(range(256)) * 8
    lone = b'[{"id_sms": 61201, "time": "2024-05-01 10:00:00", "state": "\\ud800\xed\xa0\x80"}]'
    for sent in (binary, lone):
        answer = post(server, sent)
        assert answer.status_code in (200, 400)
    rejected = last(server, status=400, size=len(binary))
    whole = detail(server, rejected["id"])
    assert whole["body_encoding"] == "base64" and base64.b64decode(whole["body"]) == binary
    (surrogate,) = the_one(server, 61201)
    whole = detail(server, surrogate["id"])
    assert base64.b64decode(whole["body"]) == lone


def test_a_huge_chunked_body_is_kept_up_to_the_limit(server):
    def chunks():
        for _ in range(100):
            yield b" " * 100_000  # 10 MB in all

    assert post(server, chunks()).status_code == 413
    found = last(server, status=413, note="truncated")
    assert found["size"] >= MAX_BODY


@pytest.fixture
def allow_then_fix(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Servers on one SQLite store, one after the other, with the settings each is given."""
    running: list[LiveServer] = []

    def start(**settings: str) -> LiveServer:
        for live in running:
            stop_server(live)
        running.append(
            start_server(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log",
                         api_keys=",".join(f"{r}:{k}" for r, k in KEYS.items()), **settings)
        )  # fmt: skip
        return running[-1]

    yield start
    stop_server(running[-1])


ADMIN = {"Authorization": f"Bearer {KEYS['admin']}"}


def test_a_replay_of_a_body_refused_by_a_setting_stores_it_once_the_setting_is_fixed(
    allow_then_fix,
):
    refusing = allow_then_fix(webhook_allow="10.0.0.0/8")  # the platform's addresses, mistyped
    sent = body(61301, 61302)
    with refusing.client(headers=ADMIN) as client:
        assert client.post("/webhooks/webcom", content=sent).status_code == 403
        refused = waiting_for(
            lambda: client.get("/requests", params={"status": 403}).json()["requests"]
        )
        (refused,) = refused
        assert refused["ids"] == []  # never read: the refusal came first
        still = client.post(f"/requests/{refused['id']}/replay")  # the setting not fixed yet
        assert still.status_code == 409 and "still not allowed" in still.json()["detail"]
        assert client.get("/messages/61301").status_code == 404

    fixed = allow_then_fix(webhook_allow="127.0.0.0/8")
    with fixed.client(headers=ADMIN) as client:
        assert client.get("/messages/61301/history").status_code == 404
        replayed = client.post(f"/requests/{refused['id']}/replay")
        assert replayed.status_code == 200, replayed.text
        assert replayed.json() == [{"id_sms": 61301}, {"id_sms": 61302}]
        assert client.get("/messages/61301/history").status_code == 200
        again = client.post(f"/requests/{refused['id']}/replay")  # a repeat: nothing new
        assert again.json() == replayed.json()
        reports = client.get("/messages/61301/history").json()["reports"]
        assert [r["deliveries"] for r in reports] == [2]
        replays = waiting_for(
            lambda: (
                len(r := client.get("/requests", params={"id_sms": 61301}).json()["requests"]) == 2
                and r
            )
        )
        assert replays and {r["replay_of"] for r in replays} == {refused["id"]}
        assert {r["note"] for r in replays} == {"replay"}


def test_the_command_line_lists_shows_and_replays_requests(allow_then_fix, tmp_path):
    live = allow_then_fix(webhook_tokens=f"platform:{TOKEN}")
    with live.client() as client:
        wrong = client.post("/webhooks/webcom/" + "x" * 20, content=body(61401))
        assert wrong.status_code == 404
        assert client.post(f"/webhooks/webcom/{TOKEN}", content=body(61402)).status_code == 200
    refused = last_keyed(live, status=404)
    listed = run_cli(live.database_url, "requests", "--status", "404")
    assert listed.returncode == 0 and str(refused["id"]) in listed.stdout, listed.stderr
    shown = run_cli(live.database_url, "request", str(refused["id"]))
    assert shown.returncode == 0 and '"id_sms": 61401' in shown.stdout
    # Refused for its token: the token tried is not kept, so no replay can check it.
    unchecked = run_cli(live.database_url, "replay", str(refused["id"]))
    assert unchecked.returncode == 2 and "refused for its token" in unchecked.stderr
    with live.client(headers=ADMIN) as client:
        answer = client.post(f"/requests/{refused['id']}/replay")
        assert answer.status_code == 409 and "refused for its token" in answer.json()["detail"]
        assert client.get("/messages/61401").status_code == 404
    stored = last_keyed(live, status=200, id_sms=61402)
    replayed = run_cli(live.database_url, "replay", str(stored["id"]))
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout) == [{"id_sms": 61402}]  # a repeat, acknowledged
    carrying = run_cli(live.database_url, "requests", "--id-sms", "61402", "--json")
    (record,) = [r for r in json.loads(carrying.stdout)["requests"] if r["replay_of"]]
    assert record["replay_of"] == stored["id"] and record["sender"] == "cli"
    missing = run_cli(live.database_url, "request", "999999")
    assert missing.returncode == 2 and "no request 999999" in missing.stderr
    huge = run_cli(live.database_url, "replay", str(2**64))
    assert huge.returncode == 2 and f"no request {2**64}" in huge.stderr

    store = open_request_store(Settings(database_url=live.database_url))
    try:  # retention drops every body kept (as TRACKER_REQUEST_LOG_KEEP would, later)
        assert store.prune(datetime.now(UTC) + timedelta(days=1), 0) >= 2
    finally:
        store.close()
    gone = run_cli(live.database_url, "replay", str(stored["id"]))
    assert gone.returncode == 2 and "no longer kept" in gone.stderr
    with live.client(headers=ADMIN) as client:
        answer = client.post(f"/requests/{stored['id']}/replay")
        assert answer.status_code == 410 and "no longer kept" in answer.json()["detail"]
        assert client.get(f"/requests/{stored['id']}").json()["body"] is None


def test_a_body_refused_for_its_token_is_kept_up_to_64_kib_only(allow_then_fix):
    live = allow_then_fix(webhook_tokens=f"platform:{TOKEN}")
    with live.client() as client:
        wrong = client.post("/webhooks/webcom/" + "x" * 20, content=b" " * 90_000 + body(61501))
        assert wrong.status_code == 404
    refused = last_keyed(live, status=404)
    with live.client(headers=ADMIN) as client:
        whole = client.get(f"/requests/{refused['id']}").json()
    assert "truncated" in whole["note"] and len(whole["body"]) == 65536


def test_a_truncated_body_cannot_be_replayed(server):
    assert post(server, b"[" + b" " * (MAX_BODY + 10) + b"]").status_code == 413
    cut = last(server, status=413, size=MAX_BODY + 12)
    with server.client() as client:
        answer = client.post(f"/requests/{cut['id']}/replay")
    assert answer.status_code == 409 and "cannot be replayed" in answer.json()["detail"]
    path = f"/requests/{cut['id']}/replay"
    assert waiting_for(lambda: f'"path":"{path}","status":409' in server.log.read_text())
    assert f"path='{path}'" not in server.log.read_text()  # an answer, not an error's traceback


def last_keyed(live: LiveServer, **where: object) -> dict:
    with live.client(headers=ADMIN) as client:
        found = waiting_for(lambda: client.get("/requests", params=where).json()["requests"])
    assert found
    return found[0]  # type: ignore[index]


def test_roles_auditors_read_the_log_and_only_admins_replay(keyed):
    keyed.post(body(61501))
    with keyed.client() as anonymous:
        assert anonymous.get("/requests").status_code == 401
    for role, reads, replays in (("auditor", 200, 403), ("analyst", 403, 403), ("admin", 200, 200)):
        with keyed.client(headers={"Authorization": f"Bearer {KEYS[role]}"}) as client:
            assert client.get("/requests").status_code == reads
            found = last_keyed(keyed, id_sms=61501)
            assert client.get(f"/requests/{found['id']}").status_code == reads
            assert client.post(f"/requests/{found['id']}/replay").status_code == replays


def test_a_locked_request_log_never_delays_an_acknowledgement(tmp_path):
    live = start_server(
        f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log", lock_timeout="1"
    )
    try:
        assert live.post(body(61601)).status_code == 200
        the_one(live, 61601)
        holder = sqlite3.connect(tmp_path / "tracker.requests.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the request log's write lock, held for seconds
        try:
            for n in range(5):
                answer = live.post(body(61610 + n))
                assert answer.json() == [{"id_sms": 61610 + n}]
            time.sleep(1.5)  # past the lock timeout: the writer thread retries, queued
            assert requests_of(live, id_sms=61610) == []
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        for n in range(5):
            the_one(live, 61610 + n)
        assert len(requests_of(live, id_sms=61612)) == 1  # each once
    finally:
        stop_server(live)


def test_a_503_is_recorded_with_the_messages_it_carried(tmp_path):
    live = start_server(
        f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log", lock_timeout="1"
    )
    try:
        assert live.post(body(61660)).status_code == 200  # the store is made
        holder = sqlite3.connect(tmp_path / "tracker.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the events' write lock, held past the timeout
        try:
            assert live.post(body(61661, 61662)).status_code == 503
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        (failed,) = the_one(live, 61661)
        assert (failed["status"], failed["acknowledged"], failed["ids"]) == (503, 0, [61661, 61662])
        assert "not confirmed as stored" in detail(live, failed["id"])["answer"]
    finally:
        stop_server(live)


def test_80000_repeats_of_one_id_are_one_message_number_and_one_acknowledgement(tmp_path):
    live = start_server(f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log")
    try:
        item = {"id_sms": 61650, "time": "2024-05-01 10:00:00", "state": "send"}
        repeats = json.dumps([item] * 80_000, separators=(",", ":")).encode()
        assert len(repeats) < 5 * 1024 * 1024  # within TRACKER_MAX_BODY_BYTES's default
        assert live.post(repeats).json() == [{"id_sms": 61650}]
        (found,) = the_one(live, 61650)
        assert (found["ids"], found["acknowledged"], found["size"]) == ([61650], 1, len(repeats))
        assert found["note"] is None  # kept whole
    finally:
        stop_server(live)


def test_with_the_request_log_off_nothing_is_recorded_and_the_routes_say_so(tmp_path):
    live = start_server(
        f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log", request_log="false"
    )
    try:
        assert live.post(body(61701)).status_code == 200
        with live.client() as client:
            answer = client.get("/requests")
            assert answer.status_code == 404 and "TRACKER_REQUEST_LOG" in answer.json()["detail"]
        assert not (tmp_path / "tracker.requests.db").exists()
    finally:
        stop_server(live)


def test_each_report_in_a_history_links_to_the_requests_that_carried_it(server):
    first, again = post(server, body(61801)), post(server, body(61801))
    assert first.status_code == again.status_code == 200
    post(server, body(61801, state="deliver"))
    carried = sorted(r["id"] for r in the_one(server, 61801, count=3))
    with server.client() as client:
        reports = client.get("/messages/61801/history").json()["reports"]
        assert [r["requests"] for r in reports] == [carried[:2], carried[2:]]
        timeline = client.get("/ui/messages/61801").text
        assert all(f'href="/ui/requests/{i}"' in timeline for i in carried)
        assert (
            f'href="/ui/requests/{carried[2]}"' in client.get("/ui/messages/61801/reports/1").text
        )


def test_the_console_lists_filters_and_shows_requests(server):
    post(server, body(61901))
    (found,) = the_one(server, 61901)
    with server.client() as client:
        listed = client.get("/ui/requests", params={"id_sms": "61901", "status": "200"})
        assert listed.status_code == 200 and f'id="request-{found["id"]}"' in listed.text
        assert 'href="/ui/messages/61901"' in listed.text
        assert "script" not in listed.text.lower()
        none = client.get("/ui/requests", params={"status": "404", "id_sms": "61901"})
        assert "No request matches." in none.text
        bad = client.get("/ui/requests", params={"status": "abc"})
        assert bad.status_code == 400 and "status" in bad.text
        whole = client.get(f"/ui/requests/{found['id']}")
        assert (
            whole.status_code == 200 and "61901" in whole.text and "&#34;id_sms&#34;" in whole.text
        )
        assert client.get("/ui/requests/999999999").status_code == 404


@pytest.mark.postgres
def test_a_failing_request_log_leaves_a_history_readable_without_its_links(
    postgres_server, tmp_path
):
    database_url = create_schema(postgres_server)
    live = start_server(database_url, tmp_path / "server.log", store_threads="2")
    try:
        assert live.post(body(61701)).status_code == 200
        the_one(live, 61701)
        schema = database_url.rsplit("schema=", 1)[1]
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP TABLE "{schema}".request_log_ids')  # the request log fails
        with live.client() as client:
            history = client.get("/messages/61701/history")
            assert history.status_code == 200, history.text
            assert [r["requests"] for r in history.json()["reports"]] == [None]
            assert client.get("/ui/messages/61701").status_code == 200
    finally:
        stop_server(live)
        drop_schema(database_url)


def test_a_request_id_past_what_a_database_holds_is_not_found(server):
    with server.client() as client:
        for huge in (2**63, 2**64, 10**30):
            assert client.get(f"/requests/{huge}").status_code == 404
            assert client.get(f"/ui/requests/{huge}").status_code == 404
            assert client.post(f"/requests/{huge}/replay").status_code == 404
