"""`tracker reconcile` against a stand-in platform over real HTTP, both formats: what it asks,
what it records, how it fails, and that it never shows the credentials."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import free_port
from tests.standin_platform import LOGIN, PASSWORD, TOKEN, Answer, StandinPlatform
from tracker.application import Status
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.events import Reported, ReportedAgain
from tracker.views.projector import Projector

OLD = datetime.now(UTC) - timedelta(hours=7)  # older than the default TRACKER_RECONCILE_AFTER
SECRETS = (PASSWORD, TOKEN)


@pytest.fixture
def platform():
    standin = StandinPlatform().start()
    yield standin
    standin.stop()


def make_store(url: str, reports: dict[int, list[tuple[str, str]]], at: datetime = OLD) -> None:
    """A store holding these reports, received at ``at``, its views caught up."""
    tracker = open_tracker(Settings(database_url=url))
    try:
        views = open_views(tracker)
        tracker.record(
            [Status(n, state, time) for n, held in reports.items() for state, time in held],
            received_at=at,
        )
        Projector(tracker, views).catch_up()
    finally:
        tracker.close()


def reconcile(url: str, platform_url: str, *args: str, **settings: str):
    """Run `tracker reconcile ARGS` as an operator would; credentials by login and password."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env |= {"TRACKER_DATABASE_URL": url, "TRACKER_PLATFORM_URL": platform_url,
            "TRACKER_PLATFORM_LOGIN": LOGIN, "TRACKER_PLATFORM_PASSWORD": PASSWORD,
            "COLUMNS": "120"}  # fmt: skip
    env |= {f"TRACKER_{k.upper()}": v for k, v in settings.items()}
    result = subprocess.run([sys.executable, "-m", "tracker", "reconcile", *args], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    for secret in SECRETS:  # never in any output, whatever happened
        assert secret not in result.stdout + result.stderr
    return result


def history(url: str, id_sms: int, repeats: bool = False):
    tracker = open_tracker(Settings(database_url=url, create_tables=False))
    try:
        return [e.event for e in tracker.history(id_sms, repeats=repeats)]
    finally:
        tracker.close()


def state(url: str, id_sms: int) -> str | None:
    tracker = open_tracker(Settings(database_url=url, create_tables=False))
    try:
        message = tracker.message(id_sms)
        return message.current.state if message and message.current else None
    finally:
        tracker.close()


def test_json_a_poll_completes_a_message_and_keeps_parts_and_price(database_url, platform):
    make_store(database_url, {1: [("send", "")], 2: [("deliver", "2026-04-01 10:00:00")],
                            3: [("read", "2026-04-01 10:00:00")]})  # fmt: skip
    platform.states = {
        1: Answer("deliver", "2026-04-01 10:05:00", num_parts=2, price=10.6),
        2: Answer("deliver", "2026-04-01 10:00:00", num_parts=1, price=5.0),  # held already
        3: Answer("deliver", "2026-04-01 10:09:00"),
    }
    result = reconcile(database_url, platform.url("json"))
    assert result.returncode == 0, result.stderr
    assert platform.asked == [1, 2], "a final message is never asked about"
    assert all(r.content_type == "text/json; charset=utf-8" for r in platform.requests)
    assert "asked about 2 message(s) in 2 request(s): 1 changed, 1 unchanged, 0 failed" in (
        result.stdout
    )
    assert state(database_url, 1) == "deliver"
    polled = history(database_url, 1)[-1]
    assert (polled.state, polled.time, polled.source) == ("deliver", "2026-04-01 10:05:00", "poll")
    assert (polled.num_parts, polled.price) == (2, 10.6)
    # The repeat of a held report is a duplicate: received again, no new report.
    events = history(database_url, 2, repeats=True)
    assert [type(e) for e in events] == [Reported, ReportedAgain]
    assert state(database_url, 3) == "read"


def test_xml_asks_in_batches_and_keeps_each_channel(database_url, platform):
    make_store(database_url, {n: [("send", "")] for n in range(10, 13)})
    platform.states = {
        10: Answer("read", "2026-04-01 10:05:00", sms="not_deliver", viber="read"),
        11: Answer("deliver", "2026-04-01 10:06:00", sms="deliver"),
    }  # 12: the platform does not answer for it
    result = reconcile(database_url, platform.url("xml"))
    assert result.returncode == 0, result.stderr
    assert [r.ids for r in platform.requests] == [[10, 11, 12]]
    assert platform.requests[0].content_type == "text/xml; charset=utf-8"
    assert b'<login value="acme-login"/>' in platform.requests[0].body
    assert "in 1 request(s): 2 changed, 0 unchanged, 1 failed" in result.stdout
    polled = history(database_url, 10)[-1]
    assert (polled.state, polled.source) == ("read", "poll")
    assert polled.channels == {"sms": "not_deliver", "viber": "read"}
    assert history(database_url, 11)[-1].channels == {"sms": "deliver"}
    assert state(database_url, 12) == "send"


def test_a_polled_non_final_never_undoes_a_final(sqlite_url, platform):
    make_store(sqlite_url, {5: [("send", "")]})
    platform.states = {5: Answer("expired", "2026-04-01 10:00:00")}
    assert reconcile(sqlite_url, platform.url("json")).returncode == 0
    platform.states = {5: Answer("deliver", "2026-04-01 11:00:00")}
    # The views still list it as not final (no projector ran): the store says it is.
    again = reconcile(sqlite_url, platform.url("json"))
    assert again.returncode == 0, again.stderr
    assert platform.asked == [5]
    assert "skipped" in again.stdout and state(sqlite_url, 5) == "expired"


def test_dry_run_lists_and_asks_nothing(sqlite_url, platform):
    make_store(sqlite_url, {7: [("partly_deliver", "2026-04-01 10:00:00")], 8: [("read", "")]})
    make_store(sqlite_url, {9: [("send", "")]}, at=datetime.now(UTC))  # too recent
    result = reconcile(sqlite_url, platform.url("xml"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert platform.requests == []
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["7", "partly_deliver", "2026-04-01", "10:00:00"]
    assert "about 1 message(s) in 1 request(s); asked nothing" in lines[-1]
    recent = reconcile(sqlite_url, platform.url("json"), "--dry-run", "--after", "0s")
    assert [line.split()[0] for line in recent.stdout.splitlines()[:2]] == ["7", "9"]


def test_limit_and_rate(sqlite_url, platform):
    make_store(sqlite_url, {n: [("send", "")] for n in range(20, 26)})
    result = reconcile(sqlite_url, platform.url("json"), "--limit", "4", "--rate", "5")
    assert result.returncode == 0, result.stderr
    assert platform.asked == [20, 21, 22, 23]
    gaps = [b.at - a.at for a, b in itertools.pairwise(platform.requests)]
    assert min(gaps) >= 0.19, gaps  # 5 a second: 0.2 s apart
    assert "4 failed" in result.stdout  # the platform knows none of them


ERRORS = {
    "password": "the platform refused the status request: Incorrect login or password",
    "locked": "the platform refused the status request: Your account is locked",
    "500": "the platform answered HTTP 500 to the status request",
    "timeout": "did not answer within 1 s",
    "malformed": "the platform's answer is not JSON",
    "wrong shape": "the platform's answer is not a JSON array",
}


@pytest.mark.parametrize("failure", ERRORS)
def test_a_platform_error_ends_the_run_keeping_what_was_recorded(sqlite_url, platform, failure):
    make_store(sqlite_url, {30: [("send", "")], 31: [("send", "")], 32: [("send", "")]})
    platform.states = {n: Answer("deliver", "2026-04-01 10:00:00") for n in (30, 31, 32)}
    platform.failure, platform.fail_after, platform.late = failure, 1, 3.0
    result = reconcile(sqlite_url, platform.url("json"), "--timeout", "1", "--rate", "50")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ") and ERRORS[failure] in line, result.stderr
    assert "asked about 1 message(s) in 1 request(s): 1 changed" in result.stdout
    assert [state(sqlite_url, n) for n in (30, 31, 32)] == ["deliver", "send", "send"]


def test_xml_errors_and_an_unreachable_platform(sqlite_url, platform):
    make_store(sqlite_url, {40: [("send", "")]})
    platform.failure = "locked"
    locked = reconcile(sqlite_url, platform.url("xml"))
    assert locked.returncode == 2 and "Your account is locked" in locked.stderr
    wrong = reconcile(sqlite_url, platform.url("xml"), platform_password="not-the-password")
    assert "Incorrect login or password" in wrong.stderr and "not-the-password" not in wrong.stderr
    closed = f"http://127.0.0.1:{free_port()}/xml/state.php"
    refused = reconcile(sqlite_url, closed)
    assert refused.returncode == 2
    assert "cannot reach the platform at http://127.0.0.1:" in refused.stderr
    assert "refused" in refused.stderr.lower()
    assert state(sqlite_url, 40) == "send"


def test_a_token_instead_of_login_and_password(sqlite_url, platform):
    make_store(sqlite_url, {50: [("send", "")]})
    platform.states = {50: Answer("read", "2026-04-01 10:00:00")}
    result = reconcile(sqlite_url, platform.url("json"), platform_login="", platform_password="",
                       platform_token=TOKEN)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"token" in platform.requests[0].body and b"password" not in platform.requests[0].body
    assert state(sqlite_url, 50) == "read"


def test_missing_settings_say_which_variable_to_set(sqlite_url):
    make_store(sqlite_url, {60: [("send", "")]})
    listed = reconcile(sqlite_url, "", "--dry-run", "--after", "0s")  # lists, asks nothing
    assert listed.returncode == 0, listed.stderr
    assert "60" in listed.stdout and "would ask the platform about 1 message(s)" in listed.stdout
    assert "a real run needs the platform's settings: TRACKER_PLATFORM_URL" in listed.stdout
    no_url = reconcile(sqlite_url, "")
    assert no_url.returncode == 2
    assert no_url.stderr.strip().splitlines() == [
        "error: TRACKER_PLATFORM_URL is not set: set it to the platform's status request, "
        "https://HOST/.../json/state.php or https://HOST/.../xml/state.php"
    ]
    bare = reconcile(sqlite_url, "https://platform.example/json/state.php",
                     platform_login="", platform_password="")  # fmt: skip
    assert bare.returncode == 2
    assert (
        "set TRACKER_PLATFORM_TOKEN, or TRACKER_PLATFORM_LOGIN and TRACKER_PLATFORM_PASSWORD"
        in (bare.stderr)
    )


def test_a_run_where_there_is_no_store_names_it_and_creates_nothing(tmp_path, platform):
    missing = tmp_path / "nowhere" / "tracker.db"
    result = reconcile(f"sqlite:///{missing}", platform.url("json"))
    assert result.returncode == 2
    assert "no tracker store" in result.stderr and str(missing) in result.stderr
    assert not missing.parent.exists() and platform.requests == []


def test_the_stand_in_run_alone_is_a_platform_an_operator_can_reconcile_with(sqlite_url):
    port = free_port()
    standin = subprocess.Popen(
        [sys.executable, "-m", "tests.standin_platform", "--port", str(port), "5=deliver"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        printed = standin.stdout.readline().split()  # TRACKER_PLATFORM_URL=... (or ...)
        json_url = printed[0].removeprefix("TRACKER_PLATFORM_URL=")
        assert json_url == f"http://127.0.0.1:{port}/api/json/state.php"
        make_store(sqlite_url, {5: [("send", "")]})
        result = reconcile(sqlite_url, json_url)
        assert "1 changed" in result.stdout, result.stderr
        [_, polled] = history(sqlite_url, 5)
        assert (polled.state, polled.source, polled.num_parts) == ("deliver", "poll", 1)
    finally:
        standin.terminate()
        standin.wait(10)
