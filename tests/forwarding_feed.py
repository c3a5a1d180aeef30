"""A change feed held in a list, for the forwarders' tests that need no projector.

It answers ``changes_after`` and ``changes_head`` as the views do (tracker/views/changes.py),
with the views' own ``Change``: the delivery logic tested on its own, no projector needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracker.views.projection import Change

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
STATES = ("send", "delivered")


def change(position: int, id_sms: int, previous: str | None, state: str) -> Change:
    at = T0 + timedelta(seconds=position)
    return Change(
        position=position,
        id_sms=id_sms,
        previous=previous,
        state=state,
        final=state != "send",
        time=(at + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S"),
        instant=at,
        received_at=at,
        source=None,
    )


class Feed:
    """Changes in position order, appended by the test."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.complete_from = 0  # as views made before the change view: complete after it

    def add(self, messages: int, start: int | None = None) -> list[Change]:
        """Two changes (send, then delivered) for each of ``messages`` messages, interleaved."""
        position = start if start is not None else self.changes_head() + 3
        made = []
        for step, (previous, state) in enumerate(((None, "send"), ("send", "delivered"))):
            for m in range(messages):
                made.append(change(position, 1000 + m, previous, state))
                position += 2 + step
        self.changes += made
        return made

    def changes_after(self, position: int, limit: int) -> list[Change]:
        return [c for c in self.changes if c.position > position][:limit]

    def changes_complete_from(self) -> int:
        return self.complete_from

    def changes_head(self) -> int:
        return self.changes[-1].position if self.changes else 0
