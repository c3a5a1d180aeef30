"""A bounded memo: a dict that makes a missing value on first use and starts afresh when full."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


class Memo(dict):
    """``memo[key]`` is ``make(key)``, made once and remembered; at ``size`` entries it forgets
    them all (the keys worth keeping, such as the instants of the statuses arriving now, come
    back at once, so no eviction order is kept). A hit costs one plain dict lookup.

    The writer, the views' reader and their timestamp formatting each keep one: the statuses of
    a batch share their state and second, the events of a request their receipt time."""

    __slots__ = ("make", "size")

    def __init__(self, make: Callable[[Any], Any], size: int):
        super().__init__()
        self.make = make
        self.size = size

    def once(self, key: Hashable, size: int) -> Any:
        """``memo[key]`` for a key whose texts come to ``size`` characters; made afresh, not
        remembered, past MEMO_TEXT (a memo bounded by its count of entries must not hold 8,000
        strings of megabytes that a hostile sender made up)."""
        return self[key] if size <= MEMO_TEXT else self.make(key)

    def __missing__(self, key: Hashable) -> Any:
        if len(self) >= self.size:
            self.clear()
        value = self[key] = self.make(key)
        return value


MEMO_TEXT = 512  # characters of text in a key past which a value is not remembered
