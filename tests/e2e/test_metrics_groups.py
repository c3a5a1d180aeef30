"""/metrics by sender and campaign from a real server: bounded labels that add up to the
messages stored, and the example alert rules (docs/alerts.yml) naming only metrics it exposes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.charted import HOSTILE, charted_server, old_views_server  # noqa: F401

RULES = Path(__file__).parents[2] / "docs" / "alerts.yml"
MESSAGES = 16  # charted.fill: 12 of alpha, 2 of beta, 1 of the hostile sender, and 9901
# PromQL words that are not metric names (functions are followed by "(" and left out anyway)
WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
         "bool", "offset"}  # fmt: skip


def scrape(server) -> dict[tuple, float]:
    with server.client() as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200
    return {
        (s.name, *sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def named(samples: dict[tuple, float], name: str, **labels: str) -> dict[str, float]:
    """The samples of one metric with these labels, by their group."""
    found = {}
    for key, value in samples.items():
        have = dict(key[1:])
        if key[0] == name and all(have.get(k) == v for k, v in labels.items()):
            found[have["group"]] = found.get(have["group"], 0) + value
    return found


def test_groups_past_the_limit_add_up_under_other_and_every_message_is_counted(charted_server):  # noqa: F811
    samples = scrape(charted_server)  # TRACKER_METRICS_GROUPS=2
    senders = named(samples, "tracker_group_messages", dimension="sender")
    assert senders == {"alpha": 12, "beta": 2, "other": 1, "(none)": 1}
    assert HOSTILE not in senders  # one message: in other, its text in no label
    campaigns = named(samples, "tracker_group_messages", dimension="campaign")
    assert campaigns == {"spring": 12, "(none)": 4}
    assert sum(senders.values()) == sum(campaigns.values()) == MESSAGES
    delivered = named(samples, "tracker_group_outcomes_total", dimension="sender",
                      outcome="delivered")  # fmt: skip
    undelivered = named(samples, "tracker_group_outcomes_total", dimension="sender",
                        outcome="undelivered")  # fmt: skip
    assert delivered == {"alpha": 4, "beta": 2, "other": 0, "(none)": 0}
    assert undelivered == {"alpha": 4, "beta": 0, "other": 0, "(none)": 0}
    states = {
        dict(key[1:])["state"]: v
        for key, v in samples.items()
        if key[0] == "tracker_group_messages" and ("group", "alpha") in key
    }
    assert states == {"deliver": 4, "not_deliver": 4, "registered": 4}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: its identifiers less label matchers,
    grouping lists, ranges, strings, functions and keywords."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    names = {
        m[1] for m in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\(?)", expr) if not m[2]
    }  # an identifier followed by "(" is a function
    return names - WORDS


def test_the_metric_names_are_read_from_rule_expressions():
    expr = 'max by (group) (rate(a_total{x="b{c}"}[5m])) / on(y) b_seconds > 0.5 and c'
    assert metric_names(expr) == {"a_total", "b_seconds", "c"}


def test_every_example_alert_reads_metrics_the_tracker_exposes(charted_server):  # noqa: F811
    exposed = {key[0] for key in scrape(charted_server)}
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"]: r for group in rules["groups"] for r in group["rules"]}
    assert set(alerts) == {"TrackerSenderDeliveryRateLow", "TrackerOverdueMessages"}
    for name, rule in alerts.items():
        used = metric_names(rule["expr"])
        assert used, name
        assert used <= exposed, f"{name} reads {used - exposed}, which /metrics does not expose"
        assert rule["expr"].count("(") == rule["expr"].count(")"), name
    assert alerts["TrackerSenderDeliveryRateLow"]["for"] == "15m"
    assert metric_names(alerts["TrackerOverdueMessages"]["expr"]) == {"tracker_overdue_messages"}
    assert "tracker_group_outcomes_total" in metric_names(
        alerts["TrackerSenderDeliveryRateLow"]["expr"]
    )


def test_views_made_before_the_breakdowns_leave_the_group_figures_out(old_views_server):  # noqa: F811
    samples = scrape(old_views_server)  # answered, with every other figure
    assert ("tracker_overdue_messages",) in samples
    assert not [key for key in samples if key[0].startswith("tracker_group_")]
