"""A bounded memo gives make(key) for every key, makes each at most once while it is kept, and
never holds more than its size."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tracker.memo import Memo


@given(st.lists(st.integers(0, 20), max_size=60), st.integers(1, 8))
def test_a_memo_answers_make_of_the_key_and_stays_within_its_size(keys, size):
    made: list[int] = []

    def make(key: int) -> str:
        made.append(key)
        return f"<{key}>"

    memo = Memo(make, size)
    for key in keys:
        kept, before = key in memo, len(made)
        assert memo[key] == f"<{key}>"
        assert len(made) == before + (0 if kept else 1)  # made only when it was not kept
        assert len(memo) <= size
    assert len(made) <= len(keys)


def test_a_value_for_long_texts_is_made_each_time_and_never_remembered():
    made = []
    memo = Memo(lambda key: made.append(key) or len(key), size=10)
    assert memo.once("x" * 100, 100) == memo.once("x" * 100, 100) == 100
    assert (len(made), len(memo)) == (1, 1)  # short enough: remembered
    long = "y" * 4_000_000
    assert memo.once(long, len(long)) == memo.once(long, len(long)) == 4_000_000
    assert (len(made), len(memo)) == (3, 1)  # made twice, kept never
