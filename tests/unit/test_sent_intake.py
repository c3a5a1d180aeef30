"""Reading registrations (POST /messages/sent, tracker register) with the webhook's rules: an
item that names a message is always kept in its history (registered, or rejected with the
reason), an item that names none is quarantined, a body that is not an array is refused whole."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.quarantine import BODY, ITEM
from tracker.domain.registration import MAX_PARTS, TEXT_LIMIT, Registration
from tracker.domain.timestamps import zone
from tracker.web.intake import BodyError
from tracker.web.sent_intake import KEYS, parse_sent_at, read_registrations

MOSCOW = zone("Europe/Moscow")


def read(body: bytes | str):
    return read_registrations(body.encode() if isinstance(body, str) else body, MOSCOW)


def one(item: str | bytes) -> Registration:
    raw = item.encode() if isinstance(item, str) else item
    [registering] = read(b"[" + raw + b"]").registrations
    return registering.registration


def test_a_full_registration_is_read_with_its_sending_time_in_utc():
    intake = read(
        '[{"id_sms": 5, "sent_at": "2026-12-07T10:00:00+03:00", "sender": "acme", '
        '"campaign": "xmas", "channel": "sms", "parts": 2}]'
    )
    [item] = intake.registrations
    assert item.id_sms == 5 and item.raw is None and item.sent is None
    assert item.registration == Registration(
        datetime(2026, 12, 7, 7, tzinfo=UTC), "acme", "xmas", "sms", 2
    )
    assert intake.acknowledgement(frozenset({5})) == [{"id_sms": 5}]


def test_only_id_sms_is_needed_and_null_is_not_given():
    assert one('{"id_sms": 5}') == Registration()
    assert one('{"id_sms": 5, "sender": null, "parts": null}') == Registration()


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-12-07 10:00:00", datetime(2026, 12, 7, 7, tzinfo=UTC)),  # Moscow, the platform's
        ("2026-12-07T10:00:00Z", datetime(2026, 12, 7, 10, tzinfo=UTC)),
        ("2026-12-07T10:00:00.250-02:00", datetime(2026, 12, 7, 12, 0, 0, 250000, tzinfo=UTC)),
        ("2026-12-07 10:00:00+00:00", datetime(2026, 12, 7, 10, tzinfo=UTC)),
    ],
)
def test_sent_at_is_iso_8601_with_an_offset_or_the_platforms_local_time(text, utc):
    assert parse_sent_at(text, MOSCOW) == utc


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-12-07T10:00:00", "has no offset"),
        ("2026-12-07", "has no offset"),
        ("yesterday", "is not an ISO 8601 time"),
        ("2026-02-30T10:00:00Z", "is not an ISO 8601 time"),
        ("\uff12\uff10\uff12\uff16-12-07T10:00:00Z", "is not an ISO 8601 time"),  # fullwidth
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("9999-12-31T23:59:59-01:00", "out of range"),
        ("0001-01-01 00:00:00", "out of range"),  # Moscow is east of Greenwich
    ],
)
def test_an_unreadable_or_overflowing_sending_time_is_a_reason_never_an_error(text, why):
    registration = one(json.dumps({"id_sms": 5, "sent_at": text}))
    assert registration.sent_at is None
    assert why in registration.reason


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ({"sent_at": 1765000000}, "sent_at is a number, not a string"),
        ({"sender": 5}, "sender is a number, not a string"),
        ({"campaign": ["a"]}, "campaign is an array, not a string"),
        ({"channel": ""}, "channel is blank"),
        ({"sender": "x" * (TEXT_LIMIT + 1)}, f"more than {TEXT_LIMIT}"),
        ({"sender": "a\u0000b"}, "sender holds a control character"),
        ({"sender": "a\u009b31mb"}, "sender holds a control character"),  # C1: a terminal's CSI
        ({"campaign": "a\u0085b"}, "campaign holds a control character"),  # C1: next line
        ({"parts": 0}, f"parts 0 is not from 1 to {MAX_PARTS}"),
        ({"parts": MAX_PARTS + 1}, "is not from 1 to"),
        ({"parts": 2.0}, "parts is a number, not an integer"),
        ({"parts": True}, "parts is a boolean, not an integer"),
        ({"parts": "2"}, "parts is a string, not an integer"),
        ({"parts": 10**40}, "is not from 1 to"),
        ({"colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_a_value_that_cannot_be_read_rejects_the_registration_with_the_reason(item, why):
    raw = json.dumps({"id_sms": 5, **item})
    intake = read(f"[{raw}]")
    [registering] = intake.registrations
    assert why in registering.registration.reason
    assert registering.raw == raw  # kept as sent
    assert intake.acknowledgement(frozenset({5})) == [{"id_sms": 5}]  # and acknowledged


def test_the_longest_text_and_the_most_parts_are_taken():
    g = one(json.dumps({"id_sms": 5, "sender": "é" * TEXT_LIMIT, "parts": MAX_PARTS}))
    assert g.reason is None and g.sender == "é" * TEXT_LIMIT and g.parts == MAX_PARTS


def test_a_key_given_twice_rejects_the_registration_whichever_came_last():
    g = one('{"id_sms": 5, "sender": "a", "sender": "b"}')
    assert g.sender is None
    assert g.reason == 'the key sender is given 2 times ("a", "b"): ambiguous'
    spelled = one('{"id_sms": 5, "sender": "a", "s\\u0065nder": "b"}')  # an escape spells it
    assert "given 2 times" in spelled.reason


def test_a_lone_surrogate_rejects_the_registration_and_keeps_the_rest_of_the_body():
    intake = read('[{"id_sms": 5, "sender": "\\ud800"}, {"id_sms": 6, "sender": "ok"}]')
    bad, good = intake.registrations
    assert "a lone surrogate escape" in bad.registration.reason
    assert good.registration == Registration(sender="ok")


def test_bytes_that_are_not_utf8_reject_the_registration_and_are_kept_as_base64():
    intake = read(b'[{"id_sms": 5, "sender": "\xff\xfe"}]')
    [registering] = intake.registrations
    assert "bytes that are not UTF-8" in registering.registration.reason
    assert registering.raw is not None and "\xff" not in registering.raw


def test_an_item_that_names_no_message_is_quarantined_and_not_acknowledged():
    intake = read('[{"sender": "a"}, {"id_sms": -1}, {"id_sms": "x"}, 5, [1], {"id_sms": 6}]')
    assert [u.reason for u in intake.unusable] == [
        "item has no id_sms",
        "id_sms -1 is not an integer from 0 to 2^63-1",
        'id_sms "x" is not an integer from 0 to 2^63-1',
        "item is a number, not an object",
        "item is an array, not an object",
    ]
    assert {u.kind for u in intake.unusable} == {ITEM}
    assert intake.acknowledgement(frozenset({6})) == [{"id_sms": 6}]


def test_an_id_sms_naming_two_messages_is_quarantined_and_neither_is_acknowledged():
    intake = read('[{"id_sms": 5, "id_sms": 6}, {"id_sms": 5}, {"id_sms": 6}]')
    assert len(intake.unusable) == 1 and "naming different messages" in intake.unusable[0].reason
    assert intake.acknowledgement(frozenset({5, 6})) == []


def test_ids_are_echoed_in_the_json_type_they_came_in():
    intake = read('[{"id_sms": "0042"}, {"id_sms": 7}]')
    assert [r.sent for r in intake.registrations] == ["0042", None]
    assert intake.acknowledgement(frozenset({42, 7})) == [{"id_sms": "0042"}, {"id_sms": 7}]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "the body is empty; expected a JSON array of registrations"),
        (b'{"id_sms": 5}', "expected a JSON array of registrations, got an object"),
        (b"[{]", "the body is not valid JSON"),
    ],
)
def test_a_body_that_is_not_an_array_is_refused_and_quarantined_whole(body, problem):
    with pytest.raises(BodyError) as refused:
        read(body)
    assert refused.value.problem.startswith(problem)
    assert refused.value.quarantine.kind == BODY


def test_eighty_thousand_repeats_of_one_item_are_read_once():
    item = b'{"id_sms": 5, "sent_at": "2026-12-07 10:00:00", "sender": "acme", "parts": 2}'
    started = time.perf_counter()
    intake = read(b"[" + b",".join([item] * 80_000) + b"]")
    assert time.perf_counter() - started < 5
    assert len(intake.registrations) == 80_000
    assert len(set(intake.registrations)) == 1
    assert intake.acknowledgement(frozenset({5})) == [{"id_sms": 5}]


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 300) | st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3) | st.text(min_size=60, max_size=70),
    st.sampled_from(["2026-12-07 10:00:00", "2026-12-07T10:00:00Z", "2026-12-07T10:00:00"]),
    st.lists(st.integers(), max_size=2),
)


@given(
    st.integers(0, 2**63 - 1),
    st.dictionaries(st.sampled_from([*KEYS[1:], "other"]), json_values, max_size=6),
)
def test_any_item_with_a_readable_id_is_kept_in_its_history_and_acknowledged(number, values):
    raw = json.dumps({"id_sms": number, **values})
    intake = read(f"[{raw}]")
    [registering] = intake.registrations
    g = registering.registration
    assert registering.id_sms == number
    assert intake.acknowledgement(frozenset({number})) == [{"id_sms": number}]
    if g.reason is None:  # read: every value as the rules allow it
        assert registering.raw is None
        assert g.parts is None or 1 <= g.parts <= MAX_PARTS
        for text in (g.sender, g.campaign, g.channel):
            assert text is None or 0 < len(text) <= TEXT_LIMIT
    else:  # rejected: nothing of it stands, its item kept as sent
        assert registering.raw == raw
