"""The state rules of docs/state-machine.md, as properties over any reports in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from tracker.domain.message import Message
from tracker.domain.status import (
    APPLIED,
    FINAL_STATES,
    RANKS,
    REJECTED,
    SUPERSEDED,
    UNKNOWN_STATE,
    Report,
    arrived_late,
    fold,
    fold_order,
    prevails,
    states_after,
)
from tracker.domain.timestamps import parse_time, zone

EPOCH = datetime(2011, 1, 1, 9, 0, tzinfo=UTC)
KNOWN = sorted(RANKS)


def report_at(state: str, minute: int | None, reason: str | None = None) -> Report:
    if reason is not None:  # rejected at receipt: a value of its item could not be read
        return Report(state, "" if minute is None else f"raw {minute:04d}", None, reason)
    if minute is None:
        return Report(state, "")
    instant = EPOCH + timedelta(minutes=minute)
    return Report(state, f"raw {minute:04d}", instant)


states = st.sampled_from([*KNOWN, "queued", ""])
minutes = st.one_of(st.none(), st.integers(0, 30))
reasons = st.one_of(st.none(), st.none(), st.sampled_from(["key given twice", "not UTF-8"]))
reports = st.builds(report_at, states, minutes, reasons)
report_lists = st.lists(reports, max_size=12)


def foldable(report: Report) -> bool:
    """A known state, and not rejected at receipt (the contract's reports that are folded)."""
    return report.state in RANKS and report.reason is None


def closed_form(held: list[Report]) -> Report | None:
    """The contract's second statement of the rules, written independently of ``fold``."""
    known = {r.identity: r for r in held if foldable(r)}.values()
    finals = [r for r in known if r.final]
    if finals:
        return min(finals, key=fold_order)
    if not known:
        return None
    top = max(r.rank for r in known)
    return min((r for r in known if r.rank == top), key=fold_order)


@given(report_lists)
def test_the_fold_agrees_with_the_contracts_closed_form(held):
    assert fold(held) == closed_form(held)


@given(report_lists)
def test_the_fold_is_one_pairwise_step_applied_in_any_order(held):
    known = [r for r in held if foldable(r)]
    stepwise = None
    for report in known:
        stepwise = report if stepwise is None else prevails(stepwise, report)
    assert stepwise == fold(held)


@given(report_lists)
def test_the_state_after_each_arrival_is_the_fold_of_the_reports_so_far(arrivals):
    assert states_after(arrivals) == [fold(arrivals[: i + 1]) for i in range(len(arrivals))]


@given(report_lists)
def test_a_report_arrived_late_when_an_earlier_arrival_has_a_later_status_time(arrivals):
    expected = [
        r.instant is not None
        and any(e.instant is not None and e.instant > r.instant for e in arrivals[:i])
        for i, r in enumerate(arrivals)
    ]
    assert arrived_late(arrivals) == expected


@given(report_lists)
def test_reports_in_status_time_order_never_arrive_late(arrivals):
    assert not any(arrived_late(sorted(arrivals, key=fold_order)))


def decide(report: Report, held: list[Report]) -> str | None:
    """What the message aggregate (the production code: ``Message.receive``) decides for
    ``report`` once it has received ``held``, in that order."""
    message = Message(1)
    for r in held:
        message.receive(r, EPOCH)
    return message.receive(report, EPOCH)


def decide_literally(report: Report, held: list[Report]) -> str:
    """The contract read literally, from every report held: ``applied`` when the fold of all
    of them and ``report`` is ``report``; ``rejected`` when it was rejected at receipt, or when
    a final report precedes it in fold order; ``unknown_state`` for a state the rules do not
    know; else ``superseded``."""
    if report.reason is not None:
        return REJECTED
    if report.state not in RANKS:
        return UNKNOWN_STATE
    if fold([*held, report]) == report:
        return APPLIED
    if any(r.final and foldable(r) and fold_order(r) < fold_order(report) for r in held):
        return REJECTED
    return SUPERSEDED


@given(report_lists, reports, st.randoms())
def test_the_aggregate_decides_as_the_contract_reads_whatever_the_arrival_order(held, report, rnd):
    assume(report.identity not in {r.identity for r in held})  # a repeat is not decided
    rnd.shuffle(held)
    assert decide(report, held) == decide_literally(report, held)


@given(report_lists, reports)
def test_an_exact_repeat_is_not_decided_again(held, report):
    assert decide(report, [*held, report]) is None


@given(report_lists, st.randoms())
def test_convergence_the_state_depends_only_on_the_set_of_reports(held, rnd):
    shuffled = list(held)
    rnd.shuffle(shuffled)
    repeated = shuffled + rnd.sample(held, k=len(held) // 2)
    assert fold(shuffled) == fold(held) == fold(repeated)


@given(report_lists, reports)
def test_idempotence_a_repeated_report_changes_nothing(held, extra):
    assert fold([*held, extra, extra]) == fold([*held, extra])


@given(report_lists, st.sampled_from(sorted(FINAL_STATES)), st.integers(0, 30), report_lists)
def test_finality_nothing_timestamped_after_a_final_state_changes_it(held, final, at, later):
    first_final = report_at(final, at)
    base = [r for r in held if not (r.final and fold_order(r) < fold_order(first_final))]
    before = fold([*base, first_final])
    after_it = [r for r in later if fold_order(r) > fold_order(before)]
    assert fold([*base, first_final, *after_it]) == before
    assert before.final


@given(report_lists)
def test_no_regression_rank_never_goes_down_as_reports_arrive(arrivals):
    ranks = [
        current.rank if (current := fold(arrivals[: i + 1])) else -1 for i in range(len(arrivals))
    ]
    assert ranks == sorted(ranks)


@given(report_lists)
def test_unknown_states_and_reports_rejected_at_receipt_take_no_part_in_the_fold(held):
    known_only = [r for r in held if foldable(r)]
    assert fold(held) == fold(known_only)


@given(report_lists, reports)
def test_a_report_is_applied_exactly_when_it_becomes_the_current_state(held, new):
    assume(new.identity not in {r.identity for r in held})
    outcome = decide(new, held)
    if new.reason is not None:
        assert outcome == REJECTED
    elif new.state not in RANKS:
        assert outcome == UNKNOWN_STATE
    elif fold([*held, new]) == new:
        assert outcome == APPLIED
    else:
        assert outcome in (SUPERSEDED, REJECTED)
        assert fold([*held, new]) == fold(held)


@given(report_lists, reports)
def test_a_report_is_rejected_exactly_when_a_final_state_precedes_it(held, new):
    assume(new.identity not in {r.identity for r in held})
    outcome = decide(new, held)
    preceded_by_final = any(
        r.final and foldable(r) and fold_order(r) < fold_order(new) for r in held
    )
    if foldable(new) and fold([*held, new]) != new:
        assert (outcome == REJECTED) == preceded_by_final


def test_intermediate_states_can_be_skipped():
    assert fold([report_at("send", None), report_at("read", 5)]).state == "read"


def test_a_late_arriving_earlier_report_does_not_move_the_state_back():
    delivered = report_at("deliver", 10)
    sent = report_at("send", 1)
    assert decide(sent, [delivered]) == SUPERSEDED
    assert fold([delivered, sent]) == delivered


def test_a_report_after_a_final_state_is_rejected():
    expired = report_at("expired", 10)
    delivered_later = report_at("deliver", 20)
    assert decide(delivered_later, [expired]) == REJECTED
    assert fold([expired, delivered_later]) == expired


def test_an_earlier_final_report_arriving_late_wins():
    read_late = report_at("read", 20)
    not_delivered_earlier = report_at("not_deliver", 10)
    assert decide(not_delivered_earlier, [read_late]) == APPLIED
    assert fold([read_late, not_delivered_earlier]) == not_delivered_earlier


def test_a_report_with_unknown_time_is_ordered_first():
    # "send" comes with time "": it never overrides a timed report of higher rank.
    assert fold([report_at("deliver", 3), report_at("send", None)]).state == "deliver"
    # An untimed final report is ordered before everything, so it stands.
    assert fold([report_at("read", None), report_at("not_deliver", 1)]).state == "read"


def test_equal_rank_keeps_the_earliest():
    first = report_at("read", 5)
    assert decide(report_at("expired", 5), [first]) == APPLIED  # same time: "expired" < "read"
    assert decide(report_at("deliver", 7), [report_at("deliver", 6)]) == SUPERSEDED


def test_no_state_until_a_known_state_arrives():
    assert fold([]) is None
    assert fold([report_at("queued", 1)]) is None


@given(report_lists, st.sampled_from(KNOWN), minutes, st.sampled_from(["key given twice", "x"]))
def test_a_report_rejected_at_receipt_is_rejected_and_never_changes_the_state(
    held, state, minute, reason
):
    rejected = report_at(state, minute, reason)
    assume(rejected.identity not in {r.identity for r in held})
    assert decide(rejected, held) == REJECTED
    assert fold([*held, rejected]) == fold(held)
    assert rejected.identity != report_at(state, minute).identity  # never a repeat of a report


def test_the_fold_orders_reports_around_moscows_clock_shifts_as_the_platforms_clock_did():
    """Skipped 02:30 (2011-03-27) came before 03:10; a repeated 01:30 (2014-10-26) is read as
    its first occurrence, before 01:45: the earliest final report is the one at 02:30 / 01:30."""
    moscow = zone("Europe/Moscow")
    for first, later in [("2011-03-27 02:30:00", "2011-03-27 03:10:00"),
                         ("2014-10-26 01:30:00", "2014-10-26 01:45:00")]:  # fmt: skip
        not_delivered = Report("not_deliver", first, parse_time(first, moscow))
        read = Report("read", later, parse_time(later, moscow))
        assert fold([read, not_delivered]) == not_delivered
        assert decide(read, [not_delivered]) == REJECTED


def test_times_in_a_skipped_hour_keep_their_wall_clock_order_at_the_shifts_instant():
    """02:30, 02:59:59 and 03:00 on 2011-03-27 in Moscow are one instant (the shift's): the
    fold reads them as the platform's clock did, not by rank or state name."""
    moscow = zone("Europe/Moscow")

    def at(state: str, time: str) -> Report:
        return Report(state, f"2011-03-27 {time}", parse_time(f"2011-03-27 {time}", moscow))

    assert fold([at("expired", "03:00:00"), at("not_deliver", "02:30:00")]).state == "not_deliver"
    assert fold([at("not_deliver", "03:00:00"), at("read", "02:59:59")]).state == "read"
    assert decide(at("expired", "03:00:00"), [at("not_deliver", "02:30:00")]) == REJECTED
