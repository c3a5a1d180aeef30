"""The read side's errors a caller is told about (the HTTP API maps them to 4xx answers)."""

from __future__ import annotations


class BadFilter(ValueError):
    """A filter value a list cannot apply; its text names the filter and says why."""


class BreakdownIncomplete(RuntimeError):
    """The breakdown views lack what was projected before they existed (views made before
    them): `tracker rebuild` builds them."""

    def __init__(self) -> None:
        super().__init__(
            "the breakdowns are incomplete: these views were made before them; "
            "run `tracker rebuild`"
        )
