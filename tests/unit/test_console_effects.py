"""The timeline's "now" column agrees with the rules and with the messages view: one report sets
the state, and a report follows the final state exactly when the view counts a conflict."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given

from tests.unit.test_status_rules import report_lists
from tracker.domain.status import Report, fold
from tracker.views.projection import Fact, project
from tracker.web.console.timeline import FOLLOWS_FINAL, NOT_FOLDED, SETS, effect_now

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def distinct(reports: list[Report]) -> list[Report]:
    """As a history holds them: a repeat of a report is a duplicate and records nothing."""
    return list({r.identity: r for r in reversed(reports)}.values())[::-1]


@given(report_lists)
def test_exactly_the_folded_report_sets_the_state(arrivals):
    held = distinct(arrivals)
    current = fold(held)
    effects = [effect_now(r, current) for r in held]
    assert [r for r, e in zip(held, effects, strict=True) if e == SETS] == (
        [current] if current else []
    )
    assert all((e == NOT_FOLDED) == (r.rank is None) for r, e in zip(held, effects, strict=True))


@given(report_lists)
def test_a_report_follows_the_final_state_exactly_when_the_view_has_a_conflict(arrivals):
    held = distinct(arrivals)
    row = None
    for report in held:
        row, _ = project(row, Fact(1, report, T0))
    current = fold(held)
    follows = [r for r in held if effect_now(r, current) == FOLLOWS_FINAL]
    assert bool(follows) == bool(row and row.conflict)
    assert all(current.final and current.order < r.order for r in follows)
