"""The overview's range of sending days as its form sends it: read strictly, both ends
included, the last 30 days by default, never more than 366."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.web.console.forms import BadFilter, day_range

TODAY = date(2026, 12, 7)


def test_no_ends_is_the_last_30_days_up_to_today():
    assert day_range("", "", TODAY) == (date(2026, 11, 8), TODAY)


def test_one_end_alone_keeps_the_default_length_or_runs_to_today():
    assert day_range("", "2026-12-01", TODAY) == (date(2026, 11, 2), date(2026, 12, 1))
    assert day_range("2026-12-01", "", TODAY) == (date(2026, 12, 1), TODAY)
    assert day_range("2026-12-09", "", TODAY) == (date(2026, 12, 9), date(2026, 12, 9))
    assert day_range("2020-01-01", "", TODAY) == (date(2020, 1, 1), date(2020, 12, 31))


def test_both_ends_are_included():
    assert day_range("2026-12-01", "2026-12-07", TODAY) == (date(2026, 12, 1), TODAY)
    assert day_range("2026-12-01", "2026-12-01", TODAY) == (date(2026, 12, 1), date(2026, 12, 1))


@pytest.mark.parametrize(
    ("first", "last", "said"),
    [
        ("2026-13-01", "", "from: '2026-13-01' is not a date (YYYY-MM-DD)"),
        ("", "2026-02-30", "to: '2026-02-30' is not a date (YYYY-MM-DD)"),
        ("2026-1-01", "", "from: '2026-1-01' is not a date"),
        ("20261201", "", "from: '20261201' is not a date"),
        ("2026-12-01T00:00", "", "is not a date"),
        ("\u0662\u0660\u0662\u0666-12-01", "", "is not a date"),  # digits, not ASCII ones
        ("2026-12-08", "2026-12-01", "from: 2026-12-08 is after to (2026-12-01)"),
        ("2024-01-01", "2025-01-01", "from: 2024-01-01 to 2025-01-01 is more than 366 days"),
    ],
)
def test_anything_else_is_refused_naming_the_field(first, last, said):
    with pytest.raises(BadFilter, match=said.replace("(", r"\(").replace(")", r"\)")):
        day_range(first, last, TODAY)


@given(st.dates(), st.dates(), st.dates())
def test_a_range_read_is_never_backwards_nor_longer_than_366_days(a, b, today):
    try:
        first, last = day_range(a.isoformat(), b.isoformat(), today)
    except BadFilter:
        assert a > b or (b - a).days >= 366
        return
    assert (first, last) == (a, b) and timedelta(0) <= last - first < timedelta(days=366)


def test_one_end_at_the_calendars_edge_is_clipped_to_it_never_an_overflow():
    """from=9999-12-31 alone, to=0001-01-01 alone: the default length would pass the last or
    the first day a date can hold (OverflowError, a 500); the range stops at that day."""
    assert day_range("9999-12-31", "", TODAY) == (date(9999, 12, 31), date(9999, 12, 31))
    assert day_range("9999-12-01", "", TODAY) == (date(9999, 12, 1), date(9999, 12, 1))
    assert day_range("", "0001-01-01", TODAY) == (date(1, 1, 1), date(1, 1, 1))
    assert day_range("", "0001-01-10", TODAY) == (date(1, 1, 1), date(1, 1, 10))
    assert day_range("0001-01-01", "", TODAY) == (date(1, 1, 1), date(2, 1, 1))
