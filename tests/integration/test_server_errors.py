"""An operator learns why a request failed: an unexpected error is logged with its traceback,
while the answers the API means to give (a 404, a 400) log no traceback."""

from __future__ import annotations

import logging

from litestar.testing import TestClient

from tracker.bootstrap import open_tracker, open_views, server_parts
from tracker.config import Settings
from tracker.read import queries
from tracker.web.app import create_app


def test_a_500_is_logged_with_its_traceback_and_a_404_is_not(sqlite_url, monkeypatch, caplog):
    settings = Settings(database_url=sqlite_url)
    tracker = open_tracker(settings)
    views = open_views(tracker)

    def broken(*args, **kwargs):
        raise RuntimeError("a defect in a read")

    monkeypatch.setattr(queries, "stats", broken)
    app = create_app(server_parts(tracker, views, settings), settings)
    litestar_log = logging.getLogger("litestar")  # it does not propagate to caplog's root
    litestar_log.addHandler(caplog.handler)
    try:
        with TestClient(app) as client:
            assert client.get("/stats").status_code == 500
            failed = [r for r in caplog.records if r.exc_info and "a defect" in str(r.exc_info[1])]
            assert failed, [r.getMessage() for r in caplog.records]
            caplog.clear()
            assert client.get("/messages/123456789").status_code == 404
            assert not [r for r in caplog.records if r.exc_info]
    finally:
        litestar_log.removeHandler(caplog.handler)
        tracker.close()
