"""The library's own contract tests for stores, run against our recorders and factories.

eventsourcing ships abstract test cases (``eventsourcing.tests.persistence``) that say what a
recorder or an infrastructure factory must do; each class of ours is subclassed into the
matching one here, on a real SQLite file and on the real PostgreSQL (a schema of its own per
test, dropped after). The classes under test are named once, in the block below: a store that
is rewritten is re-pointed there. ``make test-library-newest`` runs this module against the
newest eventsourcing release the package registry offers.

The library's timing tests (``test_performance``, ``test_concurrent_throughput``) only print
rates, which depend on the machine: they are skipped here (speed is measured in bench/).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteProcessRecorder,
    SQLiteTrackingRecorder,
)
from eventsourcing.tests import persistence as contract
from eventsourcing.utils import Environment, get_topic

from tracker.stores.postgres.events import PromptPostgresApplicationRecorder, PromptPostgresFactory
from tracker.stores.postgres.views import PostgresViews
from tracker.stores.sqlite.events import DurableSQLiteFactory, ManyAtOnceSQLiteRecorder
from tracker.stores.sqlite.views import SQLiteViews, views_datastore

# ---- The classes under test: the only place that names them. ----------------------------------
# Ours: each factory, the application recorder it builds, and the views' tracking recorder.
SQLITE_FACTORY = DurableSQLiteFactory
SQLITE_APPLICATION_RECORDER = ManyAtOnceSQLiteRecorder
SQLITE_VIEWS = SQLiteViews
SQLITE_VIEWS_DATASTORE = views_datastore  # the views' own file and pool, beside the events
POSTGRES_FACTORY = PromptPostgresFactory
POSTGRES_APPLICATION_RECORDER = PromptPostgresApplicationRecorder
POSTGRES_VIEWS = PostgresViews
# The library's, which our factories build unchanged (on our connections): what the factory
# contract expects them to return, and the process recorders run through their contract too.
SQLITE_AGGREGATE_RECORDER = SQLiteAggregateRecorder
SQLITE_TRACKING_RECORDER = SQLiteTrackingRecorder
SQLITE_PROCESS_RECORDER = SQLiteProcessRecorder
POSTGRES_AGGREGATE_RECORDER = PostgresAggregateRecorder
POSTGRES_TRACKING_RECORDER = PostgresTrackingRecorder
POSTGRES_PROCESS_RECORDER = PostgresProcessRecorder
# ------------------------------------------------------------------------------------------------

TIMING = "it only prints a rate, which depends on the machine: speed is measured in bench/"
LOCK_TIMEOUT = "5"  # seconds: a lock wait that long in these tests is a bug, not a slow machine


class NoTimings:
    """Skips the library's timing tests (mixed in before the library's test case)."""

    @pytest.mark.skip(reason=TIMING)
    def test_performance(self) -> None: ...

    @pytest.mark.skip(reason=TIMING)
    def test_concurrent_throughput(self) -> None: ...


class OnSQLite:
    """A SQLite file of the test's own, and our SQLite factory's settings for it."""

    env: Environment

    @pytest.fixture(autouse=True)
    def _sqlite_file(self, tmp_path: Path) -> None:
        self.env = Environment(
            "TestCase",
            {
                "PERSISTENCE_MODULE": get_topic(SQLITE_FACTORY),
                "SQLITE_DBNAME": str(tmp_path / "contract.db"),
                "SQLITE_LOCK_TIMEOUT": LOCK_TIMEOUT,
            },
        )


@pytest.mark.postgres
class OnPostgres:
    """A PostgreSQL schema of the test's own (dropped after it), and our PostgreSQL factory's
    settings for it. Skipped with the reason when the server is unreachable, never under CI."""

    env: Environment

    @pytest.fixture(autouse=True)
    def _postgres_schema(self, postgres_url: str) -> None:
        parts = urlsplit(postgres_url)
        self.env = Environment(
            "TestCase",
            {
                "PERSISTENCE_MODULE": get_topic(POSTGRES_FACTORY),
                "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")),
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": unquote(parts.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parts.password or ""),
                "POSTGRES_SCHEMA": parse_qs(parts.query)["schema"][-1],
                "POSTGRES_CONNECT_TIMEOUT": "3",
                "POSTGRES_LOCK_TIMEOUT": LOCK_TIMEOUT,
            },
        )


class FactoryBuilt:
    """Recorders built as the application builds them: by the factory from the environment,
    each closed with its factory after the test."""

    env: Environment
    addCleanup: Any

    def factory(self, **settings: str) -> InfrastructureFactory[Any]:
        env = Environment(self.env.name, {**self.env, **settings})
        factory = InfrastructureFactory.construct(env)
        self.addCleanup(_close_after_threads, factory, set(threading.enumerate()))
        return factory

    def application_recorder(self, recorder_class: type) -> Any:
        recorder = self.factory(
            APPLICATION_RECORDER_TOPIC=get_topic(recorder_class)
        ).application_recorder()
        assert type(recorder) is recorder_class
        return recorder

    def tracking_recorder(self, recorder_class: type) -> Any:
        recorder = self.factory().tracking_recorder(recorder_class)
        assert type(recorder) is recorder_class
        return recorder

    def process_recorder(self, recorder_class: type) -> Any:
        recorder = self.factory(PROCESS_RECORDER_TOPIC=get_topic(recorder_class)).process_recorder()
        assert type(recorder) is recorder_class
        return recorder


def _close_after_threads(
    factory: InfrastructureFactory[Any], before: set[threading.Thread]
) -> None:
    """Close the factory once the threads the test started have ended. The library's
    ``test_concurrent_no_conflicts`` tells its readers to stop but returns without joining
    them; closing a SQLite connection while one of them still reads on it crashes the
    interpreter (a segmentation fault in the sqlite3 module, seen here)."""
    for thread in set(threading.enumerate()) - before:
        if not thread.daemon:
            thread.join(timeout=10)
    factory.close()


# ---- SQLite -------------------------------------------------------------------------------------


class TestSQLiteApplicationRecorder(
    OnSQLite, FactoryBuilt, NoTimings, contract.ApplicationRecorderTestCase
):
    def create_recorder(self) -> Any:
        return self.application_recorder(SQLITE_APPLICATION_RECORDER)


class TestSQLiteNotificationIdsDoNotInterleave(
    OnSQLite, FactoryBuilt, contract.NonInterleavingNotificationIDsBaseCase
):
    def create_recorder(self) -> Any:
        return self.application_recorder(SQLITE_APPLICATION_RECORDER)


class TestSQLiteViewsTracking(OnSQLite, FactoryBuilt, contract.TrackingRecorderTestCase):
    def create_recorder(self) -> Any:
        """The views as the tracker opens them on SQLite: in their own file beside the events,
        on its own pool (the factory's path is the factory test's)."""
        datastore = SQLITE_VIEWS_DATASTORE(self.factory().datastore)
        self.addCleanup(datastore.close)
        recorder = SQLITE_VIEWS(datastore)
        recorder.create_table()
        return recorder


class TestSQLiteProcessRecorder(
    OnSQLite, FactoryBuilt, NoTimings, contract.ProcessRecorderTestCase
):
    def create_recorder(self) -> Any:
        return self.process_recorder(SQLITE_PROCESS_RECORDER)


class TestSQLiteFactory(OnSQLite, contract.InfrastructureFactoryTestCase):
    def expected_factory_class(self) -> type:
        return SQLITE_FACTORY

    def expected_aggregate_recorder_class(self) -> type:
        return SQLITE_AGGREGATE_RECORDER

    def expected_application_recorder_class(self) -> type:
        return SQLITE_APPLICATION_RECORDER

    def expected_tracking_recorder_class(self) -> type:
        return SQLITE_TRACKING_RECORDER

    def tracking_recorder_subclass(self) -> type:
        return SQLITE_VIEWS

    def expected_process_recorder_class(self) -> type:
        return SQLITE_PROCESS_RECORDER


# ---- PostgreSQL ---------------------------------------------------------------------------------


class TestPostgresApplicationRecorder(
    OnPostgres, FactoryBuilt, NoTimings, contract.ApplicationRecorderTestCase
):
    def create_recorder(self) -> Any:
        return self.application_recorder(POSTGRES_APPLICATION_RECORDER)

    def test_insert_subscribe(self) -> None:
        """The subscription (LISTEN/NOTIFY) sees what the recorder inserts."""
        self.optional_test_insert_subscribe()


class TestPostgresNotificationIdsDoNotInterleave(
    OnPostgres, FactoryBuilt, contract.NonInterleavingNotificationIDsBaseCase
):
    def create_recorder(self) -> Any:
        return self.application_recorder(POSTGRES_APPLICATION_RECORDER)


class TestPostgresViewsTracking(OnPostgres, FactoryBuilt, contract.TrackingRecorderTestCase):
    def create_recorder(self) -> Any:
        return self.tracking_recorder(POSTGRES_VIEWS)


class TestPostgresProcessRecorder(
    OnPostgres, FactoryBuilt, NoTimings, contract.ProcessRecorderTestCase
):
    def create_recorder(self) -> Any:
        return self.process_recorder(POSTGRES_PROCESS_RECORDER)


class TestPostgresFactory(OnPostgres, contract.InfrastructureFactoryTestCase):
    def expected_factory_class(self) -> type:
        return POSTGRES_FACTORY

    def expected_aggregate_recorder_class(self) -> type:
        return POSTGRES_AGGREGATE_RECORDER

    def expected_application_recorder_class(self) -> type:
        return POSTGRES_APPLICATION_RECORDER

    def expected_tracking_recorder_class(self) -> type:
        return POSTGRES_TRACKING_RECORDER

    def tracking_recorder_subclass(self) -> type:
        return POSTGRES_VIEWS

    def expected_process_recorder_class(self) -> type:
        return POSTGRES_PROCESS_RECORDER
