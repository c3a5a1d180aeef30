"""Reading the platform's raw values: naive Moscow timestamps and id_sms in either JSON type."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.ids import MAX_ID_SMS, message_number
from tracker.domain.timestamps import parse_time, zone

MOSCOW = zone("Europe/Moscow")


def test_a_platform_timestamp_is_moscow_time_turned_into_utc():
    assert parse_time("2011-01-01 12:57:46", MOSCOW) == datetime(2011, 1, 1, 9, 57, 46, tzinfo=UTC)
    assert parse_time("2024-07-01 03:00:00", MOSCOW) == datetime(2024, 7, 1, 0, 0, tzinfo=UTC)


def test_the_zone_is_a_setting():
    assert parse_time("2024-07-01 03:00:00", zone("UTC")) == datetime(2024, 7, 1, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "2011-02-30 12:00:00",
        "2011-01-01 24:00:00",
        "2011-01-01T12:57:46",
        "2011-01-01 12:57",
        "2011-01-01 12:57:46Z",
        "٢٠١١-01-01 12:57:46",
        "yesterday",
    ],
)
def test_blank_or_malformed_times_are_unknown(raw):
    assert parse_time(raw, MOSCOW) is None


@given(st.text(max_size=25))
def test_no_text_makes_the_parser_raise(raw):
    result = parse_time(raw, MOSCOW)
    assert result is None or result.tzinfo is UTC


def test_an_unknown_zone_is_named_in_the_error():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        zone("Mars/Olympus")


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        (3234, 3234),
        ("3234", 3234),
        ("003234", 3234),
        (0, 0),
        ("0", 0),
        (MAX_ID_SMS, MAX_ID_SMS),
        (str(MAX_ID_SMS), MAX_ID_SMS),
    ],
)
def test_an_id_sms_is_an_integer_or_a_string_of_digits(raw, number):
    assert message_number(raw) == number


@pytest.mark.parametrize(
    "raw",
    [
        True,
        False,
        None,
        -1,
        MAX_ID_SMS + 1,
        str(MAX_ID_SMS + 1),
        3234.0,
        "",
        "32 34",
        "-5",
        "+5",
        "٣٢٣٤",
        "0x1F",
        "9" * 5000,
        [3234],
        {"id": 3234},
    ],
)
def test_anything_else_names_no_message(raw):
    assert message_number(raw) is None


@given(st.integers(0, MAX_ID_SMS))
def test_both_json_types_name_the_same_message(n):
    assert message_number(n) == message_number(str(n)) == n
