"""With TRACKER_WEBHOOK_TOKENS set, the webhook answers only at /webhooks/webcom/<token>."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import start_server, stop_server

OLD, NEW = "old-token-0123456789abcdef", "new-token-fedcba9876543210"  # rotating: both valid
BODY = b'[{"id_sms": 9900, "time": "", "state": "send"}]'


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokens")
    server = start_server(
        f"sqlite:///{folder / 'tracker.db'}", folder / "server.log", webhook_tokens=f"{OLD},{NEW}"
    )
    yield server
    stop_server(server)


def post(server, path, body=BODY):
    with server.client() as client:
        return client.post(path, content=body)


@pytest.mark.parametrize(
    "path", ["/webhooks/webcom", "/webhooks/webcom/", "/webhooks/webcom/not-the-token-at-all"]
)
def test_without_the_right_token_the_webhook_is_not_there_and_stores_nothing(guarded, path):
    assert post(guarded, path).status_code in (404, 405)
    with guarded.client() as client:
        assert client.get("/messages/9900/history").status_code == 404


def test_every_configured_token_works_so_one_can_be_rotated(guarded):
    for n, token in enumerate((OLD, NEW)):
        body = f'[{{"id_sms": {9910 + n}, "time": "", "state": "send"}}]'.encode()
        response = post(guarded, f"/webhooks/webcom/{token}", body)
        assert (response.status_code, response.json()) == (200, [{"id_sms": 9910 + n}])


def test_tokens_are_never_written_to_the_log_or_the_metrics(guarded):
    post(guarded, f"/webhooks/webcom/{OLD}")
    post(guarded, "/webhooks/webcom/a-wrong-guess-of-a-token")
    with guarded.client() as client:
        metrics = client.get("/metrics").text
    log = guarded.log.read_text()
    for secret in (OLD, NEW, "a-wrong-guess-of-a-token"):
        assert secret not in log
        assert secret not in metrics
    assert '"path":"/webhooks/webcom/{token}"' in log
