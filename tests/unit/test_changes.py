"""The change rows of a message are exactly the state transitions of the fold, in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_projection import TIMES, instant
from tracker.domain.status import RANKS, Report, fold
from tracker.views.projection import Change, Fact
from tracker.views.projector import apply_facts

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# (state, time, rejected at receipt, a repeat of a report held, polled)
arrivals = st.lists(
    st.tuples(
        st.sampled_from([*RANKS, "mystery"]),
        st.integers(0, len(TIMES) - 1),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
    min_size=1,
    max_size=15,
)


def facts_of(pairs, id_sms=42) -> list[Fact]:
    """Facts as the log gives them: positions rising, a repeat only of a report held."""
    facts: list[Fact] = []
    for n, (state, t, rejected, again, polled) in enumerate(pairs):
        time = TIMES[t]
        report = Report(state, time, instant(time), "unreadable" if rejected else None)
        held = [f.report for f in facts if not f.again]
        repeat = again and report in held
        facts.append(Fact(id_sms, report, T0 + timedelta(seconds=n), again=repeat,
                          source="poll" if polled else None, position=10 * n + 3))  # fmt: skip
    return facts


def transitions(facts: list[Fact]) -> list[tuple[int, str | None, str, bool]]:
    """The oracle: the literal fold of every report stored so far, after each one; a change
    wherever its state differs from the one before."""
    found, held, before = [], [], None
    for fact in facts:
        if fact.again:
            continue
        held.append(fact.report)
        after = fold(held)
        state = after.state if after else None
        if state != before:
            found.append((fact.position, before, state, after.final))  # type: ignore[union-attr]
        before = state
    return found


@given(arrivals)
def test_the_changes_are_the_transitions_of_the_fold(pairs):
    facts = facts_of(pairs)
    _, _, changes = apply_facts(facts, {})
    assert [(c.position, c.previous, c.state, c.final) for c in changes] == transitions(facts)


@given(arrivals, st.integers(1, 15))
def test_paged_as_the_live_projector_pages_them_the_changes_are_the_same(pairs, size):
    facts = facts_of(pairs)
    rows: dict = {}
    paged: list[Change] = []
    for start in range(0, len(facts), size):
        paged += apply_facts(facts[start : start + size], rows)[2]
    assert paged == apply_facts(facts, {})[2]


@given(arrivals)
def test_each_change_follows_the_one_before_and_says_what_caused_it(pairs):
    facts = facts_of(pairs)
    _, _, changes = apply_facts(facts, {})
    by_position = {f.position: f for f in facts}
    previous = None
    for change in changes:
        assert change.previous == previous != change.state
        cause = by_position[change.position]
        assert not cause.again and cause.report.reason is None and cause.state in RANKS
        assert (change.state, change.time, change.instant, change.received_at, change.source) == (
            cause.state, cause.time, cause.instant, cause.received_at, cause.source
        )  # fmt: skip
        assert change.final == (RANKS[change.state] == max(RANKS.values()))
        previous = change.state
    assert [c.position for c in changes] == sorted({c.position for c in changes})


@given(arrivals, arrivals)
def test_messages_interleaved_keep_their_own_changes(one, other):
    a, b = facts_of(one, id_sms=1), facts_of(other, id_sms=2)
    mixed = sorted(
        [*a, *[Fact(2, f.report, f.received_at, again=f.again, source=f.source,
                    position=f.position + 5) for f in b]],
        key=lambda f: f.position,
    )  # fmt: skip
    _, _, changes = apply_facts(mixed, {})
    mine = [c for c in changes if c.id_sms == 1]
    theirs = [c for c in changes if c.id_sms == 2]
    assert mine == apply_facts(a, {})[2]
    assert [(c.position - 5, c.previous, c.state) for c in theirs] == [
        (c.position, c.previous, c.state) for c in apply_facts(b, {})[2]
    ]
