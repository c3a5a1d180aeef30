"""What a request costs on its way to a handler: nothing of it waits for a worker thread."""

from __future__ import annotations

import inspect

from litestar.handlers import HTTPRouteHandler

from tracker.bootstrap import open_tracker, open_views, server_parts
from tracker.config import Settings
from tracker.web.app import create_app


def test_every_guard_is_a_coroutine_so_no_request_hops_to_a_worker_thread_to_be_let_in(tmp_path):
    # Litestar runs a guard written as a plain function in its thread pool: a hop there and
    # back for every webhook POST. With keys, tokens and an allow-list configured, every route
    # has its guards.
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'events.db'}",
        api_keys="analyst:an-analysts-key-1234,auditor:an-auditors-key-1234,admin:an-admins-key-12345",
        webhook_tokens="a-webhook-token-1234",
        webhook_allow="127.0.0.1/32",
    )
    tracker = open_tracker(settings)
    app = create_app(server_parts(tracker, open_views(tracker), settings), settings)
    guarded = 0
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for guard in handler.resolve_guards():
                assert inspect.iscoroutinefunction(guard), (route.path, guard)
                guarded += 1
    assert guarded >= 10  # the webhook, the read API, the console, metrics and admin
    tracker.close()
