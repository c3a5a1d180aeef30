"""The command line as an operator meets it: start-up failures in one line with the reason,
`--version`, and help that reads as plain sentences."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support import IN_CI
from tracker.config import Settings

COMMANDS = ["serve", "migrate", "project", "rebuild", "history", "messages", "stats",
            "quarantine", "export", "changes", "reconcile"]  # fmt: skip


def tracker(folder: Path, *args: str, prefix: tuple[str, ...] = (), **env: str):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "tracker", *args],
        cwd=folder,
        env={**clean, "COLUMNS": "100", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single line a failed start-up prints: no traceback, a non-zero exit."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_serve_when_var_is_a_file_says_so(tmp_path):
    (tmp_path / "var").write_text("not a folder")
    line = one_error_line(tracker(tmp_path, "serve", "--port", str(free_port())))
    assert line == (
        "error: cannot create the folder var for the SQLite file var/tracker.db: it is a file"
    )


def without_root_privileges() -> tuple[str, ...]:
    """A command prefix under which file permissions hold (root ignores them)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        reason = "running as root without setpriv: file permissions cannot be made to hold"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


def test_serve_without_permission_to_create_the_store_says_so(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    prefix = without_root_privileges()
    url = f"sqlite:///{locked}/var/tracker.db"
    args = ("serve", "--port", str(free_port()))
    line = one_error_line(tracker(tmp_path, *args, prefix=prefix, TRACKER_DATABASE_URL=url))
    assert line == f"error: cannot create the folder {locked}/var for the SQLite file " \
        f"{locked}/var/tracker.db: Permission denied"  # fmt: skip


def test_serve_on_a_store_file_it_may_not_open_says_so(tmp_path):
    store = tmp_path / "tracker.db"
    store.touch(mode=0o000)
    prefix = without_root_privileges()
    args = ("serve", "--port", str(free_port()))
    url = f"sqlite:///{store}"
    line = one_error_line(tracker(tmp_path, *args, prefix=prefix, TRACKER_DATABASE_URL=url))
    assert line.startswith(f"error: cannot open the SQLite file {store}: ")
    assert "permission denied" in line


def test_serve_on_a_port_in_use_says_so_before_starting_anything(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(tracker(tmp_path, "serve", "--port", str(port)))
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "--port" in line
    assert not (tmp_path / "var").exists()  # nothing was started or created


def test_an_unreachable_postgresql_server_is_reported_with_the_drivers_reason(tmp_path):
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    for args in (("serve", "--port", str(free_port())), ("history", "1")):
        line = one_error_line(tracker(tmp_path, *args, TRACKER_DATABASE_URL=url))
        assert line.startswith("error: cannot open the PostgreSQL postgres@127.0.0.1:")
        assert "Connection refused" in line  # the driver's reason, not the pool's wait


@pytest.mark.postgres
def test_a_postgresql_login_refused_is_reported_with_the_servers_reason(tmp_path, postgres_server):
    url = postgres_server.replace("postgres@", "no_such_role_here@", 1)
    line = one_error_line(tracker(tmp_path, "history", "1", TRACKER_DATABASE_URL=url))
    assert 'role "no_such_role_here" does not exist' in line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_version_prints_the_installed_version(tmp_path):
    result = tracker(tmp_path, "--version")
    assert (result.returncode, result.stdout) == (0, f"tracker {version('tracker')}\n")


# What help must never show an operator: Python types where a name belongs, the library's
# words for its internals, text cut to fit.
PLACEHOLDERS = re.compile(r"<\w+>|<\w+ range>|\b(TEXT|INTEGER|FLOAT|PATH|BOOLEAN)\b|\{[A-Z_]+\}")
INTERNAL = re.compile(r"\b(notifications?|uvicorn|aggregates?|projections?|fold)\b", re.I)


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=lambda c: " ".join(c))
def test_help_reads_as_plain_sentences(tmp_path, command):
    result = tracker(tmp_path, *command, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert not PLACEHOLDERS.search(text), PLACEHOLDERS.search(text)
    assert not INTERNAL.search(text), INTERNAL.search(text)
    assert "..." not in re.sub(r"\[(VIEW|ARGS)\]\.\.\.", "", text)  # nothing cut short
    description = text.split("\n\n", 2)[1]
    assert description.strip().endswith(".") or description.strip().endswith(":")


@pytest.mark.parametrize("command", ["messages", "stats"])
def test_conflict_is_defined_where_the_help_first_shows_it(tmp_path, command):
    text = " ".join(tracker(tmp_path, command, "--help").stdout.split())
    first = text.index("conflict")
    assert "A conflict is a report that comes after the message's final state" in text
    assert text.index("A conflict is") < first + 300


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"TRACKER_FORWARD_URL": "https://crm.example/in?token=s3cret"},
         "error: TRACKER_FORWARD_URL is set, so TRACKER_FORWARD_SECRET is needed"),
        ({"TRACKER_FORWARD_URL": "crm.example/in?token=s3cret",
          "TRACKER_FORWARD_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
         "error: TRACKER_FORWARD_URL: a value is not an http:// or https:// URL"),
    ],
)  # fmt: skip
def test_serve_with_a_forwarding_setting_it_cannot_use_says_so_in_one_line(tmp_path, env, said):
    line = one_error_line(tracker(tmp_path, "serve", "--port", str(free_port()), **env))
    assert line.startswith(said) and "s3cret" not in line


def test_forward_secret_prints_a_secret_the_settings_take(tmp_path):
    result = tracker(tmp_path, "forward-secret")
    secret = result.stdout.strip()
    assert result.returncode == 0 and secret.startswith("whsec_")
    assert tracker(tmp_path, "forward-secret").stdout.strip() != secret
    url = "https://crm.example/in"
    settings = Settings.from_env({"TRACKER_FORWARD_URL": url, "TRACKER_FORWARD_SECRET": secret})
    assert settings.forward_urls == (url,)
