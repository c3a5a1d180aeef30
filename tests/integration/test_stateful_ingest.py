"""Random webhook traffic against a real store, checked against the pure fold after every step.

The machine posts batches (new ids, repeats, out-of-order times, unknown states, bad ids) through
the same path as the webhook (read the body, record it, build the answer) and keeps, as its
model, every report it saw acknowledged and how many times. After each step: every message's
state equals the fold of its acknowledged reports, its history holds each of them exactly once,
and says how many times each was received.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter, defaultdict

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.support import create_schema, drop_schema
from tracker.application import Tracker
from tracker.bootstrap import open_tracker
from tracker.config import Settings
from tracker.domain.ids import message_number
from tracker.domain.status import Report, fold
from tracker.domain.timestamps import parse_time, zone
from tracker.read import queries
from tracker.web.intake import read_body

MOSCOW = zone("Europe/Moscow")
IDS = list(range(1, 7))
TIMES = ["", "garbage", "2011-01-01 12:00:00", "2011-01-01 12:00:30", "2011-01-01 12:01:00"]
STATES = ["send", "partly_deliver", "deliver", "read", "not_deliver", "expired", "bogus", ""]

good_ids = st.sampled_from(IDS).flatmap(lambda n: st.sampled_from([n, str(n), f"00{n}"]))
bad_ids = st.sampled_from([True, -3, "x7", 2.5, None, 2**64])
items = st.fixed_dictionaries(
    {"id_sms": st.one_of(good_ids, good_ids, good_ids, bad_ids)},
    optional={"time": st.sampled_from(TIMES), "state": st.sampled_from(STATES)},
)


class IngestMachine(RuleBasedStateMachine):
    """One fresh store per run: subclasses say how to open and drop one."""

    def open_store(self) -> str:
        raise NotImplementedError

    def close_store(self, url: str) -> None:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.url = self.open_store()
        self.tracker: Tracker = open_tracker(Settings(database_url=self.url))
        self.acknowledged: dict[int, set[tuple[str, str]]] = defaultdict(set)
        self.deliveries: Counter[tuple[int, tuple[str, str]]] = Counter()
        self.last_body: bytes | None = None

    def teardown(self) -> None:
        self.tracker.close()
        self.close_store(self.url)

    def post(self, body: bytes) -> None:
        intake = read_body(body)
        receipt = self.tracker.record(intake.statuses, intake.unusable)
        answer = intake.acknowledgement(receipt.stored)
        sent = msgspec.json.decode(body)
        usable = [i for i in sent if message_number(i.get("id_sms")) is not None]
        # Every usable id is acknowledged, once per JSON spelling, and nothing else is.
        assert answer == [{"id_sms": token} for token in dict.fromkeys(i["id_sms"] for i in usable)]
        for item in usable:
            key = (item.get("state", ""), item.get("time", ""))
            self.acknowledged[message_number(item["id_sms"])].add(key)
            self.deliveries[(message_number(item["id_sms"]), key)] += 1
        self.last_body = body

    @rule(batch=st.lists(items, max_size=15))
    def post_a_batch(self, batch):
        self.post(msgspec.json.encode(batch))

    @precondition(lambda self: self.last_body is not None)
    @rule()
    def post_the_same_batch_again(self):
        self.post(self.last_body)

    @invariant()
    def every_state_is_the_fold_of_the_acknowledged_reports(self):
        for id_sms, held in self.acknowledged.items():
            message = self.tracker.message(id_sms)
            expected = fold(Report(s, t, parse_time(t, MOSCOW)) for s, t in held)
            assert message.current == expected
            assert len(message.identities) == len(held)  # the distinct reports it holds

    @invariant()
    def every_acknowledged_report_is_in_the_history_exactly_once(self):
        for id_sms, held in self.acknowledged.items():
            history = [(e.event.state, e.event.time) for e in self.tracker.history(id_sms)]
            assert sorted(history) == sorted(held)

    @invariant()
    def every_delivery_of_a_report_is_counted_in_its_history(self):
        for id_sms in self.acknowledged:
            history = queries.history(self.tracker, id_sms, limit=None)
            counted = {(id_sms, (r.state, r.time)): r.deliveries for r in history.reports}
            assert counted == {k: n for k, n in self.deliveries.items() if k[0] == id_sms}


class SQLiteIngest(IngestMachine):
    def open_store(self) -> str:
        return f"sqlite:///{tempfile.mkdtemp(prefix='tracker-stateful-')}/tracker.db"

    def close_store(self, url: str) -> None:
        shutil.rmtree(url.removeprefix("sqlite:///").rsplit("/", 1)[0], ignore_errors=True)


def test_random_traffic_on_sqlite_matches_the_fold():
    run_state_machine_as_test(
        SQLiteIngest, settings=settings(max_examples=40, stateful_step_count=12, deadline=None)
    )


@pytest.mark.postgres
def test_random_traffic_on_postgres_matches_the_fold(postgres_server):
    class PostgresIngest(IngestMachine):
        def open_store(self) -> str:
            return create_schema(postgres_server)

        def close_store(self, url: str) -> None:
            drop_schema(url)

    run_state_machine_as_test(
        PostgresIngest,
        settings=settings(
            max_examples=15,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
