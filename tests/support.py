"""Helpers shared by the tests: recorded sample payloads and throwaway PostgreSQL schemas."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

SAMPLES = Path(__file__).parent / "samples"
# Under CI every test must run: what would skip on a user's machine fails there instead.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def sample(name: str) -> bytes:
    """A recorded request body from tests/samples/."""
    return (SAMPLES / name).read_bytes()


def server_url(database_url: str) -> str:
    """The PostgreSQL server part of a database URL (without ?schema=...)."""
    return database_url.split("?", 1)[0]


def create_schema(server: str, prefix: str = "tracker_test") -> str:
    """A fresh, empty schema on the server; returns a database URL that uses it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{server}?schema={schema}"


def drop_schema(database_url: str) -> None:
    schema = database_url.rsplit("schema=", 1)[1]
    with psycopg.connect(server_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def drop_role(admin: psycopg.Connection, role: str) -> None:
    """Drop a login role once its sessions are gone: a session's temporary tables (the
    writer's and the projector's staging tables) belong to it until the session has ended."""
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                  [role])  # fmt: skip
    deadline = time.monotonic() + 30
    while admin.execute("SELECT 1 FROM pg_stat_activity WHERE usename = %s", [role]).fetchone():
        if time.monotonic() > deadline:
            raise TimeoutError(f"sessions of {role} still open after 30 s")
        time.sleep(0.05)
    admin.execute(f'DROP OWNED BY "{role}"')
    admin.execute(f'DROP ROLE "{role}"')


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``tracker ARGS`` as a user would, on the given store."""
    env = {**os.environ, "TRACKER_DATABASE_URL": database_url, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "tracker", *args], env=env, capture_output=True, text=True
    )


def hold_commits(tracker) -> threading.Event:
    """Commits wait (up to 5 s) until the event returned is set: the first transaction stays
    open while later batches queue up."""
    release = threading.Event()
    record_batches = tracker.record_batches

    def slow_commit(batches):
        release.wait(5)
        return record_batches(batches)

    tracker.record_batches = slow_commit
    return release
