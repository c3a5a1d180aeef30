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
