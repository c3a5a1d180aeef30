"""Reading the platform's raw values: naive Moscow timestamps and id_sms in either JSON type."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.ids import MAX_ID_SMS, message_number
from tracker.domain.timestamps import TimeOutOfRange, instant_of, parse_time, zone

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
        "2011-01-01 12:57:46\n",
        "2011-01-01 12:57:4\uff16",  # a fullwidth six
        "yesterday",
    ],
)
def test_blank_or_malformed_times_are_unknown(raw):
    assert parse_time(raw, MOSCOW) is None


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)))
def test_every_wall_clock_time_in_the_platforms_form_is_read_as_that_time(wall):
    wall = wall.replace(microsecond=0)
    assert parse_time(wall.strftime("%Y-%m-%d %H:%M:%S"), MOSCOW) == instant_of(wall, MOSCOW)


@given(st.text(max_size=25))
def test_no_text_makes_the_parser_raise_but_a_time_out_of_range(raw):
    try:
        result = parse_time(raw, MOSCOW)
    except TimeOutOfRange:
        return
    assert result is None or result.tzinfo is UTC


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("0001-01-01 00:00:00", "Europe/Moscow"),  # east of Greenwich: before year 1 in UTC
        ("0001-01-01 02:30:16", "Europe/Moscow"),  # Moscow's mean time then: +02:30:17
        ("9999-12-31 23:59:59", "America/New_York"),  # west: after year 9999 in UTC
        ("9999-12-31 20:00:00", "Pacific/Pago_Pago"),  # -11: 07:00 the day after
    ],
)
def test_a_real_time_with_no_utc_instant_says_so(raw, name):
    with pytest.raises(TimeOutOfRange, match=f"{raw} in {name} has no UTC instant"):
        parse_time(raw, zone(name))


def test_the_last_times_that_have_an_instant_are_read():
    assert parse_time("0001-01-01 02:30:17", MOSCOW) == datetime(1, 1, 1, tzinfo=UTC)
    assert parse_time("9999-12-31 23:59:59", MOSCOW) == datetime(
        9999, 12, 31, 20, 59, 59, tzinfo=UTC
    )


def utc(*fields):
    return datetime(*fields, tzinfo=UTC)


def test_a_time_skipped_by_moscows_shift_forward_is_the_instant_of_the_shift():
    """2011-03-27: 02:00 +03 became 03:00 +04, so 02:00-02:59 never happened. Read with the
    offset before the shift (Python's way), 02:30 would come after 03:10."""
    assert parse_time("2011-03-27 01:59:59", MOSCOW) == utc(2011, 3, 26, 22, 59, 59)
    for skipped in ("02:00:00", "02:30:00", "02:59:59", "03:00:00"):
        assert parse_time(f"2011-03-27 {skipped}", MOSCOW) == utc(2011, 3, 26, 23, 0)
    assert parse_time("2011-03-27 03:10:00", MOSCOW) == utc(2011, 3, 26, 23, 10)


def test_a_time_repeated_by_moscows_shift_back_is_its_first_occurrence():
    """2014-10-26: 02:00 +04 became 01:00 +03, so 01:00-01:59 happened twice."""
    assert parse_time("2014-10-26 00:59:59", MOSCOW) == utc(2014, 10, 25, 20, 59, 59)
    assert parse_time("2014-10-26 01:30:00", MOSCOW) == utc(2014, 10, 25, 21, 30)  # +04
    assert parse_time("2014-10-26 02:00:00", MOSCOW) == utc(2014, 10, 25, 23, 0)


SHIFTING_ZONES = st.sampled_from(
    ["Europe/Moscow", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)
WALL_TIMES = st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1)).map(
    lambda d: d.replace(microsecond=0)
)


@given(SHIFTING_ZONES, WALL_TIMES, WALL_TIMES)
def test_instants_never_run_backwards_while_wall_clock_times_run_forwards(name, a, b):
    """Whatever the zone's shifts, later wall-clock times never have earlier instants: the
    fold orders a message's reports as the platform's clock ordered them."""
    a, b = sorted((a, b))
    instant = lambda wall: parse_time(wall.strftime("%Y-%m-%d %H:%M:%S"), zone(name))  # noqa: E731
    assert instant(a) <= instant(b)


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
