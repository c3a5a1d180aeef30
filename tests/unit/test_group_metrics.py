"""Figures by sender and campaign on bounded labels: the top N, other, (none); nothing lost in
the adding up, and any sender's text escaped by the exposition and read back as sent."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tracker.read.models import GroupStats
from tracker.web.group_metrics import GROUPS, NONE, OTHER, GroupCollector, bounded, exposition


def group(key: str, messages: int, delivered: int = 0, known: int = 0) -> GroupStats:
    states = {"deliver": delivered, "expired": known - delivered, "": messages - known}
    return GroupStats(
        key=key,
        messages=messages,
        states={s: n for s, n in states.items() if n},
        delivered=delivered,
        known=known,
        delivery_rate=delivered / known if known else None,
        pending=messages - known,
        pending_share=(messages - known) / messages,
        deliveries=delivered,
        p50=None,
        p95=None,
        p99=None,
    )


def scraped(groups: dict[str, list[GroupStats]], top: int) -> dict[tuple, float]:
    """The samples a scrape shows, read back from the text exposition."""
    collector = GroupCollector()
    collector.refresh(lambda by: groups.get(by, []), top)
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (s.name, *sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_one_sender_more_than_the_limit_gives_the_limit_and_other():
    senders = [group(f"s{i}", 100 - i, delivered=i, known=i + 1) for i in range(4)]
    figures = bounded([*senders, group("", 7, 1, 1)], top=3)
    assert set(figures) == {NONE, "s0", "s1", "s2", OTHER}
    assert figures[OTHER].messages == 97  # s3, the fewest messages
    assert sum(f.messages for f in figures.values()) == 100 + 99 + 98 + 97 + 7
    assert figures[NONE].states == {"deliver": 1, "none": 6}


def test_ties_at_the_limit_are_broken_by_the_key_and_a_sender_named_other_adds_to_other():
    figures = bounded([group("b", 5), group("a", 5), group("other", 1), group("c", 9)], top=2)
    assert {k: f.messages for k, f in figures.items()} == {"c": 9, "a": 5, OTHER: 6}


@given(
    st.lists(
        st.tuples(st.text(max_size=64), st.integers(1, 1000), st.integers(0, 1000)),
        max_size=30,
        unique_by=lambda t: t[0],
    ),
    st.integers(1, 10),
)
def test_the_labels_are_bounded_and_every_message_and_outcome_is_counted_once(drawn, top):
    groups = [group(k, m, min(d, m), min(d, m)) for k, m, d in drawn]
    samples = scraped({"sender": groups}, top)
    labels = {dict(key[1:])["group"] for key in samples}
    assert len(labels) <= top + 2  # the top, other and (none)
    messages = sum(v for key, v in samples.items() if key[0] == "tracker_group_messages")
    assert messages == sum(g.messages for g in groups)
    delivered = sum(
        v for key, v in samples.items()
        if key[0] == "tracker_group_outcomes_total" and ("outcome", "delivered") in key
    )  # fmt: skip
    assert delivered == sum(g.delivered for g in groups)


def test_hostile_sender_names_are_escaped_and_read_back_as_sent():
    hostile = ['quote " and \\ backslash', "new\nline", "ünïcødé ✉", "} 1\nfake_metric 2"]
    samples = scraped({"sender": [group(h, 3, 1, 2) for h in hostile]}, top=10)
    names = {key[0] for key in samples}
    assert names == {"tracker_group_messages", "tracker_group_outcomes_total"}  # no fake ones
    shown = {dict(key[1:])["group"] for key in samples}
    assert shown == set(hostile)
    assert samples[
        ("tracker_group_outcomes_total", ("dimension", "sender"), ("group", "new\nline"),
         ("outcome", "undelivered"))
    ] == 1  # fmt: skip


def test_a_reading_stays_for_a_few_seconds_and_a_group_that_left_leaves_no_series():
    collector = GroupCollector()
    reads = []
    collector.refresh(lambda by: reads.append(by) or [group("a", 2)], 1)
    collector.refresh(lambda by: reads.append(by) or [group("b", 5)], 1)
    assert reads == ["sender", "campaign"]  # the second scrape shared the first reading
    collector.read_at -= 60
    collector.refresh(lambda by: [group("b", 5), group("a", 2)], 1)
    groups = {s.labels["group"] for m in collector.collect() for s in m.samples}
    assert groups == {"b", OTHER}


def test_with_several_processes_the_scrape_still_carries_the_group_figures(tmp_path, monkeypatch):
    """PROMETHEUS_MULTIPROC_DIR: the exposition adds up the processes' files, and the group
    figures (read from the shared views, the same in every process) come from this one."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(GROUPS, "figures", {"sender": bounded([group("alpha", 3, 2, 2)], 5)})
    body, content_type = exposition()
    assert content_type.startswith("text/plain")
    samples = {
        (s.name, s.labels.get("group"), s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("tracker_group_outcomes_total", "alpha", "delivered")] == 2


def test_a_scrape_over_100000_senders_reads_their_counts_not_a_whole_breakdown():
    """/metrics needs each group's messages by state: it adds up the breakdown's rows itself
    (no percentiles, no daily points, no GroupStats per sender) and shows what a breakdown's
    groups would show (its cost is measured in bench/, never asserted here)."""
    from tests.unit.test_breakdown_rules import ManySenders
    from tracker.read.breakdown import breakdown
    from tracker.web.group_metrics import counts

    views = ManySenders(100_000, 365)
    views.rows += [("", "2026-01-01", "expired", True, 3), ("s7", "2026-01-02", "", False, 2)]
    lean = bounded(counts(views, "sender"), top=20)  # type: ignore[arg-type]
    whole = bounded(breakdown(views, "sender", daily=False).groups, top=20)  # type: ignore[arg-type]
    assert lean == whole
