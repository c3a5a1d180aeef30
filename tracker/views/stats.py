"""The views' summary reads (GET /stats, the gauges): counts by state, overdue, conflicts and
delivery percentiles; mixed into ``ViewStore``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from tracker.views.tables import MessageFilter, ViewTables


class StatsReads:
    """Counts over the views, mixed into ``ViewStore``."""

    tables: ViewTables

    def count_overdue(self, before: datetime) -> int:
        """How many messages are not final and were first received before ``before``."""
        where, params = self.tables.message_conditions(
            MessageFilter(overdue=True, overdue_before=before)
        )
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT COUNT(*) AS n FROM {self.tables.table('messages')} "
                f"WHERE {' AND '.join(where)}",
                params,
            )
            return cursor.fetchone()["n"]

    def state_counts(self) -> list[tuple[str, bool, int]]:
        """(state, final, messages) for every state someone is in; state '' is none known."""
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT state, final, messages FROM {self.tables.table('state_counts')} "
                "ORDER BY state, final"
            )
            return [(r["state"], bool(r["final"]), r["messages"]) for r in cursor.fetchall()]

    def conflicts(self) -> int:
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                f"SELECT COUNT(*) AS n FROM {self.tables.table('messages')} WHERE conflict = 1"
            )
            return cursor.fetchone()["n"]

    def delivery_percentiles(
        self, quantiles: Sequence[float], days: int
    ) -> tuple[tuple[int, list[float]], list[tuple[str, int, list[float]]]]:
        """Nearest-rank percentiles of delivery seconds: overall, and for each of the last
        ``days`` days that had deliveries (UTC), each as (count, [value per quantile])."""
        table, p = self.tables.table("delivery_times"), self.tables.placeholder
        with self.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]

            def ranked(where: str, params: tuple, n: int) -> list[float]:
                values = []
                for q in quantiles:
                    cursor.execute(
                        f"SELECT seconds FROM {table} {where} ORDER BY seconds LIMIT 1 OFFSET {p}",
                        (*params, max(0, math.ceil(q * n) - 1)),
                    )
                    values.append(cursor.fetchone()["seconds"])
                return values

            cursor.execute(
                f"SELECT day, COUNT(*) AS n FROM {table} GROUP BY day ORDER BY day DESC LIMIT {p}",
                (days,),
            )
            per_day = [(r["day"], r["n"]) for r in cursor.fetchall()]
            cursor.execute(f"SELECT COUNT(*) AS n FROM {table}")
            total = cursor.fetchone()["n"]
            overall = (total, ranked("", (), total) if total else [])
            daily = [(day, n, ranked(f"WHERE day = {p}", (day,), n)) for day, n in per_day[::-1]]
        return overall, daily
