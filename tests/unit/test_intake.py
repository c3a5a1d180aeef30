"""Reading webhook bodies: every item judged on its own, ids echoed in the type they came in."""

from __future__ import annotations

import base64
import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import sample
from tracker.application import Status
from tracker.domain.ids import message_number
from tracker.domain.quarantine import BODY, ITEM
from tracker.web import scan
from tracker.web.intake import BodyError, read_body


def test_the_contract_example_is_read_as_two_statuses():
    intake = read_body(sample("contract-example.json"))
    assert intake.statuses == [
        Status(3234, "deliver", "2011-01-01 12:57:46"),
        Status(3235, "send", "", sent="3235"),  # the id as sent: a string
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


def test_an_item_with_invalid_utf8_is_a_rejected_report_kept_as_base64_and_the_rest_kept():
    body = sample("invalid-utf8-in-one-item.bin")
    intake = read_body(body)
    good, bad = intake.statuses
    assert (good.id_sms, good.reason) == (6001, None)
    assert bad.id_sms == 6002 and "not readable: bytes that are not UTF-8" in bad.reason
    assert (
        bad.raw_encoding == "base64"
        and base64.b64decode(bad.raw) == body[body.index(b'{"id_sms": 6002') : -1]
    )
    assert bad.time == '"\\xff\\xfe"'  # the value as sent, its bytes escaped to be shown
    assert intake.unusable == []
    assert intake.acknowledgement(frozenset({6001, 6002})) == [{"id_sms": 6001}, {"id_sms": 6002}]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (sample("not-an-array.json"), "expected a JSON array of statuses, got an object"),
        (sample("not-json.txt"), "the body is not valid JSON"),
        (b"", "the body is empty"),
        (b"   ", "the body is empty"),
        (b'"[]"', "expected a JSON array of statuses, got a string"),
        (b'[{"id_sms": 1, "state": "send"}] [1]', "not valid JSON"),
        (b'[{"id_sms": 1, "state": "s}]', "not valid JSON"),
        (b'[{"id_sms": 1},,{"id_sms": 2}]', "not valid JSON"),
        (b'[{"id_sms": 1},]', "not valid JSON"),
        # Not JSON, though each piece looks like an item: a stray quote would pair with the
        # next item's quotes and carry its text into another message's history.
        (
            b'[{"id_sms": 802, "state": "send"}, {"id_sms": 809, "state": "x"y"}, '
            b'{"id_sms": 802, "state": "read"}, {"id_sms": 809, "state": "x"y"}]',
            "not valid JSON",
        ),
        (b'[{"id_sms": 4030, "state": "send",}, {"id_sms": 4030, "state": "read"}]', "not valid"),
        (b'[{"id_sms": 4031 "state": "send"}, {"id_sms": 4031, "state": "read"}]', "not valid"),
        (b'[{"id_sms": 4037, 1: "x"}, {"id_sms": 4037, "state": "read"}]', "not valid JSON"),
        (b'[{"id_sms": 4038, "state": NaN}]', "not valid JSON"),
        (b'[{"id_sms": 4040, "state": "\\x"}, {"id_sms": 4040, "state": "\\ud800"}]', "not valid"),
        (b'[{"id_sms": 4041, "st\\ate": "read"}, {"id_sms": 4041, "state": "\\ud800"}]', "valid"),
        (b'[{"id_sms": 4039, "state": "send"}]\x0b', "not valid JSON"),
        ('[{"id_sms": 1, "state": "send"}]'.encode("utf-16"), "not UTF-8"),
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


GOOD = b'{"id_sms": 1, "time": "", "state": "send"}'


@pytest.mark.parametrize(
    ("item", "field", "why"),
    [
        (b'{"id_sms": 8003, "time": "", "state": "\\ud800"}', "state", "lone surrogate"),
        (b'{"id_sms": 8003, "time": "\\udfff", "state": "send"}', "time", "lone surrogate"),
        (b'{"id_sms": 8003, "time": "", "state": "de\xffliver"}', "state", "not UTF-8"),
        (b'{"id_sms": 8003, "time": 1e400, "state": "deliver"}', "time", "out of range"),
        (b'{"id_sms": 8003, "time": ' + b"9" * 5000 + b', "state": "deliver"}', "time", ""),
        (b'{"id_sms": 8003, "time": 1714557600, "state": "deliver"}', "time", "not a string"),
        (b'{"id_sms": 8003, "state": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "state", "deep"),
        (b'{"id_sms": 8003, "time": "", "state": "send", "state": "deliver"}', "state", "given 2"),
        (b'{"id_sms": 8003, "time": "", "state": "send", "st\\u0061te": "read"}', "state", "given"),
        (b'{"id_sms": 8003, "time": "", "time": "", "state": "send"}', "time", "given 2 times"),
    ],
)
def test_an_unreadable_or_ambiguous_value_makes_a_rejected_report_of_its_message_only(
    item, field, why
):
    """The id can be read, so the item is in its message's history (rejected, with the
    reason and the raw item); the good item beside it is stored as usual."""
    intake = read_body(b"[" + GOOD + b", " + item + b"]")
    good, rejected = intake.statuses
    assert (good, intake.unusable) == (Status(1, "send", ""), [])
    assert rejected.id_sms == 8003 and rejected.reason.startswith(("the key", field))
    assert why in rejected.reason
    raw = rejected.raw if rejected.raw_encoding is None else base64.b64decode(rejected.raw)
    assert raw == (item.decode() if rejected.raw_encoding is None else item)
    assert intake.acknowledgement(frozenset({1, 8003})) == [{"id_sms": 1}, {"id_sms": 8003}]


def test_an_item_naming_two_messages_is_quarantined_and_neither_acknowledged():
    """It belongs to neither history, so neither id may be acknowledged (their other items,
    stored, are then resent by the platform and found to be repeats)."""
    body = b'[{"id_sms": 516, "time": "", "state": "send"}, '
    body += b'{"id_sms": 516, "id_sms": "517", "time": "", "state": "deliver"}]'
    intake = read_body(body)
    assert [s.id_sms for s in intake.statuses] == [516]
    [item] = intake.unusable
    assert item.reason == 'the key id_sms is given 2 times (516, "517"): ambiguous, naming ' + (
        "different messages"
    )
    assert intake.acknowledgement(frozenset({516, 517})) == []


def test_an_item_naming_one_message_twice_is_a_rejected_report_of_it_echoed_both_ways():
    intake = read_body(b'[{"id_sms": 4024, "id_sms": "4024", "time": "", "state": "send"}]')
    [status] = intake.statuses
    assert (status.id_sms, status.sent, status.reason) == (
        4024, None, "the key id_sms is given 2 times (4024, \"4024\"): ambiguous"
    )  # fmt: skip
    assert intake.acknowledgement(frozenset({4024})) == [{"id_sms": 4024}, {"id_sms": "4024"}]


def test_an_item_with_thousands_of_ids_costs_in_proportion_to_its_size():
    """Each id once, one item quarantined with a short reason: an item repeating id_sms
    3,000 times once made 3,000 statuses, each with the whole item, a frame of 216 MB."""
    ids = b", ".join(b'"id_sms": %d' % n for n in range(200_000, 203_000))
    intake = read_body(b'[{"id_sms": 199999, "state": "send"}, {' + ids + b', "state": "x"}]')
    assert [s.id_sms for s in intake.statuses] == [199999]
    [item] = intake.unusable
    assert len(item.reason) < 200 and "(3000 in all)" in item.reason
    assert intake.acknowledgement(frozenset({199999})) == [{"id_sms": 199999}]


def test_the_same_bad_item_many_times_in_one_body_is_one_receipt():
    intake = read_body(b"[" + b"{}," * 100_000 + b'{"id_sms": 1, "state": "send"}]')
    assert [u.raw for u in intake.unusable] == ["{}"]
    assert [s.id_sms for s in intake.statuses] == [1]


def test_the_id_is_kept_as_sent_when_it_was_a_string():
    intake = read_body(b'[{"id_sms": "03234", "time": "", "state": "send"}, ' + GOOD + b"]")
    assert [(s.id_sms, s.sent) for s in intake.statuses] == [(3234, "03234"), (1, None)]
    assert intake.acknowledgement(frozenset({3234, 1})) == [{"id_sms": "03234"}, {"id_sms": 1}]


def test_an_unreadable_key_is_none_of_the_contract_and_the_item_keeps_its_raw_json():
    intake = read_body(b'[{"id_sms": 9, "time": "", "state": "send", "\\ud800": 1}]')
    [status] = intake.statuses
    assert (status.state, status.reason) == ("send", None)
    assert status.raw == '{"id_sms": 9, "time": "", "state": "send", "\\ud800": 1}'


def test_a_deeply_nested_item_is_quarantined_and_the_body_still_read():
    intake = read_body(b"[" + GOOD + b", " + b"[" * 100_000 + b"]" * 100_000 + b"]")
    assert [s.id_sms for s in intake.statuses] == [1]
    [item] = intake.unusable
    assert item.reason == "item is an array, not an object"


# Items as a hostile sender writes them: the contract's keys with any JSON value, extra keys,
# keys given twice, and values no reader takes (lone surrogates, huge numbers, deep nesting).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=5,
).map(lambda v: json.dumps(v).encode())
odd_values = st.sampled_from(
    [b'"\\ud800"', b'"a\xffb"', b"1e400", b"9" * 400, b"[" * 600 + b"]" * 600, b'"\\u0000"']
)
ids = st.integers(0, 2**63 - 1).map(lambda n: str(n).encode()) | st.integers(0, 99).map(
    lambda n: b'"%d"' % n
)
keys = st.sampled_from([b'"id_sms"', b'"state"', b'"time"', b'"st\\u0061te"', b'"x"', b'"\\ud800"'])
members = st.lists(st.tuples(keys, json_values | odd_values | ids), max_size=6)


def item_with(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"{" + b", ".join(k + b": " + v for k, v in pairs) + b"}"


@settings(max_examples=300, deadline=None)
@given(st.lists(members, max_size=6))
def test_every_item_is_stored_in_each_message_it_names_or_quarantined(items):
    """Nothing in one item costs another: each item with a readable id_sms is a status of each
    message it names, every other item is quarantined; a rejected one keeps its raw bytes."""
    body = b"[" + b", ".join(item_with(pairs) for pairs in items) + b"]"
    intake = read_body(body)
    statuses, quarantined, withheld = iter(intake.statuses), set(), set()
    for pairs in items:
        named = []
        for key, value in pairs:
            if key == b'"id_sms"':
                try:
                    number = message_number(msgspec.json.decode(value))
                except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
                    number = None
                if number is not None and number not in named:
                    named.append(number)
        if len(named) != 1:  # none, or several messages: whose would it be?
            quarantined.add(item_with(pairs))
            withheld.update(named)
            continue
        status = next(statuses)
        assert status.id_sms == named[0]
        if status.raw is not None:
            raw = base64.b64decode(status.raw) if status.raw_encoding else status.raw.encode()
            assert raw == item_with(pairs)
    assert next(statuses, None) is None
    assert {base64.b64decode(u.raw) if u.encoding == "base64" else u.raw.encode()
            for u in intake.unusable} == quarantined  # fmt: skip
    acknowledged = {message_number(a["id_sms"]) for a in intake.acknowledgement(frozenset(
        s.id_sms for s in intake.statuses))}  # fmt: skip
    assert acknowledged == {s.id_sms for s in intake.statuses} - withheld


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["id_sms", "state", "time", "x"]), st.text())))
def test_the_structural_scan_splits_items_and_members_as_a_json_reader_does(items):
    body = json.dumps(items).encode()
    assert [json.loads(i) for i in scan.elements(body, 0)[0]] == items
    for item in items:
        raw = json.dumps(item).encode()
        assert [(json.loads(k), json.loads(v)) for k, v in scan.members(raw)] == list(item.items())


def test_past_a_thousand_distinct_bad_items_the_rest_of_a_body_is_quarantined_as_one():
    """Each its own receipt up to 1,000; the rest of the body's together, as sent: a body of
    765,000 distinct numbers once made as many quarantine events (over 30 s of the writer)."""
    body = b"[" + b",".join(b"%d" % n for n in range(5000)) + b', {"id_sms": 7, "state": "send"}]'
    intake = read_body(body)
    assert [s.id_sms for s in intake.statuses] == [7]
    items, rest = intake.unusable[:1000], intake.unusable[1000:]
    assert [u.raw for u in items] == [str(n) for n in range(1000)]
    [rest] = rest
    assert (rest.kind, rest.reason) == ("items", "4000 more items in this body name no message")
    assert json.loads(rest.raw) == list(range(1000, 5000))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**6) | st.integers(0, 10**6).map(str),
            st.sampled_from(["send", "deliver", "time", "state", ""]),
            st.sampled_from(["", "2024-05-01 10:00:00", "id_sms"]),
            st.sampled_from([None, "id_sms", "state", "time"]),  # a key given twice
            st.sampled_from([":", " :", ": ", "\t:\n"]),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_a_key_given_twice_is_never_missed_by_the_one_pass_reading(items):
    """The typed one-pass reading keeps the last of a key given twice, as every decoder does;
    its count of quotes sends such a body to the item-by-item reading, whatever the spacing."""
    parts = []
    for id_sms, state, time, twice, colon in items:
        members = [("id_sms", id_sms), ("state", state), ("time", time)]
        if twice:
            members.append((twice, dict(members)[twice]))
        parts.append("{" + ", ".join(f'"{k}"{colon}{json.dumps(v)}' for k, v in members) + "}")
    intake = read_body(("[" + ", ".join(parts) + "]").encode())
    reasons = [s.reason for s in intake.statuses]
    assert [r is not None for r in reasons] == [twice is not None for *_, twice, _ in items]


def test_whitespace_around_items_read_by_the_scan_costs_nothing():
    """A pretty-printed body whose one item msgspec refuses (a tab in a string): the scan's
    items once kept the space before each comma and bracket, and were quarantined, their ids
    acknowledged all the same."""
    body = (
        b'[{"id_sms": 901001, "state": "send", "time": "2024-01-01 10:00:00"} ,\n'
        b' {"id_sms": 901002, "state": "x\ty", "time": "2024-01-01 10:00:00"},\n'
        b' {"id_sms": 901001, "state": "deliver", "time": "2024-01-01 10:05:00"}\n]'
    )
    intake = read_body(body)
    assert [(s.id_sms, s.state, s.reason is None) for s in intake.statuses] == [
        (901001, "send", True), (901002, '"x\\x09y"', False), (901001, "deliver", True)
    ]  # fmt: skip
    assert intake.unusable == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dictionaries(st.sampled_from(["id_sms", "state", "time", "x"]), st.text())),
    st.sampled_from([None, 0, 2, "\t"]),
)
def test_the_scan_splits_any_json_into_the_items_and_members_a_json_reader_sees(items, indent):
    """Whatever the spacing, each element and member the scan finds is one a JSON reader
    finds, with no space around it (the scan's items go on to be split into members)."""
    body = json.dumps(items, indent=indent).encode()
    elements, end = scan.elements(body, 0)
    assert end == len(body) and [json.loads(e) for e in elements] == items
    for element, item in zip(elements, items, strict=True):
        assert element == element.strip() and [
            (json.loads(k), json.loads(v)) for k, v in scan.members(element)
        ] == list(item.items())
