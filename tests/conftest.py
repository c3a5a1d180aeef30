"""Shared fixtures: stores to test against (SQLite files, the local PostgreSQL) and samples."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import IN_CI, create_schema, drop_schema, server_url
from tracker.application import Tracker
from tracker.bootstrap import open_tracker
from tracker.config import Settings

POSTGRES_URL = os.environ.get(
    "TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session", autouse=True)
def no_tracker_folder_left_in_the_temporary_directory() -> Iterator[None]:
    """The processes the tests start (servers, their writers and projectors, the CLI) get a
    temporary directory of the session's own (TMPDIR), so that other runs on the machine cannot
    blur the check: once the last server has stopped, no ``tracker-*`` folder (a writer's socket
    directory) is left in it."""
    folder = Path(tempfile.mkdtemp(prefix="pytest-children-"))
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    try:
        yield
    finally:
        if before is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = before
        deadline = time.monotonic() + 10  # a writer orphaned by a killed server, still exiting
        while (left := sorted(p.name for p in folder.glob("tracker-*"))) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.2)
        shutil.rmtree(folder, ignore_errors=True)
        assert not left, f"the tests' processes left {left} in the temporary directory"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL, after checking the server answers (a skip with the reason if not)."""
    try:
        with psycopg.connect(server_url(POSTGRES_URL), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        reason = (
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({str(e).strip().splitlines()[0]}); "
            "start it or set TRACKER_TEST_POSTGRES_URL to run the PostgreSQL tests"
        )
        if IN_CI:
            pytest.fail(f"CI=true: the PostgreSQL tests must run, but {reason}")
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A database URL on a fresh schema of its own, dropped after the test."""
    url = create_schema(postgres_server)
    try:
        yield url
    finally:
        drop_schema(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tracker.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once on a SQLite file and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(name)


@pytest.fixture
def tracker(database_url: str) -> Iterator[Tracker]:
    app = open_tracker(Settings(database_url=database_url, lock_timeout=2))
    try:
        yield app
    finally:
        app.close()
