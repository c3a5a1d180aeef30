"""GET /stats?by= over real HTTP: the breakdown of a store's registered messages, its range,
its 400s naming the parameter, and 409 for views made before the breakdowns until a rebuild."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import LiveServer, served
from tracker.application import Status
from tracker.application.commands import Batch, Registering
from tracker.bootstrap import open_tracker, open_views
from tracker.config import Settings
from tracker.domain.registration import Registration
from tracker.views.projector import Projector

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
TIME = "2026-12-01 12:00:00"


def fill(database_url: str, *, made_before: bool = False) -> None:
    """Six messages sent over three days by two senders, four with an outcome; with
    ``made_before``, views as they were before the breakdown tables existed."""
    tracker = open_tracker(Settings(database_url=database_url))
    try:
        registering = tuple(
            Registering(
                n,
                Registration(
                    T0 + timedelta(days=n % 3), "acme" if n < 5 else "beta", "xmas", "sms"
                ),
            )
            for n in range(1, 7)
        )
        tracker.record_batches([Batch((), registrations=registering, received_at=T0)])
        outcomes = [(1, "deliver"), (2, "read"), (3, "not_deliver"), (5, "deliver")]
        for n, state in outcomes:
            tracker.record(
                [Status(n, state, TIME)], received_at=T0 + timedelta(days=n % 3, seconds=30)
            )
        if made_before:
            views = open_views(tracker)
            Projector(tracker, views).catch_up()
            with views.datastore.transaction(commit=True) as cursor:
                for table in ("breakdown", "breakdown_times"):
                    cursor.execute(f"DROP TABLE {views.tables.table(table)}")
    finally:
        tracker.close()


def serve(request, tmp_path_factory, **fill_options) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("breakdown")
    yield from served(request, folder, lambda url: fill(url, **fill_options))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(request, tmp_path_factory) -> Iterator[LiveServer]:
    yield from serve(request, tmp_path_factory)


@pytest.fixture(scope="module", params=["sqlite"])
def old_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    yield from serve(request, tmp_path_factory, made_before=True)


def get(server: LiveServer, **params):
    with server.client() as client:
        return client.get("/stats", params=params)


def test_stats_by_sender_campaign_channel_and_day(server):
    by_sender = get(server, by="sender")
    assert by_sender.status_code == 200, by_sender.text
    answer = by_sender.json()
    assert (answer["by"], answer["from_day"], answer["to_day"]) == ("sender", None, None)
    acme, beta = answer["groups"]
    assert (acme["key"], acme["messages"], acme["states"]) == (
        "acme", 4, {"deliver": 1, "read": 1, "not_deliver": 1, "registered": 1}
    )  # fmt: skip
    assert (acme["delivered"], acme["known"], acme["pending"]) == (2, 3, 1)
    assert acme["delivery_rate"] == pytest.approx(2 / 3)
    assert acme["p50"] == pytest.approx(30, rel=0.01)
    assert [p["day"] for p in acme["daily"]] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert (beta["key"], beta["messages"], beta["deliveries"]) == ("beta", 2, 1)
    assert answer["total"]["messages"] == 6
    assert get(server, by="campaign").json()["groups"][0]["key"] == "xmas"
    assert [g["key"] for g in get(server, by="channel").json()["groups"]] == ["sms"]
    days = get(server, by="day", **{"from": "2026-12-02", "to": "2026-12-03"}).json()
    assert [(g["key"], g["messages"]) for g in days["groups"]] == [
        ("2026-12-02", 2), ("2026-12-03", 2)
    ]  # fmt: skip
    assert days["total"]["messages"] == 4 and days["groups"][0]["daily"] == []
    plain = get(server).json()  # without by: the stats as they were
    assert plain["messages"] == 6 and "groups" not in plain


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"by": "country"}, "by"),
        ({"by": "day", "from": "2026-12-32"}, "from"),
        ({"by": "day", "to": "yesterday"}, "to"),
        ({"by": "day", "from": "2026-12-03", "to": "2026-12-01"}, "from"),
        ({"from": "2026-12-01"}, "from"),
    ],
)
def test_a_bad_breakdown_parameter_is_a_400_naming_it(server, params, named):
    response = get(server, **params)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(f"{named}: ")


def test_views_made_before_the_breakdowns_answer_409_until_a_rebuild(old_server):
    response = get(old_server, by="sender")
    assert response.status_code == 409
    assert "run `tracker rebuild`" in response.json()["detail"]
    assert get(old_server).status_code == 200
    with old_server.client() as client:
        assert client.post("/admin/rebuild").status_code == 202
        deadline = time.monotonic() + 30
        while client.get("/admin/rebuild").json()["state"] != "done":
            assert time.monotonic() < deadline, "the rebuild did not finish within 30 s"
            time.sleep(0.1)
    answer = get(old_server, by="sender")
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"]["messages"] == 6
