"""Tampering with a real store, as someone holding the database would, is found: every edit,
deletion, insertion and reordering of recorded events, by position and message; a store that
no longer extends a kept digest; forged or altered digests; forged and stale view rows."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support import create_schema, drop_schema, run_cli, server_url
from tracker.application import Status, Tracker, Unusable
from tracker.audit.digest import Digest, digest_of, public_hex
from tracker.audit.follower import AuditFollower
from tracker.audit.leaves import originator_bytes, owner
from tracker.audit.proof import prove_message
from tracker.audit.tree import AuditTree, TreeDamaged
from tracker.audit.verify import CHANGED, DELETED, INSERTED, Finding, verify_log
from tracker.audit.views_check import check_views
from tracker.bootstrap import open_output_views, open_tracker, open_views
from tracker.config import Settings
from tracker.domain.quarantine import ITEM
from tracker.read import queries
from tracker.stores.sqlite.views import views_file
from tracker.views.projector import Projector
from tracker.views.store import ViewStore

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
TRAFFIC = [  # (statuses, quarantined items): 12 events, message 3's second one "expired"
    ([Status(1, "send", "2026-03-01 12:00:00"), Status(2, "send", "2026-03-01 12:00:00"),
      Status(3, "send", "2026-03-01 12:00:01")],
     [Unusable(ITEM, "5", "item is a number, not an object")]),
    ([Status(1, "deliver", "2026-03-01 12:00:30"), Status(2, "deliver", "2026-03-01 12:00:40")],
     []),
    ([Status(3, "expired", "2026-03-01 13:00:01"), Status(4, "send", "2026-03-01 12:01:00")],
     [Unusable(ITEM, '"x"', "no id_sms")]),
    ([Status(1, "read", "2026-03-01 12:02:00"), Status(4, "deliver", "2026-03-01 12:01:30"),
      Status(5, "send", "2026-03-01 12:03:00")],
     []),
]  # fmt: skip
EVENTS = 12
COLUMNS = "notification_id, originator_id, originator_version, topic, state"


class Attacker:
    """Someone holding the database: the PostgreSQL superuser (who owns the tables), or anyone
    who can write the SQLite files. Edits the tables directly with the database's own client
    library, never through the tracker. Statements name tables as ``{events}``,
    ``{messages}``, ``{audit_tiles}``, ``{audit_heads}`` (and the events' columns in order as
    ``{columns}``) and take ``?`` parameters."""

    def __init__(self, url: str):
        if url.startswith("postgresql"):
            schema = url.rsplit("schema=", 1)[1]
            connection = psycopg.connect(server_url(url), autocommit=True)
            self.names = {t: f'"{schema}".{t}' for t in ("events", *VIEW_TABLES)}
            self.events_db = self.views_db = connection
            self.placeholder = "%s"
        else:
            path = url.removeprefix("sqlite:///")
            self.names = {t: t for t in ("events", *VIEW_TABLES)}
            self.events_db = sqlite3.connect(path, isolation_level=None)
            self.views_db = sqlite3.connect(views_file(path), isolation_level=None)
            self.placeholder = "?"

    def events(self, statement: str, *params: object) -> list[tuple]:
        return self._run(self.events_db, statement, params)

    def views(self, statement: str, *params: object) -> list[tuple]:
        """On the tables beside the views (their own file on SQLite): views and audit tree."""
        return self._run(self.views_db, statement, params)

    def _run(self, db, statement: str, params: tuple) -> list[tuple]:
        names = {**self.names, "columns": COLUMNS}
        sql = statement.format(**names).replace("?", self.placeholder)
        cursor = db.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def truncate_events(self) -> None:
        """PostgreSQL's TRUNCATE; SQLite has none, its DELETE with no WHERE does the same."""
        self.events("TRUNCATE {events}" if self.placeholder == "%s" else "DELETE FROM {events}")

    def close(self) -> None:
        self.events_db.close()
        self.views_db.close()


VIEW_TABLES = ("messages", "quarantine", "state_counts", "audit_tiles", "audit_heads")


@dataclass
class Store:
    url: str
    tracker: Tracker
    views: ViewStore
    tree: AuditTree
    attacker: Attacker
    key: Ed25519PrivateKey
    digest: Digest  # signed, kept by an auditor once the follower had recorded the traffic
    log: list[tuple]  # the rows as recorded, before any tampering

    def event(self, id_sms: int, n: int) -> tuple[int, int]:
        """(position, notification id) of message ``id_sms``'s ``n``-th event, as recorded."""
        mine = [(position, row[0]) for position, row in enumerate(self.log)
                if owner(originator_bytes(row[1])) == f"message {id_sms}"]  # fmt: skip
        return mine[n - 1]

    def verify(self, *digests: tuple[str, Digest], trusted: bytes | None = None):
        return verify_log(self.tracker, self.tree, digests, trusted=trusted)

    @property
    def public_key(self) -> bytes:
        return bytes.fromhex(public_hex(self.key.public_key()))


def record(tracker: Tracker, traffic=TRAFFIC, start: datetime = T0) -> None:
    for i, (statuses, unusable) in enumerate(traffic):
        tracker.record(statuses, unusable, start + timedelta(seconds=30 * i))


def follow(tracker: Tracker, tree: AuditTree):
    return AuditFollower(tracker, tree).catch_up()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """The traffic recorded, the views and the audit tree caught up, a signed digest kept."""
    tracker = open_tracker(Settings(database_url=database_url, lock_timeout=2))
    attacker = Attacker(database_url)
    try:
        views = open_views(tracker)
        tree = AuditTree(views).create()
        record(tracker)
        Projector(tracker, views).catch_up()
        head = follow(tracker, tree)
        key = Ed25519PrivateKey.generate()
        log = tracker.store.select_log(0, tracker.store.max_notification_id())
        assert head.size == len(log) == EVENTS
        digest = digest_of(head, T0 + timedelta(hours=1), key)
        yield Store(database_url, tracker, views, tree, attacker, key, digest, log)
    finally:
        attacker.close()
        tracker.close()


def test_an_untouched_store_verifies(store):
    result = store.verify(("kept", store.digest), trusted=store.public_key)
    assert (result.sound, result.events, result.finding, result.problems) == (
        True, EVENTS, None, [],
    )  # fmt: skip
    assert result.head is not None and result.head.root == store.digest.root


# Editing a recorded event


def test_one_byte_of_an_events_state_edited_is_found_at_that_event(store):
    position, nid = edit_state(store, 3, 2, b"13:00:01", b"12:00:01")  # "expired", one byte
    result = store.verify(("kept", store.digest))
    assert result.finding == Finding(position, nid, "message 3", CHANGED)
    assert not result.sound


def edit_state(store: Store, id_sms: int, n: int, old: bytes, new: bytes) -> tuple[int, int]:
    """Replace ``old`` by ``new`` in the stored bytes of message ``id_sms``'s ``n``-th event;
    its (position, notification id)."""
    position, nid = store.event(id_sms, n)
    state = store.attacker.events("SELECT state FROM {events} WHERE notification_id = ?", nid)
    edited = bytes(state[0][0]).replace(old, new)
    assert edited != bytes(state[0][0])
    store.attacker.events("UPDATE {events} SET state = ? WHERE notification_id = ?", edited, nid)
    return position, nid


def test_an_events_topic_changed_is_found_at_that_event(store):
    position, nid = store.event(4, 2)
    store.attacker.events("UPDATE {events} SET topic = 'a1' WHERE notification_id = ?", nid)
    assert store.verify().finding == Finding(position, nid, "message 4", CHANGED)


def test_an_events_version_changed_is_found_at_that_event(store):
    position, nid = store.event(1, 2)
    store.attacker.events(
        "UPDATE {events} SET originator_version = 7 WHERE notification_id = ?", nid
    )
    assert store.verify().finding == Finding(position, nid, "message 1", CHANGED)


def test_an_event_moved_to_another_message_names_both_messages(store):
    """Its originator id changed: message 3 loses its "expired", message 1 gains it."""
    position, nid = store.event(3, 2)
    message_1 = store.log[store.event(1, 1)[0]][1]  # as the store's column holds it
    store.attacker.events(
        "UPDATE {events} SET originator_id = ?, originator_version = 9 "
        "WHERE notification_id = ?",
        message_1, nid,
    )  # fmt: skip
    assert [r.state for r in queries.history(store.tracker, 1).reports][-1] == "expired"
    assert store.verify().finding == Finding(
        position, nid, "message 1", f"{CHANGED}; when recorded it was an event of message 3"
    )


# Deleting, reordering, inserting


def test_a_row_deleted_in_the_middle_is_named_by_what_the_tree_recorded(store):
    position, nid = store.event(2, 2)
    store.attacker.events("DELETE FROM {events} WHERE notification_id = ?", nid)
    result = store.verify()
    assert result.finding == Finding(position, nid, "message 2", DELETED)
    assert result.events == EVENTS - 1


def test_the_last_row_deleted_is_found(store):
    position, nid = store.event(5, 1)
    assert position == EVENTS - 1
    store.attacker.events("DELETE FROM {events} WHERE notification_id = ?", nid)
    assert store.verify().finding == Finding(position, nid, "message 5", DELETED)


def test_the_states_of_two_rows_swapped_are_found_at_the_first(store):
    (first, a), (_, b) = store.event(1, 2), store.event(2, 2)  # two "deliver"s, other times
    store.attacker.events(
        "UPDATE {events} SET state = CASE notification_id "
        "WHEN ? THEN (SELECT state FROM {events} WHERE notification_id = ?) "
        "ELSE (SELECT state FROM {events} WHERE notification_id = ?) END "
        "WHERE notification_id IN (?, ?)",
        a, b, a, a, b,
    )  # fmt: skip
    assert store.verify().finding == Finding(first, a, "message 1", CHANGED)


def test_two_whole_rows_swapped_are_found_at_the_first(store):
    """The rows trade notification ids: each message keeps its events, but in another order
    of the log."""
    (first, a), (_, b) = store.event(3, 1), store.event(4, 1)
    swap = "UPDATE {events} SET notification_id = ? WHERE notification_id = ?"
    store.attacker.events(swap, -1, a)
    store.attacker.events(swap, a, b)
    store.attacker.events(swap, b, -1)
    assert store.verify().finding == Finding(
        first, a, "message 4", f"{CHANGED}; when recorded it was an event of message 3"
    )


def test_a_row_inserted_in_the_middle_with_the_later_rows_renumbered_is_found(store):
    position, nid = store.event(3, 2)
    forged = uuid.uuid4()  # a quarantined input that never came
    shift = "UPDATE {events} SET notification_id = ? * notification_id + ? WHERE "
    store.attacker.events(shift + "notification_id >= ?", -1, -1, nid)  # out of the way
    store.attacker.events(shift + "notification_id < 0", -1, 0)  # back, one up
    store.attacker.events(
        "INSERT INTO {events} ({columns}) VALUES (?, ?, 1, 'q1', ?)",
        nid, _key(store, forged), b"\x94\xa4item\xa15\xa0\xd6\xffi\xa4\x00\x10",
    )  # fmt: skip
    assert store.verify().finding == Finding(
        position, nid, f"quarantined input {forged.hex}",
        f"{CHANGED}; when recorded it was an event of message 3",
    )  # fmt: skip


def copy_below_1(store: Store, forged_id: int, id_sms: int, n: int) -> None:
    """A copy of message ``id_sms``'s ``n``-th event at notification id ``forged_id``."""
    store.attacker.events(
        "INSERT INTO {events} ({columns}) SELECT ?, originator_id, 9, topic, state "
        "FROM {events} WHERE notification_id = ?",
        forged_id, store.event(id_sms, n)[1],
    )  # fmt: skip


@pytest.mark.parametrize("forged_id", [0, -5])
def test_a_row_inserted_before_the_first_event_is_found(store, forged_id):
    """Neither store numbers an event below 1, but a row there is one of its message's events
    all the same: the log is read from its lowest notification id."""
    copy_below_1(store, forged_id, 3, 2)
    assert len(queries.history(store.tracker, 3).reports) == 3  # part of message 3's history
    result = store.verify(("kept", store.digest))
    assert result.finding == Finding(0, forged_id, "message 3", INSERTED)
    assert result.events == EVENTS + 1


def test_a_log_replaced_by_rows_below_1_is_found(store):
    copy_below_1(store, -5, 3, 2)
    store.attacker.events("DELETE FROM {events} WHERE notification_id > 0")
    result = store.verify()
    assert result.finding == Finding(0, -5, "message 3", INSERTED)
    assert result.events == 1


@pytest.mark.postgres
def test_postgresql_a_row_inserted_into_a_gap_of_the_notification_ids_is_found(postgres_url):
    """A transaction that rolled back used notification ids no event then has: a row slipped
    into the gap is an event the tree never recorded."""
    schema = postgres_url.rsplit("schema=", 1)[1]
    tracker = open_tracker(Settings(database_url=postgres_url))
    attacker = Attacker(postgres_url)
    try:
        tree = AuditTree(open_views(tracker)).create()
        record(tracker, TRAFFIC[:2])
        with psycopg.connect(server_url(postgres_url)) as rolled_back:
            rolled_back.execute(
                f'INSERT INTO "{schema}".events (originator_id, originator_version, topic, state)'
                " VALUES (%s, 1, 'q1', '')",
                (uuid.uuid4(),),
            )
            rolled_back.rollback()
        gap = tracker.store.max_notification_id() + 1
        record(tracker, TRAFFIC[2:], T0 + timedelta(minutes=5))
        follow(tracker, tree)
        assert tracker.store.select_log(gap - 1, gap) == []
        after_gap = tree.position_of(gap + 1)
        attacker.events(
            "INSERT INTO {events} ({columns}) SELECT ?, originator_id, 9, topic, state "
            "FROM {events} WHERE notification_id = ?",
            gap, gap + 1,
        )  # fmt: skip
        result = verify_log(tracker, tree)
        inserted_for = owner(originator_bytes(tracker.store.select_log(gap - 1, gap)[0][1]))
        assert result.finding == Finding(after_gap, gap, inserted_for, INSERTED)
    finally:
        attacker.close()
        tracker.close()


def test_the_events_table_truncated_is_found_at_the_first_event(store):
    store.attacker.truncate_events()
    result = store.verify(("kept", store.digest))
    assert result.finding == Finding(0, store.log[0][0], "message 1", DELETED)
    assert result.events == 0


# Rewriting the audit tree with the events


def rewrite_history(store: Store) -> None:
    """What an owner who knows the audit tree does: edit an event, then drop the tree's tables
    and let a fresh tree record the edited log."""
    edit_state(store, 3, 2, b"expired", b"deliver")
    store.attacker.views("DROP TABLE {audit_tiles}")
    store.attacker.views("DROP TABLE {audit_heads}")
    store.tree = AuditTree(open_views(store.tracker)).create()
    follow(store.tracker, store.tree)


def test_events_and_tree_rewritten_together_are_caught_only_by_a_kept_digest(store):
    rewrite_history(store)
    assert queries.history(store.tracker, 3).reports[-1].state == "deliver"  # the forgery
    assert store.verify().sound  # the rewritten tree agrees with the rewritten events
    result = store.verify(("kept", store.digest), trusted=store.public_key)
    assert result.finding is None
    assert result.problems == [
        "digest kept: the store does not extend it: its first 12 events are not the ones the "
        "digest covers (changed, deleted, inserted or reordered since it was made; or the "
        "digest is another store's)"
    ]


def test_a_store_rewritten_shorter_than_a_kept_digest_is_caught(store):
    _, nid = store.event(5, 1)
    store.attacker.events("DELETE FROM {events} WHERE notification_id = ?", nid)
    store.attacker.views("DELETE FROM {audit_tiles}")
    store.attacker.views("DELETE FROM {audit_heads}")
    follow(store.tracker, store.tree)
    assert store.verify().sound
    assert store.verify(("kept", store.digest)).problems == [
        "digest kept covers 12 events, the store holds only 11: events it covers were deleted "
        "(or the digest is another store's)"
    ]


# Editing the audit tree alone


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ("root = ?", "the audit tree's head does not match its leaves (edited)"),
        ("size = 20", "the audit tree's head covers 20 leaves, its tiles hold only 12 (edited)"),
    ],
)
def test_the_trees_head_edited_is_reported(store, edit, problem):
    params = (bytes(32),) if "?" in edit else ()
    store.attacker.views(f"UPDATE {{audit_heads}} SET {edit} WHERE name = 'tree'", *params)
    result = store.verify()
    assert (result.finding, result.problems) == (None, [problem])


def test_a_leaf_edited_in_the_trees_tiles_names_its_event_and_a_kept_digest_clears_the_events(
    store,
):
    """Without a digest, verification cannot tell an edited event from an edited leaf; the
    digest kept elsewhere shows the events are still the ones it covers."""
    position, nid = store.event(3, 1)
    hashes = bytes(store.attacker.views("SELECT hashes FROM {audit_tiles} WHERE level = 0")[0][0])
    edited = hashes[: 32 * position] + bytes(32) + hashes[32 * (position + 1) :]
    store.attacker.views("UPDATE {audit_tiles} SET hashes = ? WHERE level = 0", edited)
    result = store.verify(("kept", store.digest), trusted=store.public_key)
    assert result.finding == Finding(position, nid, "message 3", CHANGED)
    assert result.problems == []


# Digests


@pytest.fixture
def other_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Another store of the same kind."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    url = create_schema(server_url(database_url))
    try:
        yield url
    finally:
        drop_schema(url)


def test_a_later_digest_extends_an_earlier_one_and_one_of_another_store_does_not(store, other_url):
    record(store.tracker, TRAFFIC[:2], T0 + timedelta(hours=2))
    later = digest_of(follow(store.tracker, store.tree), T0 + timedelta(hours=3), store.key)
    both = store.verify(("early", store.digest), ("later", later), trusted=store.public_key)
    assert (both.sound, both.events, both.problems) == (True, later.tree_size, [])

    other = open_tracker(Settings(database_url=other_url))
    try:
        other_tree = AuditTree(open_views(other)).create()
        record(other, TRAFFIC[:3], T0 + timedelta(days=1))  # the same reports, a day later
        foreign = digest_of(follow(other, other_tree), T0 + timedelta(hours=1), store.key)
    finally:
        other.close()
    assert foreign.tree_size < store.digest.tree_size
    result = store.verify(("early", store.digest), ("foreign", foreign))
    assert result.finding is None
    assert result.problems == [
        f"digest foreign: the store does not extend it: its first {foreign.tree_size} events "
        "are not the ones the digest covers (changed, deleted, inserted or reordered since it "
        "was made; or the digest is another store's)"
    ]


def test_a_digest_altered_after_signing_or_signed_by_another_key_is_refused(store):
    d = store.digest
    flipped = d.signature[:-1] + ("0" if d.signature[-1] != "0" else "1")
    edited_root = msgspec.structs.replace(d, root_hash=bytes(32).hex())
    stranger = digest_of(store.tree.head(), T0, Ed25519PrivateKey.generate())
    unsigned = digest_of(store.tree.head(), T0)
    result = store.verify(
        ("signature", msgspec.structs.replace(d, signature=flipped)),
        ("root", edited_root),
        ("stranger", stranger),
        ("unsigned", unsigned),
        trusted=store.public_key,
    )
    altered = "its signature does not match its fields (the digest was altered)"
    assert result.finding is None
    assert result.problems == [
        f"digest signature: {altered}",
        f"digest root: {altered}",
        f"digest stranger: it is signed by key {stranger.public_key[:16]}..., not by "
        f"{store.public_key.hex()[:16]}...",
        "digest unsigned: it is not signed",
    ]
    assert store.verify(("kept", d), trusted=store.public_key).sound


# The views


def views_check(store: Store, tmp_path: Path):
    scratch = open_output_views(tmp_path / "scratch.views.db")
    return check_views(store.tracker, store.views, scratch)


def test_a_forged_view_row_is_named(store, tmp_path):
    assert store.views.message(3).state == "expired"
    store.attacker.views("UPDATE {messages} SET state = 'deliver' WHERE id_sms = 3")
    check = views_check(store, tmp_path)
    assert (check.messages, check.differing, check.problems) == ([3], 1, [])
    assert store.verify().sound  # the events are untouched: only the views lie


def test_a_stale_or_invented_view_row_is_named(store, tmp_path):
    store.attacker.views("DELETE FROM {messages} WHERE id_sms = 4")
    store.attacker.views(
        "INSERT INTO {messages} SELECT 99, state, time, instant, final, reports, "
        "first_received_at, last_received_at, conflict, delivered_at, latest_state, "
        "latest_time, latest_instant, channels, sender, campaign, channel, sent_at, parts, "
        "registered_at, registration_conflicts, day, delivery_bucket FROM {messages} "
        "WHERE id_sms = 1"
    )
    check = views_check(store, tmp_path)
    assert (check.messages, check.differing) == ([4, 99], 2)


def test_forged_quarantine_rows_and_state_counts_are_reported(store, tmp_path):
    store.attacker.views("UPDATE {quarantine} SET reason = 'fine after all' WHERE raw = '5'")
    store.attacker.views("UPDATE {state_counts} SET messages = messages + 1 WHERE state = 'read'")
    check = views_check(store, tmp_path)
    assert (check.messages, check.problems) == ([], [
        "1 rows of the quarantine view differ",
        "the state counts differ from the messages the events make",
    ])  # fmt: skip


def test_untouched_views_verify(store, tmp_path):
    check = views_check(store, tmp_path)
    assert (check.sound, check.compared, check.messages) == (True, 5, [])


# The command line


def test_tracker_verify_says_verified_or_names_the_event_and_message(store):
    clean = run_cli(store.url, "verify")
    assert clean.returncode == 0, clean.stderr
    assert f"verified {EVENTS} events" in clean.stdout

    position, nid = store.event(2, 2)
    store.attacker.events("DELETE FROM {events} WHERE notification_id = ?", nid)
    tampered = run_cli(store.url, "verify")
    assert tampered.returncode == 1
    assert (
        f"NOT VERIFIED: event {position + 1} (notification id {nid}, message 2): {DELETED}"
        in tampered.stderr
    )
    assert "verified" not in tampered.stdout


def test_tracker_verify_views_names_the_forged_message(store):
    store.attacker.views("UPDATE {messages} SET state = 'read' WHERE id_sms = 5")
    result = run_cli(store.url, "verify", "--views")
    assert result.returncode == 1
    assert f"verified {EVENTS} events" in result.stdout  # the events are sound
    assert "VIEWS DIFFER: the rows of 1 message are not what the events make (forged or " \
           "stale): 5 (state)" in result.stderr  # fmt: skip


def test_the_operators_routine_catches_a_rewritten_history(store, tmp_path, monkeypatch):
    """keygen, then digests signed with TRACKER_AUDIT_KEY kept elsewhere, then verify
    against them with the public key."""
    key = tmp_path / "keys" / "audit.pem"
    made = run_cli(store.url, "keygen", "--out", str(key))
    assert made.returncode == 0, made.stderr
    public = key.with_suffix(".pub").read_text().strip()
    assert public in made.stdout
    monkeypatch.setenv("TRACKER_AUDIT_KEY", str(key))
    kept = tmp_path / "elsewhere" / "digest.json"
    kept.parent.mkdir()
    assert run_cli(store.url, "digest", "--out", str(kept)).returncode == 0
    monkeypatch.delenv("TRACKER_AUDIT_KEY")
    sound = run_cli(store.url, "verify", "--digest", str(kept), "--public-key", public)
    assert sound.returncode == 0, sound.stderr

    rewrite_history(store)
    caught = run_cli(store.url, "verify", "--digest", str(kept), "--public-key", public)
    assert caught.returncode == 1
    assert f"NOT VERIFIED: digest {kept}: the store does not extend it" in caught.stderr


def _key(store: Store, key: uuid.UUID) -> object:
    """An originator id as the store's column holds it (PostgreSQL uuid, SQLite 16 bytes)."""
    return key if store.url.startswith("postgresql") else key.bytes


def test_a_row_far_beyond_the_last_id_is_followed_and_verified_at_once(store):
    """A row set at notification id 10**12: the follower and verify step over the gap in one
    look-up, not a hundred million windows of ids (days of queries: the test's timeout)."""
    store.attacker.events(
        "INSERT INTO {events} ({columns}) SELECT ?, originator_id, 99, topic, state "
        "FROM {events} WHERE notification_id = ?",
        10**12, store.event(3, 1)[1],
    )  # fmt: skip
    head = follow(store.tracker, store.tree)
    assert (head.size, head.position) == (EVENTS + 1, 10**12)
    result = store.verify()
    assert result.sound and result.events == EVENTS + 1


def test_a_proof_does_not_pass_off_a_row_the_tree_never_saw_as_stored_later(store):
    _, nid = store.event(3, 2)
    store.attacker.events(
        "INSERT INTO {events} ({columns}) SELECT ?, originator_id, 77, topic, state "
        "FROM {events} WHERE notification_id = ?",
        0, nid,
    )  # fmt: skip
    proof = prove_message(store.tracker, store.tree, 3, store.digest)
    assert (proof.unrecorded, proof.pending, len(proof.events)) == (1, 0, 2)


# Values of other types, and edits that need no hash at all


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        # the version's 8 bytes as text: the same bytes, another value (it reordered a history)
        ("originator_version = CAST(X'0000000000000002' AS TEXT)", "stored as blob,text,text,blob"),
        # a byte more of id (and one less of version, as the attack had it): joined, the same
        ("originator_id = CAST(originator_id || X'00' AS BLOB)", "originator id is 17 bytes"),
        ("topic = CAST(topic AS BLOB)", "stored as blob,integer,blob,blob"),
        ("state = CAST(state AS TEXT)", "stored as blob,integer,text,text"),
    ],
)
def test_sqlite_a_value_of_another_type_is_named_even_where_its_bytes_are_the_same(
    sqlite_url, edit, said
):
    with followed(sqlite_url) as (tracker, tree, attacker):
        nid = tracker.store.select_log(0, 99)[6][0]
        attacker.events(f"UPDATE {{events}} SET {edit} WHERE notification_id = ?", nid)
        finding = verify_log(tracker, tree).finding
        assert (finding.position, finding.notification_id) == (6, nid)
        assert said in finding.what and "edited by hand" in finding.what


def test_a_heads_position_moved_ahead_does_not_freeze_the_tree_unnoticed(store):
    """The follower would take every later event as covered and never record it: verify names
    the first such event, and the head that claims ids the log does not have."""
    store.attacker.views("UPDATE {audit_heads} SET position = ? WHERE name = 'tree'", 2**62)
    assert store.verify().problems == [
        f"the audit tree's head says it covered notification ids up to {2**62}, the log ends at "
        f"{store.log[-1][0]} (its head was edited, or the last events deleted)"
    ]
    record(store.tracker, [([Status(40, "send", "2026-03-01 12:00:00")], [])])
    with pytest.raises(TreeDamaged, match="the tree's head was edited"):
        follow(store.tracker, store.tree)  # the live follower logs it (once)
    result = store.verify()
    assert result.finding == Finding(EVENTS, result.finding.notification_id, "message 40", INSERTED)


def test_a_node_above_the_leaves_or_a_tiles_first_id_edited_is_reported(database_url):
    """Proofs are made of the nodes: one edited would make honest proofs fail."""
    many = [([Status(n, "send", "") for n in range(1, 600)], [])]  # two levels of tiles
    with followed(database_url, many) as (tracker, tree, attacker):
        assert verify_log(tracker, tree).sound
        level_1 = "UPDATE {audit_tiles} SET hashes = ? WHERE level = 1 AND tile = 0"
        (held,) = attacker.views("SELECT hashes FROM {audit_tiles} WHERE level = 1")[0]
        attacker.views(level_1, b"\xff" + bytes(held)[1:])
        assert verify_log(tracker, tree).problems == [
            "the audit tree's nodes of level 1 are not the roots of the level below (edited)"
        ]
        attacker.views(level_1, bytes(held))
        attacker.views("UPDATE {audit_tiles} SET first_id = 1000 WHERE level = 0 AND tile = 1")
        assert verify_log(tracker, tree).problems == [
            "the audit tree's tile 1 of leaves has edited keys"
        ]


def test_views_whose_position_was_moved_back_are_still_compared_with_the_whole_log(store, tmp_path):
    """Their position is theirs, and writable as they are: lowered, it must not hide a forged
    row as one that "moved on"; views that do not catch up are stale, and named."""
    store.attacker.views("UPDATE {messages} SET state = 'read', final = 1 WHERE id_sms = 5")
    store.tracker.record([Status(5, "deliver", "2026-03-01 12:09:00")], [], T0)  # not projected
    scratch = open_output_views(tmp_path / "scratch.views.db")
    check = check_views(store.tracker, store.views, scratch, wait=0.4, sleep=lambda _: None)
    assert check.messages == [5] and not check.sound
    assert (
        "stale" in check.problems[0] and f"only up to notification id {EVENTS}" in check.problems[0]
    )


def test_a_row_outside_the_logs_order_is_reported(database_url):
    """A table rebuilt by hand can hold a row with a NULL notification id: no read in log order
    reaches it, yet its message's history (read by the message's id) counts it."""
    with followed(database_url) as (tracker, tree, attacker):
        if attacker.placeholder == "%s":
            attacker.events("ALTER TABLE {events} DROP CONSTRAINT events_pkey")
            attacker.events("ALTER TABLE {events} ALTER COLUMN notification_id DROP NOT NULL")
        else:  # SQLite: the id no longer the rowid
            attacker.events("CREATE TABLE copied AS SELECT * FROM {events}")
            attacker.events("DROP TABLE {events}")
            attacker.events("ALTER TABLE copied RENAME TO {events}")
        attacker.events(
            "INSERT INTO {events} ({columns}) SELECT NULL, originator_id, 3, topic, state "
            "FROM {events} WHERE notification_id = 7"
        )
        assert len(queries.history(tracker, 3).reports) == 3  # it counts in message 3
        result = verify_log(tracker, tree)
        assert not result.sound
        assert "1 rows of the events table lie outside the log's order" in result.problems[0]


PG_EDITS = {
    "topic as bytes": ["ALTER TABLE {events} ALTER COLUMN topic TYPE bytea "
                       "USING convert_to(topic, 'UTF8')"],
    "state as text": ["ALTER TABLE {events} ALTER COLUMN state TYPE text "
                      "USING encode(state, 'hex')"],
    "null state": ["ALTER TABLE {events} ALTER COLUMN state DROP NOT NULL",
                   "UPDATE {events} SET state = NULL WHERE notification_id = 7"],
}  # fmt: skip


def test_a_topic_too_long_for_a_leaf_is_named_not_crashed_on(database_url):
    finding = _after(database_url, ["UPDATE {events} SET topic = '" + "r" * 70_000 + "' "
                                    "WHERE notification_id = 7"])  # fmt: skip
    assert (finding.position, "its topic is no short text") == (6, finding.what.split(" (")[0])


@pytest.mark.postgres
@pytest.mark.parametrize("edit", PG_EDITS)
def test_postgresql_columns_changed_to_other_types_are_named_not_crashed_on(postgres_url, edit):
    finding = _after(postgres_url, PG_EDITS[edit])
    assert finding.position == (6 if edit == "null state" else 0)


def _after(database_url: str, statements: list[str]) -> Finding:
    """The first finding of verify on the usual traffic after ``statements`` (edited by hand)."""
    with followed(database_url) as (tracker, tree, attacker):
        for statement in statements:
            attacker.events(statement)
        finding = verify_log(tracker, tree).finding
    assert finding is not None and "edited by hand" in finding.what
    return finding


@contextmanager
def followed(database_url: str, traffic=TRAFFIC) -> Iterator[tuple[Tracker, AuditTree, Attacker]]:
    """The traffic (the usual by default) recorded and its tree followed, with an attacker on
    the store (for tests whose edits would spoil the shared fixture's schema or types)."""
    tracker = open_tracker(Settings(database_url=database_url))
    attacker = Attacker(database_url)
    try:
        tree = AuditTree(open_views(tracker)).create()
        record(tracker, traffic)
        follow(tracker, tree)
        yield tracker, tree, attacker
    finally:
        attacker.close()
        tracker.close()


def test_a_digest_signed_by_another_key_is_refused_but_records_no_changed_history(store):
    """The console and the gauge say the history changed only when it did (or a digest it
    should extend is not extended), not for a digest's signature, which says nothing of it."""
    other = Ed25519PrivateKey.generate()
    foreign = digest_of(store.tree.head(), T0, other)
    result = store.verify(("signed elsewhere", foreign), trusted=store.public_key)
    assert not result.sound and "not by" in result.problems[0]
    assert store.tree.failed() is None
    not_extended = msgspec.structs.replace(store.digest, root_hash="ab" * 32, signature=None)
    assert not store.verify(("wrong root", not_extended)).sound
    assert store.tree.failed() is not None
