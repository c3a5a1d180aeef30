"""Digests and proofs: signed and checked offline, and refused the moment anything is altered."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
from datetime import UTC, datetime

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization

from tests.support import run_cli
from tracker.application import Status, Unusable
from tracker.audit.digest import (
    digest_of,
    load_private_key,
    load_public_key,
    new_key,
    signature_problem,
    write_key,
)
from tracker.audit.follower import AuditFollower
from tracker.audit.proof import MessageProof, check_proof, prove_message
from tracker.audit.tree import EMPTY, AuditTree
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.quarantine import ITEM
from tracker.views.projector import Projector

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def key(tmp_path):
    pem, public = new_key()
    write_key(tmp_path / "audit.pem", pem)
    return tmp_path / "audit.pem", bytes.fromhex(public)


@pytest.fixture
def tree(tracker):
    for round_ in range(4):
        tracker.record([Status(n, ["send", "deliver", "deliver", "read"][round_],
                               f"2026-03-01 12:0{round_}:00") for n in range(1, 120)],
                       [Unusable(ITEM, f'"x{round_}"', "no id_sms")], T0)  # fmt: skip
    tree = AuditTree(open_views(tracker)).create()
    AuditFollower(tracker, tree).catch_up()
    return tree


def proof_of(tracker, tree, id_sms, private=None):
    digest = digest_of(tree.head(), T0, private)
    return msgspec.json.decode(msgspec.json.encode(prove_message(tracker, tree, id_sms, digest)),
                               type=MessageProof)  # fmt: skip


def test_a_signed_digest_checks_only_against_its_key_and_unaltered(key):
    path, public = key
    private = load_private_key(path)
    digest = digest_of(EMPTY, T0, private)
    assert signature_problem(digest, public) is None
    assert signature_problem(digest, None) is None
    _, other = new_key()
    assert "not by" in signature_problem(digest, bytes.fromhex(other))
    for field, value in [("tree_size", 7), ("root_hash", "00" * 32), ("position", 1),
                         ("timestamp", "2027-01-01T00:00:00+00:00")]:  # fmt: skip
        altered = msgspec.structs.replace(digest, **{field: value})
        assert "altered" in signature_problem(altered, public), field
    unsigned = digest_of(EMPTY, T0)
    assert signature_problem(unsigned, public) == "it is not signed"
    assert signature_problem(unsigned, None) is None


def test_the_key_file_is_private_and_public_keys_are_read_in_any_documented_form(key, tmp_path):
    path, public = key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_key(path, b"x")
    pem = (
        load_private_key(path)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "pub.pem").write_bytes(pem)
    (tmp_path / "pub.hex").write_text(public.hex() + "\n")
    assert load_public_key(public.hex()) == public
    assert load_public_key(str(tmp_path / "pub.pem")) == public
    assert load_public_key(str(tmp_path / "pub.hex")) == public
    for bad in ("abc", str(tmp_path / "missing")):
        with pytest.raises(ValueError, match="neither a public key"):
            load_public_key(bad)
    (tmp_path / "junk").write_text("not a key")
    with pytest.raises(ValueError, match="holds no public key"):
        load_public_key(str(tmp_path / "junk"))
    with pytest.raises(ValueError, match="not an unencrypted PEM private key"):
        load_private_key(tmp_path / "junk")


def test_a_messages_proof_holds_offline_and_fails_on_any_alteration(tracker, tree, key):
    path, public = key
    proof = proof_of(tracker, tree, 7, load_private_key(path))
    assert [e.event["state"] for e in proof.events] == ["send", "deliver", "deliver", "read"]
    assert check_proof(proof, public).sound and check_proof(proof, public).proved == len(
        proof.events
    )

    def altered(change):
        copy = msgspec.json.decode(msgspec.json.encode(proof), type=MessageProof)
        change(copy)
        return check_proof(copy, public)

    def flip_state(p):
        raw = bytearray(base64.b64decode(p.events[1].state))
        raw[-1] ^= 1
        p.events[1].state = base64.b64encode(bytes(raw)).decode()

    def flip_path(p):
        p.events[0].audit_path[0] = "00" * 32

    def move(p):
        p.events[0].position += 1

    def readable(p):
        p.events[0].event["state"] = "deliver" if p.events[0].event["state"] != "deliver" else "x"

    def other_message(p):
        other = proof_of(tracker, tree, 8)
        p.events[0] = other.events[0]

    def root(p):
        p.digest.root_hash = "11" * 32

    for change, said in [(flip_state, "not in the digest's tree"), (flip_path, "not in the"),
                         (move, "not in the"), (readable, "readable fields differ"),
                         (other_message, "of another message"), (root, "altered")]:  # fmt: skip
        check = altered(change)
        assert not check.sound and said in " ".join(check.problems), change.__name__


def test_an_unsigned_proof_says_what_it_proves_and_a_signed_one_needs_the_named_key(
    tracker, tree, key
):
    unsigned = check_proof(proof_of(tracker, tree, 3))
    assert unsigned.sound and "unsigned" in unsigned.notes[0]
    signed = proof_of(tracker, tree, 3, load_private_key(key[0]))
    assert "did not name" in check_proof(signed).notes[0]
    _, other = new_key()
    assert not check_proof(signed, bytes.fromhex(other)).sound


def test_a_proof_lists_events_stored_after_its_digest_as_pending(tracker, tree):
    digest = digest_of(tree.head(), T0)
    tracker.record([Status(7, "read", "2026-03-01 12:09:00")], [], T0)
    AuditFollower(tracker, tree).catch_up()
    proof = prove_message(tracker, tree, 7, digest)
    assert proof.pending == 1 and check_proof(proof).sound


def test_the_auditors_commands_end_to_end(database_url, tracker, tree, key, tmp_path):
    path, public = key
    env_key = {"TRACKER_AUDIT_KEY": str(path)}
    os.environ.update(env_key)
    try:
        digest = run_cli(database_url, "digest", "--out", str(tmp_path / "d.json"))
        assert digest.returncode == 0, digest.stderr
        held = json.loads((tmp_path / "d.json").read_text())
        assert held["public_key"] == public.hex() and held["signature"]
        verified = run_cli(database_url, "verify", "--digest", str(tmp_path / "d.json"))
        assert verified.returncode == 0, verified.stderr
        assert f"verified {held['tree_size']:,} events" in verified.stdout
        proof = run_cli(database_url, "proof", "7", "--out", str(tmp_path / "p.json"))
        assert proof.returncode == 0, proof.stderr
    finally:
        for name in env_key:
            os.environ.pop(name)
    offline = run_cli("sqlite:////nonexistent/none.db", "verify-proof", str(tmp_path / "p.json"),
                      "--public-key", public.hex())  # fmt: skip
    assert offline.returncode == 0, offline.stderr
    assert "proven: 4 events of message 7" in offline.stdout
    data = json.loads((tmp_path / "p.json").read_text())
    data["events"][0]["version"] += 1
    (tmp_path / "p.json").write_text(json.dumps(data))
    broken = run_cli(database_url, "verify-proof", str(tmp_path / "p.json"))
    assert broken.returncode == 1 and "NOT PROVEN: the event at position" in broken.stderr
    unknown = run_cli(database_url, "proof", "99999")
    assert unknown.returncode == 2 and "message 99999 has no events" in unknown.stderr
    again = run_cli(database_url, "keygen", "--out", str(path))
    assert again.returncode == 2 and "never replaces a key" in again.stderr
    (tmp_path / "bad.pem").write_text("nope")
    bad = run_cli(database_url, "digest")
    assert bad.returncode == 0  # no key set: an unsigned digest
    os.environ["TRACKER_AUDIT_KEY"] = str(tmp_path / "bad.pem")
    try:
        refused = run_cli(database_url, "digest")
    finally:
        os.environ.pop("TRACKER_AUDIT_KEY")
    assert refused.returncode == 2 and "TRACKER_AUDIT_KEY" in refused.stderr


def test_a_long_history_is_proven_a_page_at_a_time(tracker, tree):
    for minute in range(10, 20):
        tracker.record([Status(9, "deliver", f"2026-03-01 12:{minute}:00")], [], T0)
    AuditFollower(tracker, tree).catch_up()
    digest = digest_of(tree.head(), T0)
    whole = prove_message(tracker, tree, 9, digest)
    pages, after = [], 0
    while after < 14:
        page = prove_message(tracker, tree, 9, digest, after=after, limit=3)
        assert len(page.events) == min(3, 14 - after) and check_proof(page).sound
        pages += page.events
        after += 3
    assert len(whole.events) == 14
    assert [e.position for e in pages] == [e.position for e in whole.events]


def test_a_proof_that_repeats_an_event_holds_none_or_names_no_message_is_refused(tracker, tree):
    proof = proof_of(tracker, tree, 7)

    def check(change):
        copy = msgspec.json.decode(msgspec.json.encode(proof), type=MessageProof)
        change(copy)
        return check_proof(copy)

    repeated = check(lambda p: p.events.append(p.events[0]))
    assert not repeated.sound and "listed more than once" in repeated.problems[0]
    empty = check(lambda p: p.events.clear())
    assert not empty.sound and "proves nothing" in empty.problems[0]
    for id_sms in (-1, 2**63):
        named = check(lambda p, i=id_sms: setattr(p, "id_sms", i))
        assert not named.sound and "names no message" in named.problems[0]
    bad_root = check(lambda p: setattr(p.digest, "root_hash", "zz" * 32))
    assert not bad_root.sound and "root_hash is unreadable" in bad_root.problems[-1]


def test_the_auditors_commands_never_create_a_store_nor_replace_what_they_wrote(tmp_path):
    missing = f"sqlite:///{tmp_path / 'nowhere' / 'tracker.db'}"
    for command in (["verify"], ["verify", "--views"], ["digest"], ["proof", "3"]):
        result = run_cli(missing, *command)
        assert result.returncode == 2 and "no tracker store at" in result.stderr, command
        assert "verified" not in result.stdout
    assert not (tmp_path / "nowhere").exists()
    for bad in ("-5", "99999999999999999999999", "٣"):
        refused = run_cli(missing, "proof", "--", bad)
        assert refused.returncode == 2 and "id_sms must be ASCII digits" in refused.stderr


def test_kept_files_are_never_replaced_and_keys_are_told_apart(database_url, tree, key, tmp_path):
    kept = tmp_path / "d.json"
    kept.write_text("kept")
    for command in (["digest", "--out", str(kept)], ["proof", "7", "--out", str(kept)]):
        refused = run_cli(database_url, *command)
        assert refused.returncode == 2 and "never replaced" in refused.stderr
    assert kept.read_text() == "kept"
    path, public = key
    (tmp_path / "pk.json").write_text(json.dumps({"public_key": public.hex()}))
    assert load_public_key(str(tmp_path / "pk.json")) == public  # GET /audit/public-key, saved
    with pytest.raises(ValueError, match="holds a private key"):
        load_public_key(str(path))
    path.with_suffix(".pub").write_text(public.hex())
    with pytest.raises(ValueError, match="holds a public key"):
        load_private_key(path.with_suffix(".pub"))


def test_a_proof_of_changed_events_is_refused_and_verify_views_does_not_advise_a_rebuild(
    sqlite_url, tmp_path
):
    tracker = open_tracker(Settings(database_url=sqlite_url))
    try:
        tracker.record([Status(n, "send", "2026-03-01 12:00:00") for n in (1, 2)], [], T0)
        views = open_views(tracker)
        Projector(tracker, views).catch_up()
        AuditFollower(tracker, AuditTree(views).create()).catch_up()
    finally:
        tracker.close()
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE events SET state = CAST(replace(state, 'send', 'read') AS BLOB) "
                   "WHERE notification_id = 2")  # fmt: skip
    refused = run_cli(sqlite_url, "proof", "2", "--out", str(tmp_path / "p.json"))
    assert refused.returncode == 1 and "NOT PROVEN" in refused.stderr
    assert "nothing written" in refused.stderr and not (tmp_path / "p.json").exists()
    checked = run_cli(sqlite_url, "verify", "--views")
    assert checked.returncode == 1 and "NOT VERIFIED: event 2" in checked.stderr
    assert "VIEWS DIFFER" in checked.stderr and "tracker rebuild`, which" in checked.stderr
    assert "run `tracker rebuild` to make" not in checked.stderr


def test_a_proof_given_as_a_digest_and_a_digest_as_a_proof_are_named(
    database_url, tracker, tree, tmp_path
):
    proof = tmp_path / "p.json"
    proof.write_bytes(
        msgspec.json.encode(prove_message(tracker, tree, 7, digest_of(tree.head(), T0)))
    )
    digest = tmp_path / "d.json"
    digest.write_bytes(msgspec.json.encode(digest_of(tree.head(), T0)))
    as_digest = run_cli(database_url, "verify", "--digest", str(proof))
    assert as_digest.returncode == 2 and "is a message's proof, not a digest" in as_digest.stderr
    as_proof = run_cli(database_url, "verify-proof", str(digest))
    assert as_proof.returncode == 2 and "is a digest, not a proof" in as_proof.stderr
    (tmp_path / "other.json").write_text('{"x": 1}')
    for given, said in (("other.json", "is not a tracker digest"), ("gone.json", "cannot read")):
        refused = run_cli(database_url, "verify", "--digest", str(tmp_path / given))
        assert (
            refused.returncode == 2 and said in refused.stderr and "Traceback" not in refused.stderr
        )
