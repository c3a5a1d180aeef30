"""The request log's tables: the SQL both databases share, and a record to a row and back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tracker.request_log.records import (
    BODY_DROPPED_RETENTION,
    Record,
    RequestFilter,
    instant,
    micros,
)

TABLE = "request_log"
IDS_TABLE = "request_log_ids"  # (id_sms, request): which requests carried a message
# Bodies last: a listing reads the columns before them without touching the bodies' pages.
META = (
    "id, received_at, answered_at, sender, token, size, content_type, format, status, "
    "acknowledged, latency_ms, note, replay_of"
)
COLUMNS = META + ", kept, body, answer"


def row_of(record: Record, request_id: int) -> tuple:
    return (
        request_id,
        micros(record.received_at),
        micros(record.answered_at),
        record.sender,
        record.token,
        record.size,
        record.content_type,
        record.format,
        record.status,
        record.acknowledged,
        record.latency_ms,
        record.note,
        record.replay_of,
        record.kept,
        record.body,
        record.answer,
    )


def record_of(row: Sequence[Any], numbers: list[int] | None = None) -> Record:
    body = bytes(row[14]) if len(row) > 14 and row[14] is not None else None
    answer = bytes(row[15]) if len(row) > 15 and row[15] is not None else None
    return Record(
        id=row[0],
        received_at=instant(row[1]),
        answered_at=instant(row[2]),
        sender=row[3],
        token=row[4],
        size=row[5],
        content_type=row[6],
        format=row[7],
        status=row[8],
        acknowledged=row[9],
        latency_ms=row[10],
        note=row[11],
        replay_of=row[12],
        ids=numbers or [],
        body=body,
        answer=answer,
    )


class RequestSQL:
    """The statements, for a placeholder and a table naming of each database."""

    placeholder = "?"

    def table(self, name: str) -> str:
        return name

    def create(self, id_type: str, blob: str, index_only: str = "") -> list[str]:
        t, ids = self.table(TABLE), self.table(IDS_TABLE)
        return [
            f"CREATE TABLE IF NOT EXISTS {t} (id {id_type} PRIMARY KEY, "
            "received_at BIGINT NOT NULL, answered_at BIGINT NOT NULL, sender TEXT NOT NULL, "
            "token TEXT, size BIGINT NOT NULL, content_type TEXT, format TEXT, "
            "status INTEGER NOT NULL, acknowledged INTEGER NOT NULL, latency_ms REAL NOT NULL, "
            f"note TEXT, replay_of BIGINT, kept BIGINT NOT NULL, body {blob}, answer {blob})",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_received ON {t} (received_at)",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_kept ON {t} (id) WHERE kept > 0",
            f"CREATE TABLE IF NOT EXISTS {ids} (id_sms BIGINT NOT NULL, "
            f"request BIGINT NOT NULL, PRIMARY KEY (id_sms, request)){index_only}",
        ]

    def page(self, where: RequestFilter, before: int | None, limit: int) -> tuple[str, list]:
        p, t = self.placeholder, self.table(TABLE)
        clauses, params = [], []
        if before is not None:
            clauses.append(f"id < {p}")
            params.append(before)
        if where.received_from is not None:
            clauses.append(f"received_at >= {p}")
            params.append(micros(where.received_from))
        if where.received_to is not None:
            clauses.append(f"received_at < {p}")
            params.append(micros(where.received_to))
        if where.status is not None:
            clauses.append(f"status = {p}")
            params.append(where.status)
        if where.id_sms is not None:
            clauses.append(
                f"id IN (SELECT request FROM {self.table(IDS_TABLE)} WHERE id_sms = {p})"
            )
            params.append(where.id_sms)
        condition = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        params.append(limit)
        return f"SELECT {META} FROM {t}{condition} ORDER BY id DESC LIMIT {p}", params

    def get(self) -> str:
        return f"SELECT {COLUMNS} FROM {self.table(TABLE)} WHERE id = {self.placeholder}"

    def numbers(self) -> str:
        return (
            f"SELECT id_sms FROM {self.table(IDS_TABLE)} WHERE request = {self.placeholder} "
            "ORDER BY id_sms"
        )

    def numbers_of_page(self, n: int) -> str:
        marks = ", ".join([self.placeholder] * n)
        return f"SELECT request, id_sms FROM {self.table(IDS_TABLE)} WHERE request IN ({marks})"

    def carrying(self) -> str:
        t, ids = self.table(TABLE), self.table(IDS_TABLE)
        return (
            f"SELECT id, received_at, answered_at FROM {t} WHERE id IN "
            f"(SELECT request FROM {ids} WHERE id_sms = {self.placeholder}) ORDER BY id"
        )

    def drop_before(self) -> str:
        """Bodies of the requests received before an instant."""
        return self._drop(f"received_at < {self.placeholder}")

    def drop_through(self) -> str:
        """Bodies of the requests up to an id."""
        return self._drop(f"id <= {self.placeholder}")

    def _drop(self, condition: str) -> str:
        dropped = BODY_DROPPED_RETENTION
        note = f"CASE WHEN note IS NULL THEN '{dropped}' ELSE note || '; {dropped}' END"
        return (
            f"UPDATE {self.table(TABLE)} SET body = NULL, answer = NULL, kept = 0, "
            f"note = {note} WHERE kept > 0 AND {condition}"
        )

    def kept_total(self) -> str:
        return f"SELECT COALESCE(SUM(kept), 0) FROM {self.table(TABLE)} WHERE kept > 0"

    def kept_oldest(self) -> str:
        return (
            f"SELECT id, kept FROM {self.table(TABLE)} WHERE kept > 0 ORDER BY id "
            f"LIMIT {self.placeholder}"
        )


def numbered(rows: Sequence[Sequence[Any]], pairs: Sequence[Sequence[Any]]) -> list[Record]:
    """Records of a page's rows, each with the message numbers the pairs give it."""
    by_request: dict[int, list[int]] = {}
    for request, number in pairs:
        by_request.setdefault(request, []).append(number)
    return [record_of(row, sorted(by_request.get(row[0], []))) for row in rows]


def prune(cursor: Any, sql: RequestSQL, older_than: datetime, max_bytes: int) -> int:
    """Drop the bodies older than ``older_than``, then the oldest until at most ``max_bytes``
    are kept (in the cursor's transaction); how many records lost their bodies."""
    dropped = cursor.execute(sql.drop_before(), [micros(older_than)]).rowcount
    excess = cursor.execute(sql.kept_total()).fetchone()[0] - max_bytes
    while excess > 0:
        rows = cursor.execute(sql.kept_oldest(), [1000]).fetchall()
        if not rows:
            break
        cut = rows[-1][0]
        for request_id, kept in rows:
            excess -= kept
            if excess <= 0:
                cut = request_id
                break
        dropped += cursor.execute(sql.drop_through(), [cut]).rowcount
    return max(dropped, 0)
