"""Settings from TRACKER_* variables: defaults that work, and errors that name the variable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tracker.config import Settings, SettingsError


def test_no_settings_at_all_is_a_working_configuration():
    settings = Settings.from_env({})
    assert (settings.database_url, settings.host, settings.port) == (
        "sqlite:///./var/tracker.db", "127.0.0.1", 8000
    )  # fmt: skip
    assert settings.tokens == ()


def test_values_come_from_tracker_variables_as_text():
    settings = Settings.from_env(
        {"TRACKER_PORT": "9001", "TRACKER_CREATE_TABLES": "false", "UNRELATED": "x"}
    )
    assert (settings.port, settings.create_tables) == (9001, False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRACKER_PORT": "eighty"}, "TRACKER_PORT"),
        ({"TRACKER_PORT": "70000"}, "TRACKER_PORT"),
        ({"TRACKER_PROJECTIONS": "sometimes"}, "TRACKER_PROJECTIONS"),
        ({"TRACKER_WEBHOOK_TOKENS": "short"}, "at least 16 characters"),
        ({"TRACKER_WEBHOOK_TOKENS": "0123456789abcdef/../x"}, "URL-safe"),
        ({"TRACKER_API_KEYS": "analyst:short"}, "TRACKER_API_KEYS: every secret needs at least"),
        ({"TRACKER_API_KEYS": "0123456789abcdef"}, "TRACKER_API_KEYS: 012... is not ROLE:KEY"),
        ({"TRACKER_API_KEYS": "root:0123456789abcdef"}, "unknown role root"),
        ({"TRACKER_WEBHOOK_ALLOW": "10.0.0.0/8,10.300.0.0/16"}, "TRACKER_WEBHOOK_ALLOW"),
        ({"TRACKER_METRICS_OPEN": "perhaps"}, "TRACKER_METRICS_OPEN"),
        ({"TRACKER_METRICS_GROUPS": "0"}, "TRACKER_METRICS_GROUPS: Expected `int` >= 1"),
        ({"TRACKER_HEADER_TIMEOUT": "0"}, "TRACKER_HEADER_TIMEOUT: Expected `float` > 0"),
        ({"TRACKER_BODY_TIMEOUT": "a minute"}, "TRACKER_BODY_TIMEOUT: Expected `float`"),
        ({"TRACKER_WEBHOOK_TOKENS": "the platform:0123456789abcdef"}, "token 1's name"),
        ({"TRACKER_WEBHOOK_TOKENS": "a:0123456789abcdef,a:fedcba9876543210"}, "same name"),
        ({"TRACKER_WEBHOOK_TOKENS": "a:short"}, "at least 16 characters"),
        ({"TRACKER_REQUEST_LOG_KEEP": "a month"}, "TRACKER_REQUEST_LOG_KEEP"),
        ({"TRACKER_REQUEST_LOG_MAX_BYTES": "-1"}, "TRACKER_REQUEST_LOG_MAX_BYTES"),
        ({"TRACKER_REQUEST_LOG": "maybe"}, "TRACKER_REQUEST_LOG"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_named(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_slow_clients_get_a_deadline_of_at_most_a_minute_unless_told_otherwise():
    settings = Settings.from_env({})
    assert (settings.header_timeout, settings.body_timeout) == (15, 60)
    settings = Settings.from_env({"TRACKER_HEADER_TIMEOUT": "2.5", "TRACKER_BODY_TIMEOUT": "90"})
    assert (settings.header_timeout, settings.body_timeout) == (2.5, 90)


def test_several_webhook_tokens_let_one_be_rotated():
    settings = Settings.from_env(
        {"TRACKER_WEBHOOK_TOKENS": " 0123456789abcdef , fedcba9876543210 "}
    )
    assert settings.tokens == ("0123456789abcdef", "fedcba9876543210")


def test_webhook_tokens_may_be_named_and_a_bare_one_is_named_by_its_position():
    settings = Settings.from_env(
        {"TRACKER_WEBHOOK_TOKENS": "platform:0123456789abcdef, fedcba9876543210"}
    )
    assert settings.tokens == ("0123456789abcdef", "fedcba9876543210")
    assert settings.named_tokens == (
        ("platform", "0123456789abcdef"),
        ("token-2", "fedcba9876543210"),
    )
    assert "0123456789abcdef" not in repr(settings)


def test_the_request_log_is_on_by_default_keeping_bodies_30_days_and_1_gib():
    settings = Settings.from_env({})
    assert settings.request_log and settings.request_log_age == timedelta(days=30)
    assert settings.request_log_max_bytes == 1024**3
    off = Settings.from_env({"TRACKER_REQUEST_LOG": "false", "TRACKER_REQUEST_LOG_KEEP": "6h"})
    assert not off.request_log and off.request_log_age == timedelta(hours=6)


def test_api_keys_are_role_and_key_pairs():
    a, b, c = "a" * 16, "b" * 16, "c" * 16
    settings = Settings.from_env({"TRACKER_API_KEYS": f"auditor:{a}, analyst:{b},admin:{c}"})
    assert settings.keys == (("auditor", a), ("analyst", b), ("admin", c))


def test_the_webhook_allow_list_takes_ipv4_and_ipv6_networks():
    settings = Settings.from_env(
        {"TRACKER_WEBHOOK_ALLOW": "203.0.113.0/24, 2001:db8::/32,10.1.2.3"}
    )
    assert [str(n) for n in settings.allowed_networks] == [
        "203.0.113.0/24", "2001:db8::/32", "10.1.2.3/32"
    ]  # fmt: skip


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRACKER_FORWARD_URL": "https://crm.example/in"}, "TRACKER_FORWARD_SECRET is needed"),
        (
            {"TRACKER_FORWARD_URL": "ftp://crm.example/in", "TRACKER_FORWARD_SECRET": SECRET},
            "not an http:// or https:// URL",
        ),
        (
            {"TRACKER_FORWARD_URL": "crm.example/in", "TRACKER_FORWARD_SECRET": SECRET},
            "not an http:// or https:// URL",
        ),
        (
            {"TRACKER_FORWARD_URL": "https://crm.example:99999/", "TRACKER_FORWARD_SECRET": SECRET},
            "not an http:// or https:// URL",
        ),
        (
            {"TRACKER_FORWARD_URL": "https://[::1/in?k=s3cret", "TRACKER_FORWARD_SECRET": SECRET},
            "TRACKER_FORWARD_URL: a value is not an http:// or https:// URL",
        ),
        (
            {
                "TRACKER_FORWARD_URL": "https://a.example/,https://a.example/",
                "TRACKER_FORWARD_SECRET": SECRET,
            },
            "given twice",
        ),
        ({"TRACKER_FORWARD_SECRET": "not-base64!"}, "TRACKER_FORWARD_SECRET: a webhook secret"),
        ({"TRACKER_FORWARD_SECRET": "whsec_c2hvcnQ="}, "at least 16 bytes"),
        ({"TRACKER_FORWARD_FROM": "yesterday"}, "TRACKER_FORWARD_FROM"),
        ({"TRACKER_FORWARD_BATCH": "0"}, "TRACKER_FORWARD_BATCH"),
        ({"TRACKER_FORWARD_MAX_BACKOFF": "0s"}, "TRACKER_FORWARD_MAX_BACKOFF: at least 1s"),
        ({"TRACKER_FORWARD_MAX_BACKOFF": "ten"}, "TRACKER_FORWARD_MAX_BACKOFF"),
    ],
)
def test_a_bad_forwarding_setting_is_refused_in_one_line_naming_it(env, message):
    with pytest.raises(SettingsError, match=message) as refused:
        Settings.from_env(env)
    assert "\n" not in str(refused.value)


def test_forwarding_urls_are_comma_separated_and_their_credentials_never_shown():
    url = "https://user:pw@crm.example/in?token=s3cret"
    settings = Settings.from_env(
        {
            "TRACKER_FORWARD_URL": f"{url}, http://10.0.0.5:8080/hook",
            "TRACKER_FORWARD_SECRET": SECRET,
        }
    )
    assert settings.forward_urls == (url, "http://10.0.0.5:8080/hook")
    assert (settings.forward_from, settings.forward_batch, settings.forward_backoff) == (
        "now", 100, 600.0
    )  # fmt: skip
    assert "s3cret" not in repr(settings) and SECRET not in repr(settings)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"TRACKER_FORWARD_URL": "gopher://user:s3cret@x.example/"})
    assert "s3cret" not in str(refused.value)
