"""The views never receive a NUL character (PostgreSQL text cannot hold one): it becomes U+FFFD."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tracker.views.log import _without_nul

TEXT = st.text(st.sampled_from(["\x00", "\\", "u", "0", "a", '"', "\ufffd"]), max_size=30)


@given(st.dictionaries(st.sampled_from(["state", "time", "raw"]), TEXT, min_size=1))
def test_nul_becomes_the_replacement_character_and_nothing_else_changes(fields):
    stored = json.dumps(fields, ensure_ascii=False).encode()  # as the event store writes it
    assert json.loads(_without_nul(stored)) == {
        name: value.replace("\x00", "\ufffd") for name, value in fields.items()
    }
