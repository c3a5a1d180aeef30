"""The webhook and the read-back over real HTTP, as the platform and an auditor would use them."""

from __future__ import annotations

import base64
import sqlite3

import psycopg
import pytest

from tests.support import sample, server_url
from tracker.domain.events import Quarantined, QuarantinedAgain
from tracker.domain.quarantine import BODY, ITEM, quarantine_id
from tracker.stores.postgres.events import EVENTS_TABLE as POSTGRES_EVENTS


def post(server, body: bytes, headers=None):
    return server.post(body, headers)


def quarantined(server, kind: str, raw: str) -> list[Quarantined | QuarantinedAgain]:
    """The events the server stored for one quarantined input (none: it was not kept)."""
    store = server.open_store()
    try:
        return [envelope.event for envelope in store.events.get(quarantine_id(kind, raw))]
    finally:
        store.close()


def test_the_contract_example_is_acknowledged_with_ids_in_their_own_json_types(live_server):
    response = post(live_server, sample("contract-example.json"))
    assert response.status_code == 200
    assert response.json() == [{"id_sms": 3234}, {"id_sms": "3235"}]
    with live_server.client() as client:  # at once: an acknowledged status is readable
        message = client.get("/messages/3234").json()
        assert message | {"first_received_at": "", "last_received_at": ""} == {
            "id_sms": 3234,
            "state": "deliver",
            "time": "2011-01-01 12:57:46",
            "instant": "2011-01-01T09:57:46Z",
            "final": False,
            "conflict": False,
            "overdue": False,  # received a moment ago
            "reports": 1,
            "first_received_at": "",
            "last_received_at": "",
            "channels": None,  # a JSON report gives no status per channel
            "registration": None,  # nobody registered it (POST /messages/sent)
            "registration_conflicts": 0,
        }
        assert client.get("/messages/3235").json()["state"] == "send"


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded", None]
)
def test_the_body_is_read_whatever_its_content_type(live_server, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'[{"id_sms": 4100, "time": "2011-01-01 12:00:00", "state": "deliver"}]'
    response = post(live_server, body, headers)
    assert (response.status_code, response.json()) == (200, [{"id_sms": 4100}])


def test_a_mixed_batch_acknowledges_every_usable_id_and_quarantines_the_rest(live_server):
    response = post(live_server, sample("mixed-good-and-bad.json"))
    assert response.status_code == 200
    assert response.json() == [
        {"id_sms": 5001},
        {"id_sms": "5002"},
        {"id_sms": "5005"},
        {"id_sms": 5006},
        {"id_sms": 5007},
    ]
    live_server.settled()
    with live_server.client() as client:
        assert client.get("/messages/5001").json()["state"] == "deliver"
        assert client.get("/messages/5002").json()["state"] == "deliver"  # unparseable time
        unknown = client.get("/messages/5005").json()
        assert (unknown["state"], unknown["reports"]) == (None, 1)
        history = client.get("/messages/5005/history").json()["reports"]
        assert [(r["state"], r["outcome"]) for r in history] == [("on_the_moon", "unknown_state")]
    raw = '{"id_sms": -1, "time": "2011-01-01 12:00:00", "state": "read"}'
    held = quarantined(live_server, ITEM, raw)[0]
    assert (held.raw, held.reason) == (raw, "id_sms -1 is not an integer from 0 to 2^63-1")


def test_history_lists_reports_in_arrival_order_with_their_outcomes(live_server):
    post(live_server, b'[{"id_sms": 4200, "time": "2011-01-01 12:05:00", "state": "deliver"}]')
    post(
        live_server,
        b'[{"id_sms": "4200", "time": "", "state": "send"},'
        b' {"id_sms": 4200, "time": "2011-01-01 12:06:00", "state": "read"},'
        b' {"id_sms": 4200, "time": "2011-01-01 12:07:00", "state": "expired"}]',
    )
    live_server.settled()
    with live_server.client() as client:
        body = client.get("/messages/4200/history").json()
        state = client.get("/messages/4200").json()
    assert body["id_sms"] == 4200
    assert [(r["state"], r["time"], r["outcome"]) for r in body["reports"]] == [
        ("deliver", "2011-01-01 12:05:00", "applied"),
        ("send", "", "superseded"),
        ("read", "2011-01-01 12:06:00", "applied"),
        ("expired", "2011-01-01 12:07:00", "rejected"),
    ]
    assert body["reports"][0]["instant"] == "2011-01-01T09:05:00Z"
    assert body["reports"][1]["instant"] is None
    assert all(r["received_at"].endswith("Z") for r in body["reports"])
    assert (state["state"], state["final"], state["reports"]) == ("read", True, 4)


def test_re_delivering_a_batch_changes_nothing_but_the_answer(live_server):
    body = b'[{"id_sms": 4300, "time": "2011-01-01 12:00:00", "state": "deliver"}]'
    first, second = post(live_server, body), post(live_server, body)
    assert first.json() == second.json() == [{"id_sms": 4300}]
    with live_server.client() as client:
        assert len(client.get("/messages/4300/history").json()["reports"]) == 1


def test_an_empty_batch_gets_an_empty_answer(live_server):
    response = post(live_server, b"[]")
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (sample("not-an-array.json"), "expected a JSON array of statuses, got an object"),
        (sample("not-json.txt"), "the body is not valid JSON"),
        (b"", "the body is empty"),
    ],
)
def test_a_body_that_is_not_a_json_array_gets_400_and_is_quarantined(live_server, body, problem):
    response = post(live_server, body)
    assert response.status_code == 400
    assert problem in response.json()["detail"]
    assert quarantined(live_server, BODY, body.decode())[0].raw == body.decode()


def test_a_body_with_invalid_utf8_is_quarantined_as_base64(live_server):
    body = b'{"id_sms": 1, "state": "\xff"}'
    assert post(live_server, body).status_code == 400
    encoded = base64.b64encode(body).decode()
    held = quarantined(live_server, BODY, encoded)[0]
    assert (held.raw, held.encoding) == (encoded, "base64")


def test_a_body_over_the_size_limit_gets_413_and_stores_nothing(live_server):
    item = b'{"id_sms": 4400, "time": "2011-01-01 12:00:00", "state": "deliver"},'
    body = b"[" + item * (6 * 1024 * 1024 // len(item)) + item[:-1] + b"]"
    assert post(live_server, body).status_code == 413
    live_server.settled()
    with live_server.client() as client:
        assert client.get("/messages/4400").status_code == 404


def test_reading_an_unknown_or_malformed_id(live_server):
    with live_server.client() as client:
        assert client.get("/messages/987654321").status_code == 404
        assert client.get("/messages/987654321/history").status_code == 404
        bad = client.get("/messages/abc")
    assert bad.status_code == 400
    assert "id_sms must be ASCII digits" in bad.json()["detail"]


def test_a_store_that_cannot_write_gets_503_and_nothing_is_acknowledged(live_server):
    body = b'[{"id_sms": 4500, "time": "2011-01-01 12:00:00", "state": "deliver"}]'
    with hold_the_store(live_server):
        response = post(live_server, body)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    # Nothing acknowledged, and no claim about what the store did: it said only that it failed.
    assert response.json()["detail"].startswith("the batch was not confirmed as stored")
    assert "nothing of it is acknowledged" in response.json()["detail"]
    # The platform tries again, and this time the status is stored and acknowledged.
    again = post(live_server, body)
    assert (again.status_code, again.json()) == (200, [{"id_sms": 4500}])


class hold_the_store:
    """Take the store's write lock from outside the server, for the length of a block."""

    def __init__(self, server):
        self.url = server.database_url

    def __enter__(self):
        if self.url.startswith("sqlite:///"):
            self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self.conn.execute("BEGIN EXCLUSIVE")
        else:
            schema = self.url.rsplit("schema=", 1)[1]
            self.conn = psycopg.connect(server_url(self.url))
            table = f'"{schema}".{POSTGRES_EVENTS}'
            self.conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        return self

    def __exit__(self, *exc):
        self.conn.rollback()
        self.conn.close()


def test_reads_during_a_write_lock_answer_or_say_503_never_500(live_server):
    post(live_server, b'[{"id_sms": 4600, "time": "", "state": "send"}]')
    live_server.settled()
    with hold_the_store(live_server), live_server.client() as client:
        ready = client.get("/health/ready")
        state = client.get("/messages/4600")
    if live_server.database_url.startswith("sqlite"):
        # SQLite's write-ahead log never blocks readers behind a writer.
        assert (ready.status_code, state.status_code) == (200, 200)
    else:
        # PostgreSQL readers wait for an exclusive table lock, up to TRACKER_LOCK_TIMEOUT.
        assert ready.status_code == 503
        assert ready.headers["Retry-After"] == "1"
