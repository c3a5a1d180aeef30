"""The breakdown views: messages by sender, campaign and channel, sending day and state, and
their delivery times as log-bucketed histograms; their SQL, upkeep and reads.

``breakdown`` (dimension, value, day, state, final, messages) and ``breakdown_times``
(dimension, value, day, bucket, messages) count every message once per dimension (sender,
campaign, channel: "" when not given). The live projector adds each page's deltas in the page's
transaction (projector.apply_facts computes them from each touched row's keys before and after,
projection.breakdown_keys); a rebuild counts them from the messages view at its end (its
``day`` and ``delivery_bucket`` columns). Views made before these tables existed get them empty
and marked incomplete (``INCOMPLETE_KEY``) until `tracker rebuild` builds them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from tracker.views.projection import DIMENSIONS, NO_STATE
from tracker.views.tables import ViewTables

# The tracking row present while the live breakdown views are incomplete (views made before
# them, with a position > 0); a rebuild's swap deletes it.
INCOMPLETE_KEY = "tracker.views.breakdown_incomplete"
STATE_KEY = ("dimension", "value", "day", "state", "final")
TIME_KEY = ("dimension", "value", "day", "bucket")


def create_statements(tables: ViewTables, suffix: str) -> list[str]:
    b, t = tables.table("breakdown" + suffix), tables.table("breakdown_times" + suffix)
    return [
        f"CREATE TABLE IF NOT EXISTS {b} (dimension TEXT NOT NULL, value TEXT NOT NULL, "
        "day TEXT NOT NULL, state TEXT NOT NULL, final INTEGER NOT NULL, "
        f"messages INTEGER NOT NULL, PRIMARY KEY ({', '.join(STATE_KEY)}))",
        f"CREATE TABLE IF NOT EXISTS {t} (dimension TEXT NOT NULL, value TEXT NOT NULL, "
        "day TEXT NOT NULL, bucket INTEGER NOT NULL, messages INTEGER NOT NULL, "
        f"PRIMARY KEY ({', '.join(TIME_KEY)}))",
    ]


def index_statements(tables: ViewTables) -> list[str]:
    """By dimension and day: a date range over every value of a dimension."""
    return [
        f"CREATE INDEX IF NOT EXISTS breakdown_day ON {tables.table('breakdown')} (dimension, day)",
        f"CREATE INDEX IF NOT EXISTS breakdown_times_day ON {tables.table('breakdown_times')} "
        "(dimension, day)",
    ]


def _add_statement(tables: ViewTables, table: str, key: Sequence[str]) -> str:
    p, name = tables.placeholder, tables.table(table)
    marks = ", ".join([p] * (len(key) + 1))
    return (
        f"INSERT INTO {name} ({', '.join(key)}, messages) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET messages = {name}.messages + "
        "excluded.messages"
    )


def write_deltas(tables: ViewTables, cursor: Any, suffix: str, deltas: Counter[tuple]) -> None:
    """Add a page's deltas (``projection.breakdown_keys`` -> change in messages), in the
    caller's transaction. A key nobody is in any more keeps its row with 0 messages (a DELETE
    of them per page saved): every read, and the checksums, skip such rows,
    so the views equal a rebuild's, which has none; keys are few (value, day, state or
    bucket), so they do not pile up."""
    states = sorted((*k[:4], int(k[4]), n) for k, n in deltas.items() if n and len(k) == 5)
    times = sorted((*k, n) for k, n in deltas.items() if n and len(k) == 4)
    for table, key, values in (
        ("breakdown" + suffix, STATE_KEY, states),
        ("breakdown_times" + suffix, TIME_KEY, times),
    ):
        if values:
            cursor.executemany(_add_statement(tables, table, key), values)


def recount(tables: ViewTables, cursor: Any, suffix: str) -> None:
    """Both tables counted afresh from the messages view (a rebuild's last write)."""
    m = tables.table("messages" + suffix)
    b, t = tables.table("breakdown" + suffix), tables.table("breakdown_times" + suffix)
    cursor.execute(f"DELETE FROM {b}")
    cursor.execute(f"DELETE FROM {t}")
    for dimension in DIMENSIONS:
        cursor.execute(
            f"INSERT INTO {b} ({', '.join(STATE_KEY)}, messages) "
            f"SELECT '{dimension}', COALESCE({dimension}, ''), day, "
            f"COALESCE(state, '{NO_STATE}'), final, COUNT(*) FROM {m} GROUP BY 2, 3, 4, 5"
        )
        cursor.execute(
            f"INSERT INTO {t} ({', '.join(TIME_KEY)}, messages) "
            f"SELECT '{dimension}', COALESCE({dimension}, ''), day, delivery_bucket, COUNT(*) "
            f"FROM {m} WHERE delivery_bucket IS NOT NULL GROUP BY 2, 3, 4"
        )


def _range(tables: ViewTables, day_from: str | None, day_to: str | None) -> tuple[str, list]:
    p = tables.placeholder
    where, params = "", []
    if day_from is not None:
        where, params = f"{where} AND day >= {p}", [*params, day_from]
    if day_to is not None:
        where, params = f"{where} AND day <= {p}", [*params, day_to]
    return where, params


class BreakdownReads:
    """The breakdown views' reads, mixed into ``ViewStore``."""

    tables: ViewTables

    def breakdown_complete(self) -> bool:
        """False while the live breakdowns lack what was projected before they existed."""
        return not self.max_tracking_id(INCOMPLETE_KEY)  # type: ignore[attr-defined]

    def breakdown_states(
        self, dimension: str, day_from: str | None = None, day_to: str | None = None
    ) -> list[tuple[str, str, str, bool, int]]:
        """(value, day, state, final, messages) of one dimension, days from/to inclusive."""
        where, params = _range(self.tables, day_from, day_to)
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT value, day, state, final, messages FROM "
                f"{self.tables.table('breakdown')} WHERE dimension = {self.tables.placeholder}"
                f" AND messages <> 0{where}",
                [dimension, *params],
            )
            return [
                (r["value"], r["day"], r["state"], bool(r["final"]), r["messages"])
                for r in cursor.fetchall()
            ]

    def breakdown_buckets(
        self,
        dimension: str,
        day_from: str | None = None,
        day_to: str | None = None,
        *,
        by_day: bool = False,
    ) -> list[tuple[str, int, int]]:
        """(value, bucket, messages) of one dimension over the days from/to inclusive, summed
        over the days (``by_day``: (day, bucket, messages), summed over the values)."""
        where, params = _range(self.tables, day_from, day_to)
        key = "day" if by_day else "value"
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT {key} AS k, bucket, SUM(messages) AS n FROM "
                f"{self.tables.table('breakdown_times')} WHERE dimension = "
                f"{self.tables.placeholder} AND messages <> 0{where} GROUP BY {key}, bucket",
                [dimension, *params],
            )
            return [(r["k"], r["bucket"], int(r["n"])) for r in cursor.fetchall()]
