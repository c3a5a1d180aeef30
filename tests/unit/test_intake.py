"""Reading webhook bodies: every item judged on its own, ids echoed in the type they came in."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support import sample
from tracker.application import Status
from tracker.domain.quarantine import BODY, ITEM
from tracker.web.intake import BodyError, read_body


def test_the_contract_example_is_read_as_two_statuses():
    intake = read_body(sample("contract-example.json"))
    assert intake.statuses == [
        Status(3234, "deliver", "2011-01-01 12:57:46"),
        Status(3235, "send", ""),
    ]
    assert intake.unusable == []
    assert intake.acknowledgement(frozenset({3234, 3235})) == [
        {"id_sms": 3234},
        {"id_sms": "3235"},
    ]


def test_only_stored_ids_are_acknowledged():
    intake = read_body(sample("contract-example.json"))
    assert intake.acknowledgement(frozenset({3235})) == [{"id_sms": "3235"}]


def test_one_bad_item_never_costs_the_rest_of_the_batch():
    intake = read_body(sample("mixed-good-and-bad.json"))
    assert [(s.id_sms, s.state, s.time) for s in intake.statuses] == [
        (5001, "send", "2011-01-01 12:00:00"),
        (5002, "deliver", "not a time"),
        (5005, "on_the_moon", "2011-01-01 12:01:00"),
        (5006, "read", "2011-01-01 12:02:00"),
        (5007, "3", ""),
        (5001, "deliver", "2011-01-01 12:05:00"),
    ]
    reasons = [u.reason for u in intake.unusable]
    assert reasons == [
        "id_sms true is not an integer from 0 to 2^63-1",
        "id_sms 5003.5 is not an integer from 0 to 2^63-1",
        "item has no id_sms",
        "item is a string, not an object",
        "id_sms -1 is not an integer from 0 to 2^63-1",
        'id_sms "99999999999999999999" is not an integer from 0 to 2^63-1',
    ]
    assert all(u.kind == ITEM for u in intake.unusable)
    assert json.loads(intake.unusable[0].raw) == {
        "id_sms": True,
        "time": "2011-01-01 12:00:00",
        "state": "deliver",
    }
    assert intake.acknowledgement(frozenset({5001, 5002, 5005, 5006, 5007})) == [
        {"id_sms": 5001},
        {"id_sms": "5002"},
        {"id_sms": "5005"},
        {"id_sms": 5006},
        {"id_sms": 5007},
    ]


def test_items_not_in_the_plain_documented_form_keep_their_raw_json():
    statuses = {s.id_sms: s for s in read_body(sample("mixed-good-and-bad.json")).statuses}
    assert json.loads(statuses[5006].raw) == {
        "id_sms": 5006,
        "time": "2011-01-01 12:02:00",
        "state": "read",
        "viber": "read",
    }
    assert json.loads(statuses[5007].raw) == {"id_sms": 5007, "time": None, "state": 3}
    assert statuses[5002].raw is None


def test_an_id_sent_both_as_number_and_string_is_echoed_both_ways():
    intake = read_body(
        b'[{"id_sms": 7, "time": "", "state": "send"},'
        b' {"id_sms": "7", "time": "2011-01-01 12:00:00", "state": "deliver"},'
        b' {"id_sms": 7, "time": "", "state": "send"}]'
    )
    assert [s.id_sms for s in intake.statuses] == [7, 7, 7]
    assert intake.acknowledgement(frozenset({7})) == [{"id_sms": 7}, {"id_sms": "7"}]


def test_a_missing_state_or_time_is_blank():
    intake = read_body(b'[{"id_sms": 8}]')
    assert [(s.state, s.time) for s in intake.statuses] == [("", "")]


def test_an_empty_array_is_an_empty_batch():
    intake = read_body(b"[]")
    assert intake.statuses == [] and intake.unusable == []
    assert intake.acknowledgement(frozenset()) == []


def test_an_item_with_invalid_utf8_is_quarantined_as_base64_and_the_rest_kept():
    body = sample("invalid-utf8-in-one-item.bin")
    intake = read_body(body)
    assert [s.id_sms for s in intake.statuses] == [6001]
    [bad] = intake.unusable
    assert bad.encoding == "base64"
    assert b"6002" in base64.b64decode(bad.raw)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (sample("not-an-array.json"), "expected a JSON array of statuses, got an object"),
        (sample("not-json.txt"), "the body is not valid JSON"),
        (b"", "the body is empty"),
        (b"   ", "the body is empty"),
        (b'"[]"', "expected a JSON array of statuses, got a string"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b'[{"id_sms": 1}', "the body is not valid JSON"),
    ],
)
def test_a_body_that_is_not_a_json_array_is_refused_whole_and_quarantined(body, problem):
    with pytest.raises(BodyError, match=problem) as caught:
        read_body(body)
    assert caught.value.quarantine.kind == BODY
    assert caught.value.quarantine.reason == caught.value.problem  # kept with the body


def test_a_leading_utf8_byte_order_mark_is_ignored():
    intake = read_body(b"\xef\xbb\xbf" + b'[{"id_sms": 7, "time": "", "state": "send"}]')
    assert [s.id_sms for s in intake.statuses] == [7]
