"""The views never receive a NUL character (PostgreSQL text cannot hold one): it becomes U+FFFD."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tracker.views.log import _clean

TEXT = st.text(st.sampled_from(["\x00", "\\", "u", "0", "a", '"', "\ufffd", "\ud800"]), max_size=30)


@given(TEXT)
def test_nul_becomes_the_replacement_character_and_nothing_else_changes(text):
    cleaned = _clean(text)
    assert "\x00" not in cleaned
    assert cleaned == text.replace("\x00", "\ufffd")
    assert len(cleaned) == len(text)


def test_no_text_stays_no_text():
    assert _clean(None) is None
