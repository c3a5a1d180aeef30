"""`tracker stats --by` as a person runs it: the JSON the API gives, the tables, the chart of
--plot, and clear errors for a bad --by, --from or --to."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from tests.support import run_cli
from tracker.application import Status
from tracker.application.commands import Batch, Registering
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.registration import Registration
from tracker.read import queries
from tracker.views.projector import Projector

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    tracker = open_tracker(Settings(database_url=url))
    try:
        registering = tuple(
            Registering(n, Registration(T0 + timedelta(days=n % 4), f"sender-{n % 2}"))
            for n in range(1, 21)
        )
        tracker.record_batches([Batch((), registrations=registering, received_at=T0)])
        for n in range(1, 21, 2):
            state = "deliver" if n % 3 else "expired"
            at = T0 + timedelta(days=n % 4, seconds=n)
            tracker.record([Status(n, state, "2026-12-01 12:00:00")], received_at=at)
        views = open_views(tracker)
        Projector(tracker, views).catch_up()
        yield url, views
    finally:
        tracker.close()


def test_json_is_the_read_apis_answer(store):
    url, views = store
    for args, by, first, last in [
        ((), "sender", None, None),
        (("--from", "2026-12-02", "--to", "2026-12-03"), "day", "2026-12-02", "2026-12-03"),
    ]:
        result = run_cli(url, "stats", "--by", by, *args, "--json")
        assert result.returncode == 0, result.stderr
        days = [datetime.fromisoformat(d).date() if d else None for d in (first, last)]
        answer = queries.breakdown(views, by, *days)
        assert json.loads(result.stdout) == json.loads(msgspec.json.encode(answer))


def test_tables_show_each_group_and_the_total(store):
    url, _ = store
    result = run_cli(url, "stats", "--by", "sender")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "messages by sender" in out and "delivery rate" in out and "p95 s" in out
    assert "sender-0" in out and "sender-1" in out and "all" in out
    assert "registered" in out and "expired" in out


def test_plot_draws_volume_and_delivery_rate_per_day(store):
    url, _ = store
    result = run_cli(url, "stats", "--by", "day", "--plot")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "messages sent per day (UTC)" in out and "delivery rate per day" in out
    assert "█" in out, "volume bars"
    assert "12-01" in out and "12-04" in out, "days on the axis"
    assert "\x1b[" not in out, "no colour codes when not on a terminal"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--by", "country"), "error: by: 'country' is not one of sender, campaign, channel"),
        (("--by", "day", "--from", "2026-02-30"), "error: --from: '2026-02-30' is not a UTC"),
        (("--by", "day", "--to", "12/01/2026"), "error: --to: '12/01/2026' is not a UTC date"),
        (("--from", "2026-12-01"), "error: --from, --to and --plot apply only with --by"),
        (("--plot",), "error: --from, --to and --plot apply only with --by"),
    ],
)
def test_bad_options_say_what_is_wrong(store, args, error):
    url, _ = store
    result = run_cli(url, "stats", *args)
    assert result.returncode == 2
    assert result.stderr.startswith(error), result.stderr
