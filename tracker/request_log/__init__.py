"""The request log: every POST to the webhook as it came, and its answer (docs/webhook.md)."""

from tracker.request_log.records import (
    BODY_DROPPED_QUEUE,
    BODY_DROPPED_RETENTION,
    TRUNCATED,
    Record,
    RequestFilter,
    RequestStore,
)
from tracker.request_log.writer import RequestLog

__all__ = [
    "BODY_DROPPED_QUEUE",
    "BODY_DROPPED_RETENTION",
    "TRUNCATED",
    "Record",
    "RequestFilter",
    "RequestLog",
    "RequestStore",
]
