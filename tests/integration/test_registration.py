"""Registrations stored on both stores: through the group commit (sliced like statuses) and the
writer process, in a message's history in their place, proven and verified with the rest of
the log, and loaded from files by `tracker register`."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import run_cli
from tracker.application import Batch, Registering, Status, Unusable
from tracker.audit.digest import digest_of
from tracker.audit.follower import AuditFollower
from tracker.audit.proof import check_proof, prove_message
from tracker.audit.tree import AuditTree
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.events import Registered
from tracker.domain.quarantine import ITEM
from tracker.domain.registration import CONFLICT, REGISTERED, REJECTED, Registration
from tracker.group_commit import GroupCommit
from tracker.read import queries
from tracker.writer_process import WriterClient, WriterService

SENT = datetime(2026, 12, 7, 7, tzinfo=UTC)
ACME = Registration(SENT, "acme", "xmas", "sms", 2)


def registering(id_sms: int, registration: Registration = ACME, raw: str | None = None):
    return Registering(id_sms, registration, raw)


def registered(tracker, *items: Registering, statuses=(), unusable=()):
    return tracker.record_batches(
        [Batch(tuple(statuses), tuple(unusable), registrations=tuple(items))]
    )[0]


def test_the_first_registration_stands_the_same_again_records_nothing_a_different_one_conflicts(
    tracker,
):
    first = registered(tracker, registering(5))
    assert (first.stored, first.registrations, first.duplicates) == ({5}, {REGISTERED: 1}, 0)
    again = registered(tracker, registering(5))
    assert (again.stored, again.registrations, again.duplicates) == ({5}, {}, 1)
    other = Registration(SENT, "beta")
    bad = Registration(reason="parts 0 is not from 1 to 255")
    conflict = registered(tracker, registering(5, other), registering(5, bad, raw='{"parts":0}'))
    assert conflict.registrations == {CONFLICT: 1, REJECTED: 1}
    assert [e.event.outcome for e in tracker.history(5)] == [REGISTERED, CONFLICT, REJECTED]
    assert tracker.message(5).registration == ACME  # replayed from the store: the first stands


def test_the_history_shows_registrations_in_their_place_among_the_reports(tracker):
    registered(tracker, registering(6), statuses=[Status(6, "send", "2026-12-07 10:00:01")])
    registered(tracker, registering(6, Registration(sender="beta")))
    tracker.record([Status(6, "deliver", "2026-12-07 10:00:09")])
    history = queries.history(tracker, 6)
    assert [r.state for r in history.reports] == ["send", "deliver"]
    assert [(g.outcome, g.before) for g in history.registrations] == [
        (REGISTERED, 1),  # after the send of its own batch (statuses are decided first)
        (CONFLICT, 1),
    ]
    assert history.registration.sender == "acme" and history.registration.sent_at == SENT
    first_page = queries.history(tracker, 6, limit=1)
    assert first_page.registrations == []  # theirs is the page of the deliver
    second = queries.history(tracker, 6, cursor=first_page.next)
    assert len(second.registrations) == 2


def test_a_message_only_registered_has_a_history_without_reports(tracker):
    registered(tracker, registering(7))
    history = queries.history(tracker, 7)
    assert history.state is None and history.total == 0 and history.reports == []
    assert [g.outcome for g in history.registrations] == [REGISTERED]
    assert queries.history(tracker, 7, as_of=datetime(2020, 1, 1, tzinfo=UTC)) is None


def test_a_rejected_registration_keeps_its_item_as_sent(tracker):
    bad = Registration(reason="sender is a number, not a string")
    registered(tracker, registering(8, bad, raw='{"id_sms": 8, "sender": 5}'))
    [g] = queries.history(tracker, 8).registrations
    assert (g.outcome, g.reason, g.raw) == (REJECTED, bad.reason, '{"id_sms": 8, "sender": 5}')


def test_a_large_batch_of_registrations_is_committed_in_slices(tracker):
    writer = GroupCommit(tracker, max_reports=10)
    committed: list[tuple[int, int, int]] = []
    record_batches = tracker.record_batches

    def record(batches):
        committed.extend((len(b.statuses), len(b.registrations), len(b.unusable)) for b in batches)
        return record_batches(batches)

    tracker.record_batches = record
    items = tuple(registering(n) for n in range(25))
    bad = (Unusable(ITEM, "5", "item is a number, not an object"),)
    try:
        receipt = writer.submit(
            Batch((Status(100, "send", ""),) * 3, bad, registrations=items)
        ).result(30)
    finally:
        writer.close()
    assert committed == [(3, 7, 0), (0, 10, 0), (0, 8, 1)]
    assert receipt.stored == {100, *range(25)}
    assert receipt.registrations == {REGISTERED: 25} and receipt.quarantined == 1


def test_eighty_thousand_registrations_of_one_message_in_one_batch(tracker):
    items = [registering(9)] * 40_000 + [
        registering(9, Registration(parts=1 + n % 255, sender=str(n))) for n in range(40_000)
    ]
    receipt = GroupCommit(tracker).submit(Batch((), registrations=tuple(items))).result(120)
    assert receipt.stored == {9}
    assert receipt.duplicates == 39_999  # the same again: nothing appended
    assert receipt.registrations == {REGISTERED: 1, CONFLICT: 40_000}
    assert len(tracker.history(9)) == 40_001
    assert tracker.message(9).registration == ACME


@pytest.fixture
def socket_path():
    folder = tempfile.mkdtemp(prefix="tw-")
    yield os.path.join(folder, "writer.sock")
    Path(folder, "writer.sock").unlink(missing_ok=True)
    os.rmdir(folder)


def test_registrations_cross_the_writer_process_socket_and_come_back_counted(tracker, socket_path):
    service = WriterService(tracker, socket_path)
    service.listen()

    async def send():
        client = WriterClient(socket_path)
        try:
            return await client.record(
                Batch(
                    (), registrations=(registering(11), registering(11, Registration(sender="x")))
                )
            )
        finally:
            await client.close()

    try:
        with ThreadPoolExecutor(1) as pool:
            receipt = pool.submit(asyncio.run, send()).result()
    finally:
        service.close()
    assert receipt.stored == {11}
    assert receipt.registrations == {REGISTERED: 1, CONFLICT: 1}


def test_verify_and_proof_hold_with_registrations_in_the_log(database_url, tracker, tmp_path):
    registered(tracker, registering(12), statuses=[Status(12, "send", "2026-12-07 10:00:00")])
    registered(tracker, registering(12, Registration(sender="other")))
    views = open_views(tracker)
    tree = AuditTree(views).create()
    AuditFollower(tracker, tree).catch_up()
    proof = prove_message(tracker, tree, 12, digest_of(tree.head(), datetime.now(UTC)))
    assert check_proof(proof).sound
    assert [e.event["type"] for e in proof.events] == ["Reported", "Registered", "Registered"]
    verified = run_cli(database_url, "verify")
    assert verified.returncode == 0, verified.stderr
    proved = run_cli(database_url, "proof", "12", "--out", str(tmp_path / "p.json"))
    assert proved.returncode == 0, proved.stderr
    offline = run_cli(database_url, "verify-proof", str(tmp_path / "p.json"))
    assert offline.returncode == 0 and "proven: 3 events of message 12" in offline.stdout
    shown = run_cli(database_url, "history", "12")
    assert shown.returncode == 0, shown.stderr
    assert "registration" in shown.stdout and "CONFLICT" in shown.stdout
    assert "id_sms 12: send, registered" in shown.stdout


def test_tracker_register_loads_csv_and_jsonl_and_a_second_run_adds_nothing(database_url, tmp_path):
    csv_file = tmp_path / "sent.csv"
    csv_file.write_text(
        "id_sms,sent_at,sender,campaign,channel,parts\n"
        "21,2026-12-07 10:00:00,acme,xmas,sms,1\n"
        "22,2026-12-07T10:00:00Z,acme,,viber,2\n"
        "not-a-number,,acme,,,\n"
        "023,bad time,acme,,,0\n"
    )
    first = run_cli(database_url, "register", str(csv_file))
    assert first.returncode == 0, first.stderr
    assert "2 registered, 0 conflict, 1 rejected, 0 duplicate, 1 quarantined" in first.stdout
    assert 'line 4: quarantined: id_sms "not-a-number"' in first.stderr
    assert "registering" in first.stderr  # the progress bar
    second = run_cli(database_url, "register", str(csv_file))
    assert "0 registered, 0 conflict, 0 rejected, 3 duplicate" in second.stdout
    lines = tmp_path / "more.ndjson"
    lines.write_text(
        json.dumps({"id_sms": 21, "sender": "beta"}) + "\n\n"
        + json.dumps({"id_sms": 24, "sent_at": "2026-12-07T12:00:00+03:00"}) + "\n"
        + "{not json\n"
    )  # fmt: skip
    third = run_cli(database_url, "register", str(lines))
    assert third.returncode == 0, third.stderr
    assert "1 registered, 1 conflict, 0 rejected, 0 duplicate, 1 quarantined" in third.stdout
    assert "line 4: quarantined: item is not readable JSON" in third.stderr
    tracker = open_tracker(Settings(database_url=database_url, create_tables=False))
    try:
        assert tracker.message(21).registration.sender == "acme"
        assert tracker.message(24).registration.sent_at == datetime(2026, 12, 7, 9, tzinfo=UTC)
        [rejected] = [e.event for e in tracker.history(23) if type(e.event) is Registered]
        assert rejected.id_sent == "023" and "bad time" in rejected.reason
    finally:
        tracker.close()


def test_tracker_register_refuses_what_it_cannot_read_before_storing(sqlite_url, tmp_path):
    odd = tmp_path / "sent.txt"
    odd.write_text("id_sms\n1\n")
    assert "--format" in run_cli(sqlite_url, "register", str(odd)).stderr
    header = tmp_path / "sent.csv"
    header.write_text("id_sms,colour\n1,red\n")
    refused = run_cli(sqlite_url, "register", str(header))
    assert refused.returncode == 2 and "'colour'" in refused.stderr
    missing = run_cli(sqlite_url, "register", str(tmp_path / "none.csv"))
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("none.csv: No such file or directory"), missing.stderr
    header.write_text("sender\nacme\n")
    refused = run_cli(sqlite_url, "register", str(header))
    assert refused.returncode == 2 and refused.stderr.strip().endswith("(it has no id_sms)")
    twice = tmp_path / "twice.csv"  # which sender is it? the webhook rejects a key given twice
    twice.write_text("id_sms,sender,sender\n1,acme,beta\n")
    refused = run_cli(sqlite_url, "register", str(twice))
    assert refused.returncode == 2 and "'sender' twice" in refused.stderr, refused.stderr
    tracker = open_tracker(Settings(database_url=sqlite_url, create_tables=False))
    try:
        assert tracker.message(1) is None  # nothing stored
    finally:
        tracker.close()


def test_a_csv_cell_past_the_csv_modules_limit_costs_its_line_only(sqlite_url, tmp_path):
    """A 200,000-character cell (past csv's 131,072): that line is quarantined with its
    number, the lines around it are registered; no traceback."""
    huge = tmp_path / "huge.csv"
    huge.write_text(f"id_sms,sender\n31,acme\n32,{'x' * 200_000}\n33,beta\n")
    done = run_cli(sqlite_url, "register", str(huge))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "2 registered, 0 conflict, 0 rejected, 0 duplicate, 1 quarantined" in done.stdout
    assert "line 3: quarantined" in done.stderr
    tracker = open_tracker(Settings(database_url=sqlite_url, create_tables=False))
    try:
        assert tracker.message(33).registration.sender == "beta"
    finally:
        tracker.close()


arrival = st.one_of(
    st.sampled_from(
        [ACME, Registration(sender="beta"), Registration(reason="parts 0 is not from 1 to 255")]
    ).map(lambda g: ("g", g)),
    st.sampled_from(
        [("send", "2026-12-07 10:00:00"), ("deliver", "2026-12-07 10:00:05"),
         ("expired", "2026-12-07 10:00:03")]
    ).map(lambda r: ("r", r)),
)  # fmt: skip


@settings(max_examples=15, deadline=None)
@given(st.lists(arrival, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_in_any_order_of_batches_a_store_holds_the_same_state_and_what_stood_first(items, rnd):
    """Live (the writer's message in hand) equals replayed (the store's events), and the state
    is the fold of the reports whatever the order the batches came in."""
    shuffled = list(items)
    rnd.shuffle(shuffled)
    states = []
    for order in (items, shuffled):
        with tempfile.TemporaryDirectory() as folder:
            tracker = open_tracker(Settings(database_url=f"sqlite:///{folder}/t.db"))
            try:
                for kind, value in order:
                    if kind == "g":
                        registered(tracker, registering(30, value))
                    else:
                        tracker.record([Status(30, *value)])
                live = tracker.written.take({30}).get(30)
                stored = tracker.message(30)
                assert stored.registration == (live.registration if live else None)
                first = next((g for k, g in order if k == "g" and g.reason is None), None)
                assert stored.registration == first
                states.append(stored.current)
            finally:
                tracker.close()
    assert states[0] == states[1]


def test_a_history_page_lists_at_most_its_limit_of_registrations_and_says_how_many_more(
    tracker,
):
    """Many distinct registrations of one id (each a conflict, each recorded): a page of the
    history lists at most ``limit`` of those in its place and counts the rest, rather than
    every one (60,000 of them were 14 MB at ?limit=1); the one that stands is always shown."""
    items = [registering(9, Registration(sender=f"s{i}")) for i in range(250)]
    registered(tracker, *items)
    page = queries.history(tracker, 9, limit=100)
    assert len(page.registrations) == 100 and page.registrations_more == 150
    assert page.registration.sender == "s0" and page.registrations[0].sender == "s0"
    whole = queries.history(tracker, 9, limit=None)
    assert len(whole.registrations) == 250 and whole.registrations_more == 0
