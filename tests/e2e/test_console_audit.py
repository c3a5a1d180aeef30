"""The console's audit card in a real browser: how far the history was verified, the current
digest, and a message's proof, for the roles that may see them."""

from __future__ import annotations

import re

import msgspec
from playwright.sync_api import expect

from tests.e2e.conftest import KEYS
from tests.e2e.test_audit_http import caught_up, post, verify
from tracker.audit.digest import Digest
from tracker.audit.proof import MessageProof, check_proof
from tracker.audit.tree import AuditTree
from tracker.audit.verify import verify_log
from tracker.bootstrap import open_views
from tracker.web.console.render import COOKIE, when


def events(n: int) -> str:
    return f"{n:,} event" + ("" if n == 1 else "s")


# The first test of the module: nothing was verified on its server before it.
def test_the_overview_says_the_history_is_not_verified_until_tracker_verify_ran(live_server, page):
    post(live_server, {"id_sms": 7301, "time": "2024-05-01 10:00:00", "state": "send"})
    digest = caught_up(live_server)
    size, root = digest["tree_size"], digest["root_hash"]

    page.goto(f"{live_server.base_url}/ui/")
    card = page.locator("#audit")
    expect(card.locator(".value")).to_have_text("not verified yet")
    expect(card.locator("#verified")).to_have_text(
        f"the audit tree holds {events(size)}; run tracker verify to check the stored "
        "history against it"
    )
    expect(card.locator("#digest")).to_have_text(
        f"current digest: {events(size)}, root {root[:16]}…, unsigned (no TRACKER_AUDIT_KEY)"
    )
    expect(card).to_have_class(re.compile(r"\bbehind\b"))

    result = verify(live_server)
    post(live_server, {"id_sms": 7301, "time": "2024-05-01 10:00:03", "state": "deliver"})
    caught_up(live_server)
    page.reload()
    expect(card.locator(".value")).to_have_text("verified")
    expect(card.locator("#verified")).to_have_text(
        f"history verified up to event {size:,} at {when(result.head.at)}; 1 event stored since"
    )
    expect(card).not_to_have_class(re.compile(r"\bbehind\b"))


def test_a_timeline_says_how_far_the_history_was_verified_and_links_to_its_proof(live_server, page):
    for state, at in (("send", "10:00:00"), ("deliver", "10:00:02"), ("read", "10:00:04")):
        post(live_server, {"id_sms": 7302, "time": f"2024-05-01 {at}", "state": state})
    digest = caught_up(live_server)
    result = verify(live_server)

    page.goto(f"{live_server.base_url}/ui/messages/7302")
    card = page.locator("#audit")
    expect(card.locator("#verified")).to_have_text(
        f"history verified up to event {result.head.size:,} at {when(result.head.at)}"
    )
    expect(card.locator("#digest")).to_contain_text(f"root {digest['root_hash'][:16]}…")
    link = card.get_by_role("link", name="this message's proof")
    assert link.get_attribute("href") == "/ui/messages/7302/proof"
    with page.expect_navigation():
        link.click()
    answer = page.request.get(page.url)
    proof = msgspec.json.decode(answer.body(), type=MessageProof)
    assert answer.headers["x-total-count"] == "3"
    assert (check_proof(proof).proved, proof.digest.root_hash) == (3, digest["root_hash"])


def test_only_auditors_and_admins_see_the_audit_and_the_proof(keyed):
    with keyed.client(headers={"Authorization": f"Bearer {KEYS['auditor']}"}) as client:
        public = bytes.fromhex(client.get("/audit/public-key").json()["public_key"])
    for role, sees in (("auditor", True), ("admin", True), ("analyst", False)):
        with keyed.client(cookies={COOKIE: KEYS[role]}) as client:
            overview, timeline = client.get("/ui/"), client.get("/ui/messages/4100")
            proof = client.get("/ui/messages/4100/proof")
        assert (overview.status_code, timeline.status_code) == (200, 200)
        assert ('id="audit"' in overview.text, 'id="audit"' in timeline.text) == (sees, sees)
        assert ('href="/ui/messages/4100/proof"' in timeline.text) == sees
        if sees:
            assert "…, signed</span>" in overview.text
            check = check_proof(msgspec.json.decode(proof.content, type=MessageProof), public)
            assert (check.sound, check.proved) == (True, 1), check.problems
        else:
            assert proof.status_code == 403
            assert "it needs an admin or auditor key" in proof.text


def test_a_verification_that_found_the_history_changed_is_shown_until_one_is_sound(
    live_server, page
):
    """(Run last: it leaves a failed verification on the module's server until it clears it.)
    A digest that the store does not extend makes the verification unsound, as tampering
    would: the card and the gauge say so, and the next sound verification clears both."""
    post(live_server, {"id_sms": 7309, "time": "2024-05-01 10:00:00", "state": "send"})
    digest = msgspec.json.decode(msgspec.json.encode(caught_up(live_server)), type=Digest)
    other = msgspec.structs.replace(digest, root_hash="ab" * 32)
    tracker = live_server.open_store()
    try:
        tree = AuditTree(open_views(tracker, create=False))
        failed = verify_log(tracker, tree, [("other.json", other)])
        assert not failed.sound
        page.goto(f"{live_server.base_url}/ui/")
        card = page.locator("#audit")
        expect(card.locator(".value")).to_have_text("changed")
        expect(card).to_have_class(re.compile(r"\bfailed\b"))
        expect(card.locator("#verified")).to_contain_text("found the stored history changed")
        metrics = page.request.get(f"{live_server.base_url}/metrics").text()
        assert "tracker_audit_verify_failed 1.0" in metrics
        assert verify_log(tracker, tree).sound
    finally:
        tracker.close()
    page.reload()
    expect(card.locator(".value")).to_have_text("verified")
    assert (
        "tracker_audit_verify_failed 0.0"
        in page.request.get(f"{live_server.base_url}/metrics").text()
    )
