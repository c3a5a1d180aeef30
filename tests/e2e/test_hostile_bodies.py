"""Hostile bodies: each gets a clear 4xx or a partial acknowledgement, never a 5xx, and every id
acknowledged is in the store. The corpus is tests/samples/hostile/ plus large bodies made here."""

from __future__ import annotations

import json
import re

import msgspec
import pytest

from tests.support import SAMPLES, sample
from tracker.domain.ids import message_number
from tracker.read.export import report_rows

CORPUS = sorted(p.name for p in (SAMPLES / "hostile").iterdir())
MiB = 1024 * 1024


def generated() -> dict[str, bytes]:
    many = [{"id_sms": 600_000 + i, "time": "2024-05-01 10:00:00", "state": "send"}
            for i in range(10_000)]  # fmt: skip
    return {
        "10000-items": msgspec.json.encode(many),
        "50-MB-body": b"["
        + b'{"id_sms": 1, "time": "", "state": "send"},' * (50 * MiB // 44)
        + b"]",
        "long-strings": msgspec.json.encode(
            [
                {"id_sms": 700_001, "time": "2024-05-01 10:00:00", "state": "x" * 1_000_000},
                {"id_sms": 700_002, "time": "9" * 100_000, "state": "send"},
            ]
        ),
        "deep-nesting-whole-body": b"[" * 100_000 + b"]" * 100_000,
        "only-whitespace": b" \n\t ",
        "empty": b"",
    }


WRONG_CONTENT_TYPES = [
    None,
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/octet-stream",
    "text/plain; charset=latin-1",
    "application/json; charset=utf-16",
    "image/png",
]


# Every value a key "id_sms" has anywhere in a body: a plain text search, independent of the
# tracker's reader, that no nesting, key given twice or unreadable byte elsewhere can stop.
ID_VALUES = re.compile(rb'"id_sms"\s*:\s*("[0-9]*"|-?[0-9][0-9.eE+-]*)')


def ids_sent(body: bytes) -> list:
    """The id_sms values in the body, each as the JSON it was (a number or a string)."""
    return [json.loads(value) for value in ID_VALUES.findall(body)]


def post(server, body: bytes, content_type: str | None = "text/json"):
    headers = {} if content_type is None else {"Content-Type": content_type}
    with server.client() as client:
        return client.post("/webhooks/webcom", content=body, headers=headers)


def check_answer(server, body: bytes, response) -> list[int]:
    """A clear answer, and the numbers of the ids it acknowledged."""
    assert response.status_code in (200, 400, 413), response.text
    if response.status_code != 200:
        assert response.json()["detail"], "a 4xx says why"
        return []
    answer = response.json()
    sent = ids_sent(body)
    for ack in answer:
        assert ack["id_sms"] in sent, f"acknowledged an id that was not sent: {ack}"
    return [message_number(ack["id_sms"]) for ack in answer]


def stored_ids(server) -> set[int]:
    tracker = server.open_store()
    try:
        return {row["id_sms"] for row in report_rows(tracker)}
    finally:
        tracker.close()


@pytest.fixture(scope="module")
def acknowledged() -> list[int]:
    """Every id acknowledged by any test of this module, checked against the store at the end."""
    return []


@pytest.mark.parametrize("name", CORPUS)
def test_each_body_of_the_corpus_gets_a_clear_answer(live_server, acknowledged, name):
    body = sample(f"hostile/{name}")
    acknowledged += check_answer(live_server, body, post(live_server, body))


@pytest.mark.parametrize("name", list(generated()))
def test_each_large_or_empty_body_gets_a_clear_answer(live_server, acknowledged, name):
    body = generated()[name]
    response = post(live_server, body)
    acknowledged += check_answer(live_server, body, response)
    if name == "50-MB-body":
        assert response.status_code == 413
    if name == "10000-items":
        assert len(response.json()) == 10_000


@pytest.mark.parametrize("content_type", WRONG_CONTENT_TYPES)
def test_the_content_type_never_matters(live_server, acknowledged, content_type):
    body = sample("contract-example.json")
    response = post(live_server, body, content_type)
    assert response.status_code == 200
    acknowledged += check_answer(live_server, body, response)


def test_a_good_item_beside_bad_ones_is_stored(live_server):
    """The corpus's valid items in bad company: each is acknowledged and stored."""
    for name, expected in [
        ("booleans-and-floats-as-ids.json", {503}),
        ("nul-bytes-in-strings.json", {504, 506}),
        ("invalid-utf8-in-a-key.bin", {512, 513}),  # 512 rejected, its raw bytes kept
        ("utf-8-bom.bin", {511}),
        ("huge-numbers.json", {2**63 - 1}),
        # An odd value inside an item costs only that item: its report is rejected, and kept.
        ("lone-surrogates.json", {514, 515}),
        ("raw-nul-inside-a-string.bin", {508, 509}),
        ("deep-nesting-in-an-item.json", {501, 502}),
        ("weird-times.json", {527, 528, 529, 530}),
    ]:
        body = sample(f"hostile/{name}")
        acknowledged = check_answer(live_server, body, post(live_server, body))
        assert expected <= set(acknowledged), name


def test_an_item_naming_two_messages_acknowledges_neither(live_server):
    body = sample("hostile/duplicate-keys.json")  # "id_sms": 516, "id_sms": 517 in one item
    response = post(live_server, body)
    assert (response.status_code, response.json()) == (200, [])
    with live_server.client() as client:
        assert client.get("/messages/516/history").status_code == 404
        assert client.get("/messages/517/history").status_code == 404


def test_after_the_corpus_every_acknowledged_id_is_stored_and_the_views_catch_up(
    live_server, acknowledged
):
    assert acknowledged, "the corpus acknowledged something"
    assert set(acknowledged) - stored_ids(live_server) == set()
    ready = live_server.settled(within=60)
    assert ready["projection"]["lag"] == 0, ready  # no hostile text stopped the views
    with live_server.client() as client:
        answer = client.get("/messages/504").json()
        history = client.get("/messages/504/history").json()
    assert answer["state"] is None or "\x00" not in answer["state"]
    assert "deliver\x00" in [r["state"] for r in history["reports"]]  # the event keeps it exactly
