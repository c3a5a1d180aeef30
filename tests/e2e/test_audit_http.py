"""The audit over HTTP: the digest of every stored event, the key that signs it, a message's proof
checked offline, and the gauges, on a real server on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import msgspec
import pytest

from tests.e2e.conftest import LiveServer, start_server, stop_server
from tests.e2e.test_health_and_views import scrape
from tests.support import create_schema, drop_schema
from tracker.audit.digest import Digest, new_key, signature_problem, write_key
from tracker.audit.follower import AuditFollower
from tracker.audit.leaves import hashed
from tracker.audit.proof import MessageProof, check_proof
from tracker.audit.tree import AuditTree
from tracker.audit.verify import Verification, verify_log
from tracker.bootstrap import open_views
from tracker.domain import merkle


def stored_rows(server: LiveServer) -> list:
    """Every stored event's row, read from the store itself."""
    tracker = server.open_store()
    try:
        return tracker.store.select_log(0, tracker.store.max_notification_id() or 0)
    finally:
        tracker.close()


def caught_up(server: LiveServer, within: float = 30.0, key: str | None = None) -> dict:
    """The digest once the server's follower has taken in every stored event."""
    deadline = time.monotonic() + within
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with server.client(headers=headers) as client:
        while True:
            digest = client.get("/audit/digest").json()
            if digest["tree_size"] == len(stored_rows(server)):
                return digest
            assert time.monotonic() < deadline, f"the tree stayed at {digest['tree_size']}"
            time.sleep(0.1)


def post(server: LiveServer, *items: dict) -> None:
    assert server.post(json.dumps(list(items)).encode()).status_code == 200


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def signed(request, tmp_path_factory) -> Iterator[tuple[LiveServer, str]]:
    """A server whose digests are signed (TRACKER_AUDIT_KEY), and the key's public half."""
    folder = tmp_path_factory.mktemp("signed")
    pem, public = new_key()
    write_key(folder / "audit-key.pem", pem)
    if request.param == "sqlite":
        database_url = f"sqlite:///{folder / 'tracker.db'}"
    else:
        database_url = create_schema(request.getfixturevalue("postgres_server"))
    server = start_server(
        database_url, folder / "server.log", audit_key=str(folder / "audit-key.pem")
    )
    try:
        yield server, public
    finally:
        stop_server(server)
        if request.param == "postgres":
            drop_schema(database_url)


def test_the_digest_is_the_root_of_every_stored_event_signed_by_the_published_key(signed):
    server, public = signed
    post(server, {"id_sms": 9100, "time": "2024-05-01 10:00:00", "state": "send"},
         {"id_sms": 9101, "time": "", "state": "deliver"}, {"id_sms": "nine"})  # fmt: skip
    post(server, {"id_sms": 9100, "time": "2024-05-01 10:00:03", "state": "deliver"})
    answer = caught_up(server)

    rows = stored_rows(server)
    assert answer["tree_size"] == len(rows) >= 4  # a quarantined item is an event too
    assert answer["position"] == rows[-1][0]
    assert answer["root_hash"] == merkle.root([h for _, _, h in hashed(rows)]).hex()
    digest = msgspec.json.decode(json.dumps(answer), type=Digest)
    assert signature_problem(digest, bytes.fromhex(public)) is None
    forged = msgspec.structs.replace(digest, root_hash="00" * 32)
    assert "altered" in signature_problem(forged, bytes.fromhex(public))
    _, other = new_key()
    assert "not by" in signature_problem(digest, bytes.fromhex(other))

    with server.client() as client:
        key = client.get("/audit/public-key")
        again = client.get("/audit/digest").json()
    assert (key.status_code, key.json()) == (200, {"public_key": public, "algorithm": "Ed25519"})
    assert again == answer  # the same head: the same digest, timed when the tree reached it


def test_a_proof_holds_offline_and_fails_once_a_byte_of_an_event_is_changed(signed):
    server, public = signed
    for state, at in (("send", "10:00:00"), ("deliver", "10:00:04"), ("read", "10:00:09")):
        post(server, {"id_sms": 9200, "time": f"2024-05-01 {at}", "state": state})
    post(server, {"id_sms": 9200, "time": "2024-05-01 10:00:09", "state": "read"})  # again
    caught_up(server)
    with server.client() as client:
        response = client.get("/messages/9200/proof")
    assert response.status_code == 200
    proof = msgspec.json.decode(response.content, type=MessageProof)
    assert (proof.id_sms, proof.pending, len(proof.events)) == (9200, 0, 4)
    assert response.headers["x-total-count"] == "4" and "link" not in response.headers
    assert [e.event["type"] for e in proof.events] == ["Reported"] * 3 + ["ReportedAgain"]
    check = check_proof(proof, bytes.fromhex(public))
    assert (check.sound, check.proved, check.problems) == (True, 4, [])

    event = proof.events[1]
    state = bytearray(base64.b64decode(event.state))
    state[len(state) // 2] ^= 0x01
    changed = msgspec.structs.replace(event, state=base64.b64encode(state).decode())
    tampered = msgspec.structs.replace(proof, events=[proof.events[0], changed, *proof.events[2:]])
    check = check_proof(tampered, bytes.fromhex(public))
    assert not check.sound and check.proved == 3
    assert check.problems[0].startswith(f"the event at position {event.position} ")


def test_a_long_proof_comes_in_pages_each_a_proof_of_its_own(signed):
    server, public = signed
    items = [{"id_sms": 9300, "time": f"2024-05-01 10:{m:02d}:00", "state": "send"}
             for m in range(25)]  # fmt: skip
    post(server, *items)
    caught_up(server)
    with server.client() as client:
        whole = client.get("/messages/9300/proof").json()
        events, address = [], "/messages/9300/proof?limit=10"
        while address:
            page = client.get(address)
            assert page.headers["x-total-count"] == "25"
            proof = msgspec.json.decode(page.content, type=MessageProof)
            assert check_proof(proof, bytes.fromhex(public)).proved == len(proof.events) > 0
            events += page.json()["events"]
            address = page.links.get("next", {}).get("url")
    assert events == whole["events"] and len(events) == 25


def test_an_unknown_message_or_page_is_a_404_and_a_bad_parameter_a_400(signed):
    server, _ = signed
    post(server, {"id_sms": 9400, "time": "", "state": "send"})
    with server.client() as client:
        unknown = client.get("/messages/9499/proof")
        assert (unknown.status_code, unknown.json()["detail"]) == (
            404, "no status was received for id_sms 9499"
        )  # fmt: skip
        assert client.get("/messages/9400/proof?start=1").status_code == 404
        for bad in ("94x0/proof", "9400/proof?limit=0", "9400/proof?limit=10001",
                    "9400/proof?start=-1"):  # fmt: skip
            assert client.get(f"/messages/{bad}").status_code == 400, bad


def test_the_gauges_give_the_tree_and_the_last_verification(signed):
    server, _ = signed
    post(server, {"id_sms": 9500, "time": "", "state": "send"})
    size = caught_up(server)["tree_size"]
    before = scrape(server)
    assert before["tracker_audit_tree_events"] == size
    assert before["tracker_audit_verified_events"] == 0
    assert before["tracker_audit_verified_timestamp_seconds"] == 0

    result = verify(server)
    after = scrape(server)
    assert after["tracker_audit_verified_events"] == result.head.size == size
    assert after["tracker_audit_verified_timestamp_seconds"] == pytest.approx(
        result.head.at.timestamp(), abs=1e-3
    )


def test_without_a_key_the_digest_is_unsigned_and_no_public_key_is_given(live_server):
    post(live_server, {"id_sms": 9600, "time": "", "state": "send"})
    answer = caught_up(live_server)
    assert (answer["signature"], answer["public_key"]) == (None, None)
    with live_server.client() as client:
        key = client.get("/audit/public-key")
        proof = client.get("/messages/9600/proof").json()
    assert key.status_code == 404 and "TRACKER_AUDIT_KEY" in key.json()["detail"]
    assert proof["digest"]["signature"] is None
    assert check_proof(msgspec.convert(proof, MessageProof)).sound


def test_events_the_tree_has_not_reached_are_counted_pending(tmp_path):
    """With no projector the tree stands still: what it has not taken in is pending."""
    server = start_server(
        f"sqlite:///{tmp_path / 'tracker.db'}", tmp_path / "server.log", projections="off"
    )
    try:
        post(server, {"id_sms": 9700, "time": "", "state": "send"},
             {"id_sms": 9700, "time": "2024-05-01 10:00:00", "state": "deliver"})  # fmt: skip
        with server.client() as client:
            first = client.get("/messages/9700/proof").json()
            assert (first["digest"]["tree_size"], first["events"], first["pending"]) == (0, [], 2)
            tracker = server.open_store()
            try:
                AuditFollower(tracker, AuditTree(open_views(tracker, create=False))).catch_up()
            finally:
                tracker.close()
            post(server, {"id_sms": 9700, "time": "2024-05-01 10:00:05", "state": "read"})
            then = client.get("/messages/9700/proof").json()
        assert (then["digest"]["tree_size"], len(then["events"]), then["pending"]) == (2, 2, 1)
    finally:
        stop_server(server)


def verify(server: LiveServer) -> Verification:
    """What `tracker verify` does to the store: hash every event again, record a sound result."""
    tracker = server.open_store()
    try:
        result = verify_log(tracker, AuditTree(open_views(tracker, create=False)))
    finally:
        tracker.close()
    assert result.sound and result.head is not None
    return result
