"""Prometheus figures by sender and by campaign, from the breakdown at scrape, on bounded labels.

Sender and campaign are free-form text a client chooses, so a label per value would let any
client grow the series without bound. Each dimension shows its top N groups by messages
(TRACKER_METRICS_GROUPS), one ``other`` for the rest added up, and ``(none)`` for the messages
registered without one (or never registered). Label values go through prometheus_client's
exposition, which escapes quotes, backslashes and newlines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tracker.read import queries
from tracker.read.breakdown import KNOWN_STATES
from tracker.read.models import GroupStats
from tracker.views.projection import DELIVERED_STATES
from tracker.views.store import ViewStore

DIMENSIONS = ("sender", "campaign")
OTHER = "other"  # the groups past the top N, added up
NONE = "(none)"  # not given, or the message was never registered
NO_STATE = "none"  # the state label of messages with no known state yet
FRESH_SECONDS = 5.0  # scrapes within this long of the last reading share it


@dataclass
class Figures:
    """One label's figures: a group's, or several added up."""

    messages: int = 0
    states: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    known: int = 0

    def add(self, group: GroupStats | Counts) -> None:
        self.messages += group.messages
        self.delivered += group.delivered
        self.known += group.known
        for state, n in group.states.items():
            label = state or NO_STATE
            self.states[label] = self.states.get(label, 0) + n


def bounded(groups: Sequence[GroupStats | Counts], top: int) -> dict[str, Figures]:
    """The groups by label: the ``top`` given keys with the most messages under their own,
    ``(none)`` for the key "", ``other`` for the rest. A group whose own key is ``other`` or
    ``(none)`` adds to that label (one series per label, never two)."""
    ranked = sorted((g for g in groups if g.key), key=lambda g: (-g.messages, g.key))
    own = {g.key for g in ranked[:top]}
    figures: dict[str, Figures] = {}
    for g in groups:
        label = g.key if g.key in own else (NONE if not g.key else OTHER)
        figures.setdefault(label, Figures()).add(g)
    return figures


class GroupCollector(Collector):
    """The last reading of the breakdowns, exposed as metric families at each collection: a
    group that left the top N leaves no stale series behind (it is then in ``other``)."""

    def __init__(self) -> None:
        self.figures: dict[str, dict[str, Figures]] = {}
        self.read_at = float("-inf")

    def refresh(self, read: Callable[[str], Sequence[GroupStats | Counts]], top: int) -> None:
        """Read each dimension's groups (over all days) unless the last reading is fresh."""
        if time.monotonic() - self.read_at < FRESH_SECONDS:
            return
        self.figures = {d: bounded(read(d), top) for d in DIMENSIONS}
        self.read_at = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        messages, outcomes = _families()
        for dimension, groups in self.figures.items():
            for group, f in groups.items():
                for state, n in sorted(f.states.items()):
                    messages.add_metric([dimension, group, state], n)
                outcomes.add_metric([dimension, group, "delivered"], f.delivered)
                outcomes.add_metric([dimension, group, "undelivered"], f.known - f.delivered)
        yield messages
        yield outcomes

    def describe(self) -> Iterator[Metric]:
        """The names, for the registry's check of duplicates; the figures only when scraped."""
        yield from _families()


def refresh(views: ViewStore, top: int) -> None:
    """Read the breakdowns by sender and by campaign over all days (a blocking read), unless
    the last reading is fresh. Views made before the breakdown existed leave the figures out
    until `tracker rebuild` (the console says so)."""
    with suppress(queries.BreakdownIncomplete):
        GROUPS.refresh(lambda by: counts(views, by), top)


@dataclass(frozen=True, slots=True)
class Counts:
    """What the figures need of a group: its messages in all, by state, delivered, known."""

    key: str
    messages: int
    states: dict[str, int]
    delivered: int
    known: int


def counts(views: ViewStore, dimension: str) -> list[Counts]:
    """Each group's counts over all days, added up from the breakdown's rows (a scrape over
    100,000 senders costs their rows, not a whole breakdown with percentiles per sender);
    BreakdownIncomplete for views made before the breakdowns."""
    if not views.breakdown_complete():
        raise queries.BreakdownIncomplete()
    by_value: dict[str, dict[str, int]] = {}
    for value, _, state, _, n in views.breakdown_states(dimension):
        if (states := by_value.get(value)) is None:
            by_value[value] = {state: n}
        else:
            states[state] = states.get(state, 0) + n
    groups = []
    for key, states in by_value.items():
        delivered = known = 0
        for state, n in states.items():
            if state in KNOWN_STATES:
                known += n
                delivered += n if state in DELIVERED_STATES else 0
        groups.append(Counts(key, sum(states.values()), states, delivered, known))
    return groups


def exposition() -> tuple[bytes, str]:
    """The whole registry in Prometheus' text format and its content type, as Litestar's
    exporter makes them; with PROMETHEUS_MULTIPROC_DIR, every process's files and this
    process's group figures (read from the shared views, the same in each process)."""
    registry = REGISTRY
    if "prometheus_multiproc_dir" in os.environ or "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(GROUPS)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily]:
    labels = ["dimension", "group"]
    return (
        GaugeMetricFamily(
            "tracker_group_messages",
            "Messages by sender or campaign (the top TRACKER_METRICS_GROUPS by messages, other, "
            "(none)) and current state (none: no known state yet), over all sending days",
            labels=[*labels, "state"],
        ),
        CounterMetricFamily(
            "tracker_group_outcomes",
            "Messages with a known outcome by sender or campaign: delivered (deliver, read) or "
            "undelivered (not_deliver, expired); a late final report may move one between them",
            labels=[*labels, "outcome"],
        ),
    )


GROUPS = GroupCollector()
REGISTRY.register(GROUPS)
