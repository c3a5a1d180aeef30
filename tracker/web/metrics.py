"""Prometheus metrics: what the webhook and POST /messages/sent received and stored, the views'
lag, overdue messages, the audit tree and its last verification, the outbound webhooks'
deliveries.

Request counts and latencies come from Litestar's Prometheus middleware; these add what only
the tracker knows. With several worker processes, set PROMETHEUS_MULTIPROC_DIR (see
prometheus_client) so that /metrics adds up every worker.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from tracker.application import Receipt
from tracker.audit.tree import FAILED, TREE, VERIFIED, Head
from tracker.forwarding.status import ForwardingStatus

REPORTS = Counter(
    "tracker_reports_total",
    "Reports received on the webhook, by what they did (duplicate: an exact repeat)",
    ["outcome"],
)
REGISTRATIONS = Counter(
    "tracker_registrations_total",
    "Registrations received (POST /messages/sent), by what they did (registered, conflict, "
    "rejected; duplicate: the same registration again)",
    ["outcome"],
)
ACKNOWLEDGED = Counter("tracker_acknowledged_ids_total", "id_sms acknowledged to the platform")
QUARANTINED = Counter(
    "tracker_quarantined_total", "Input quarantined because it named no message", ["kind"]
)
LAG = Gauge("tracker_projection_lag_events", "Events stored but not yet in the views")
POSITION = Gauge("tracker_projection_position", "Last event notification the views include")
OVERDUE = Gauge(
    "tracker_overdue_messages",
    "Messages not final TRACKER_OVERDUE_AFTER after their first receipt (a report or a "
    "registration; the tracker's receipt clock), counted from the views at each scrape",
)
AUDIT_TREE = Gauge(
    "tracker_audit_tree_events", "Events the audit tree covers (its follower is a moment behind)"
)
AUDIT_VERIFIED = Gauge(
    "tracker_audit_verified_events",
    "Events the last sound `tracker verify` hashed again and found as recorded (0: none yet)",
)
AUDIT_FAILED = Gauge(
    "tracker_audit_verify_failed",
    "1 when the last `tracker verify` found the stored history changed (until one is sound)",
)
AUDIT_VERIFIED_AT = Gauge(
    "tracker_audit_verified_timestamp_seconds",
    "When the last sound `tracker verify` finished, in Unix seconds (0: none yet)",
)

# Outbound webhooks, by endpoint: its place in TRACKER_FORWARD_URL (1, 2, ...), a bounded label
# that names no host; tracker_forward_endpoint_info maps it to the endpoint as shown (no
# credentials). Counts are the forwarding table's, kept across restarts, read at each scrape.
FORWARD_INFO = Gauge(
    "tracker_forward_endpoint_info", "A forwarding endpoint (1) and its URL, credentials hidden",
    ["endpoint", "url"],
)  # fmt: skip
FORWARD_BEHIND = Gauge(
    "tracker_forward_behind_positions",
    "The change feed's head minus the position delivered to the endpoint (0: caught up)",
    ["endpoint"],
)
FORWARD_ATTEMPTS = Gauge(
    "tracker_forward_attempts_total", "POSTs of change batches to the endpoint", ["endpoint"]
)
FORWARD_FAILURES = Gauge(
    "tracker_forward_failures_total",
    "POSTs to the endpoint that got no 2xx (each retried until one comes)",
    ["endpoint"],
)
FORWARD_FAILING = Gauge(
    "tracker_forward_failing", "Failures in a row since the endpoint's last delivery", ["endpoint"]
)

REQUEST_LOG_DROPPED = Counter(
    "tracker_request_log_dropped_total",
    "Request log records that lost their body (body) or were not kept (record) because its "
    "queue was full: its store slow, locked or down",
    ["what"],
)


def count_request_log_dropped(what: str) -> None:
    REQUEST_LOG_DROPPED.labels(what).inc()


def count_receipt(receipt: Receipt, acknowledged: int, *, registrations: bool = False) -> None:
    """A webhook request's receipt, or with ``registrations`` a registration request's."""
    counter, outcomes = (
        (REGISTRATIONS, receipt.registrations) if registrations else (REPORTS, receipt.outcomes)
    )
    for outcome, n in outcomes.items():
        counter.labels(outcome).inc(n)
    if receipt.duplicates:
        counter.labels("duplicate").inc(receipt.duplicates)
    if receipt.quarantined:
        QUARANTINED.labels("item").inc(receipt.quarantined)
    ACKNOWLEDGED.inc(acknowledged)


def count_quarantined_body() -> None:
    QUARANTINED.labels("body").inc()


def set_lag(position: int, head: int) -> None:
    POSITION.set(position)
    LAG.set(max(0, head - position))


def set_overdue(messages: int) -> None:
    OVERDUE.set(messages)


def set_audit(heads: dict[str, Head]) -> None:
    """From the audit tree's heads by name (``AuditTree.heads``)."""
    tree, verified = heads.get(TREE), heads.get(VERIFIED)
    AUDIT_FAILED.set(1 if FAILED in heads else 0)
    AUDIT_TREE.set(tree.size if tree else 0)
    AUDIT_VERIFIED.set(verified.size if verified else 0)
    AUDIT_VERIFIED_AT.set(verified.at.timestamp() if verified and verified.at else 0)


def set_forwarding(status: ForwardingStatus) -> None:
    for e in status.endpoints:
        label = str(e.index)
        FORWARD_INFO.labels(label, e.endpoint).set(1)
        FORWARD_BEHIND.labels(label).set(e.behind)
        FORWARD_ATTEMPTS.labels(label).set(e.attempts)
        FORWARD_FAILURES.labels(label).set(e.failures)
        FORWARD_FAILING.labels(label).set(e.failing)
