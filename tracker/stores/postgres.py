"""The production store: eventsourcing's PostgreSQL recorder, made to fail promptly.

The library retries every read and write up to ten times on any OperationalError, so a 5 s lock
timeout turns into a minute-long request, and its reads have no lock timeout at all. The platform
times out long before that, and it re-sends what we do not acknowledge anyway, so here a request
fails fast (503) instead: each session carries a lock and a statement timeout, and only errors
that did not already wait (a connection dropped by the server) are retried, twice at most.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import psycopg.errors
import psycopg_pool
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from eventsourcing.utils import Environment, EnvType

F = TypeVar("F", bound=Callable[..., Any])
STATEMENT_TIMEOUT_SECONDS = 60  # no single statement of ours runs anywhere near this long

# Errors that mean the store already waited its full timeout: retrying would only double it.
_ALREADY_WAITED = (
    psycopg.errors.LockNotAvailable,
    psycopg.errors.QueryCanceled,
    psycopg_pool.PoolTimeout,
)


def _prompt(method: F, attempts: int = 3) -> F:
    """``method`` without the library's retry loop, retried only for errors that did not wait."""
    plain = getattr(method, "__wrapped__", method)

    @wraps(plain)
    def call(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, attempts + 1):
            try:
                return plain(*args, **kwargs)
            except (InterfaceError, OperationalError) as e:
                if attempt == attempts or isinstance(e.__cause__, _ALREADY_WAITED):
                    raise
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    return call  # type: ignore[return-value]


class PromptPostgresApplicationRecorder(PostgresApplicationRecorder):
    insert_events = _prompt(PostgresApplicationRecorder.insert_events)
    select_events = _prompt(PostgresAggregateRecorder.select_events)
    select_notifications = _prompt(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _prompt(PostgresApplicationRecorder.max_notification_id)


class PromptPostgresFactory(PostgresFactory):
    """PostgresFactory whose sessions time out on locks and statements and fail promptly."""

    application_recorder_class = PromptPostgresApplicationRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        lock_timeout_ms = self.datastore.lock_timeout * 1000
        self.datastore.pool.kwargs["options"] = (
            f"-c lock_timeout={lock_timeout_ms} "
            f"-c statement_timeout={STATEMENT_TIMEOUT_SECONDS * 1000}"
        )
