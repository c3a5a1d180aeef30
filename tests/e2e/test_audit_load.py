"""A message of 100,000 events proved over HTTP: a page at a time, in a worker thread, while the
server keeps answering everyone else."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta

import httpx
import msgspec

from tests.e2e.test_audit_http import caught_up
from tracker.audit.proof import MessageProof, check_proof

EVENTS = 100_000
PAGE = 10_000  # the largest page the route gives: about 1 s on PostgreSQL, 0.7 s on SQLite
# (2026-12-06; before proofs read the tree a tile at a time, 8-13 s on PostgreSQL)


def test_a_message_of_100_000_events_is_proved_a_page_at_a_time_off_the_event_loop(live_server):
    start = datetime(2024, 5, 1)
    for part in range(0, EVENTS, 10_000):
        body = [
            {"id_sms": 8900, "time": f"{start + timedelta(seconds=i):%Y-%m-%d %H:%M:%S}",
             "state": "send"}
            for i in range(part, part + 10_000)
        ]  # fmt: skip
        assert live_server.post(json.dumps(body).encode()).status_code == 200
    caught_up(live_server, within=120)

    asked = [{"start": 0, "limit": PAGE}, {"start": EVENTS - PAGE, "limit": PAGE},
             {"start": 50_000, "limit": PAGE}, {}]  # fmt: skip
    answers: list[tuple[float, httpx.Response]] = []
    done = threading.Event()

    def prover() -> None:
        with live_server.client() as client:
            for params in asked:
                began = time.monotonic()
                response = client.get("/messages/8900/proof", params=params)
                answers.append((time.monotonic() - began, response))
        done.set()

    thread = threading.Thread(target=prover)
    thread.start()
    waits: list[float] = []
    with live_server.client() as client:
        client.get("/health/live")  # a warm connection
        while not done.wait(0.01):
            began = time.monotonic()
            assert client.get("/health/live").status_code == 200
            waits.append(time.monotonic() - began)
    thread.join()

    for params, (_, response) in zip(asked, answers, strict=True):
        assert response.status_code == 200
        assert response.headers["x-total-count"] == str(EVENTS)
        at, size = params.get("start", 0), params.get("limit", 1000)
        proof = msgspec.json.decode(response.content, type=MessageProof)
        assert [e.version for e in proof.events] == list(range(at + 1, at + size + 1))
        assert proof.pending == 0
        check = check_proof(proof)
        assert (check.sound, check.proved) == (True, size), check.problems
        assert ("link" in response.headers) == (at + size < EVENTS)
    seconds = [round(s, 2) for s, _ in answers]
    print(f"\nanswers of {PAGE:,}, {PAGE:,}, {PAGE:,} and 1,000 events: {seconds} s")
    assert max(seconds) < 6, f"a page of {PAGE:,} events took {max(seconds):.1f} s"
    assert len(waits) > 5, "the pages came too quickly to tell"
    assert max(waits) < 1.0, f"/health/live waited {max(waits):.3f} s while the proof was made"
