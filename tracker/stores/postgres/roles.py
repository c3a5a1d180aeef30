"""An append-only role on a PostgreSQL store: it may add events, never change or remove them."""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION {schema}.tracker_events_are_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stored events are append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA,
        TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS tracker_append_only ON {table};
CREATE TRIGGER tracker_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {schema}.tracker_events_are_append_only();
DROP TRIGGER IF EXISTS tracker_no_truncate ON {table};
CREATE TRIGGER tracker_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.tracker_events_are_append_only();
REVOKE ALL ON {table} FROM {role};
GRANT USAGE, CREATE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT, UPDATE ON {table} TO {role};
"""


def grant_append_only(recorder: PostgresApplicationRecorder, role: str) -> None:
    """Let ``role`` append events and read them, never change or remove them.

    Run as the owner of the events table. The role gets SELECT and INSERT, and UPDATE only
    because the library takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` before each insert, which
    PostgreSQL allows only to holders of UPDATE, DELETE or TRUNCATE; owner-held triggers refuse
    every UPDATE, DELETE and TRUNCATE, whoever runs it, and only the owner can drop them. The
    role creates (and so owns) the view tables itself, in the schema it may create in.
    """
    datastore = recorder.datastore
    schema = sql.Identifier(datastore.schema or "public")
    table = sql.Identifier(datastore.schema or "public", recorder.events_table_name)
    statements = sql.SQL(APPEND_ONLY).format(schema=schema, table=table, role=sql.Identifier(role))
    try:
        _grant(datastore, statements, recorder.events_table_name, role)
        _grant_request_log(datastore, role)
    except psycopg.Error as e:  # no such role, not the tables' owner, ...
        raise PersistenceError(str(e).strip()) from e


def _grant_request_log(datastore: Any, role: str) -> None:
    """The request log's tables, created here by the owner: the role inserts records and
    prunes their bodies (an UPDATE), and never deletes one."""
    from tracker.stores.postgres.requests import SEQUENCE, PostgresRequests
    from tracker.stores.request_tables import IDS_TABLE, TABLE

    PostgresRequests(datastore)  # creates them unless they are there
    schema = datastore.schema or "public"
    tables = sql.SQL(", ").join(sql.Identifier(schema, t) for t in (TABLE, IDS_TABLE))
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(
            tables, sql.Identifier(role)))  # fmt: skip
        cursor.execute(sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(
            sql.Identifier(schema, SEQUENCE), sql.Identifier(role)))  # fmt: skip


def _grant(datastore: Any, statements: sql.Composed, events_table: str, role: str) -> None:
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(statements)
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'notification_id')",
                       (f"{datastore.schema or 'public'}.{events_table}",))  # fmt: skip
        sequence = cursor.fetchone()["pg_get_serial_sequence"]  # type: ignore[index]
        cursor.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
            sql.SQL(sequence), sql.Identifier(role)))  # fmt: skip
