"""Every shell example of README.md and docs/usage.md, run in order on one fresh store with a real
server, its output compared with the one the document shows: the documents cannot drift.

The examples run in a fresh folder (its `var/tracker.db` is the store, `.venv` the checkout's),
as a reader who follows README.md and then docs/usage.md would run them. `make run` is replaced
by `tracker serve` on a free port, which the examples' `curl` lines are pointed at; a `.curlrc`
in the test's home makes curl quiet and fail on an HTTP error (an example that gets a 404 fails).

Shown output is compared line by line, in order, after what differs from run to run is evened
out: times (each time a document shows is mapped to the one the run printed in its place, so a
later example that quotes it, `--as-of TIME`, gets the run's), durations, rates, checksums, the
widths of tables. `...` in shown output stands for anything. Shown JSON is compared as JSON.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveServer, free_port, start_server, stop_server

ROOT = Path(__file__).parents[2]
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "usage.md"]

# Examples that cannot run here, by the start of their command, and why.
SKIPPED = {
    "make run": "the test starts the same server itself (`tracker serve` on a free port)",
    "make test": "runs this very suite",
    "export TRACKER_DATABASE_URL=postgresql://tracker@db.internal": "a production host's "
    "set-up; the same steps on the local PostgreSQL: tests/reliability/test_scale_out.py",
    "tracker migrate ": "PostgreSQL set-up on a production host (the block above)",
    "TRACKER_CREATE_TABLES=false": "PostgreSQL set-up on a production host (the block above)",
    'psql -c "CREATE ROLE': "needs an administrator of a production PostgreSQL; the same steps "
    "on the local one: tests/integration/test_append_only_role.py",
    "TRACKER_DATABASE_URL=postgresql://": "a production host's set-up (the block above)",
    ".venv/bin/python -m tests.standin_platform": "serves until stopped; tests/integration/"
    "test_reconcile.py runs it so and reconciles with it",
    "curl -N localhost:8000/changes/stream": "streams until stopped; tests/e2e/"
    "test_change_feed.py reads a stream, cuts it and resumes it",
}

TIME = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d:\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)?(?![\d:])")
VARYING = [  # (pattern, what it becomes), applied after the times
    (re.compile(r"\b\d+:\d\d:\d\d\b"), "<duration>"),
    (re.compile(r"[\d,.]+ (\w+)/s\b"), r"<n> \1/s"),
    (re.compile(r"\bin [\d.]+ s\b"), "in <n> s"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
    (re.compile(r"([─━═│┃┏┓┗┛┡┩└┘┳┻╇┴┬┼])\1+"), r"\1"),  # table rules, whatever their width
    (re.compile(r"\s+"), " "),
]


@dataclass
class Example:
    document: str
    command: str
    shown: list[str] = field(default_factory=list)  # the output the document shows

    def __str__(self) -> str:
        return f"{self.document}: {self.command}"


def examples() -> list[Example]:
    """The shell examples of each document in order: `$ ` lines (or, in a block without them,
    every line) start commands, which go on while a quote or a backslash is open; the lines
    after a `$ ` command, or `# ` lines right after a bare one, are its output."""
    found: list[Example] = []
    for document in DOCUMENTS:
        text = document.read_text()
        for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
            found.extend(_block(document.relative_to(ROOT).as_posix(), block.splitlines()))
    return found


def _block(document: str, lines: list[str]) -> list[Example]:
    prompted = any(line.startswith("$ ") for line in lines)
    found: list[Example] = []
    pending: list[str] = []
    for line in lines:
        if pending:
            pending.append(line)
        elif prompted and line.startswith("$ "):
            pending = [line[2:]]
        elif not prompted and line.strip() and not line.startswith("#"):
            pending = [line]
        elif found and line.strip() and (prompted or line.startswith("# ")):
            found[-1].shown.append(line if prompted else line[2:])
            continue
        else:
            continue
        command = "\n".join(pending)
        if _complete(command):
            found.append(Example(document, command))
            pending = []
    assert not pending, f"{document}: an example never ends: {pending}"
    return found


def _complete(command: str) -> bool:
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:  # a quote still open
        return False
    return True


def _skipped(example: Example) -> str | None:
    for start, reason in SKIPPED.items():
        if example.command.startswith(start):
            return reason
    return None


def evened(text: str) -> str:
    text = TIME.sub("<time>", text)
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return text.strip()


def _times_json(value: object) -> object:
    if isinstance(value, dict):
        return {k: _times_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_times_json(v) for v in value]
    return evened(value) if isinstance(value, str) else value


class Session:
    """The folder, the server and what the run printed for each time a document shows."""

    def __init__(self, folder: Path, server: LiveServer):
        self.folder = folder
        self.server = server
        self.port = server.base_url.rsplit(":", 1)[1]
        self.times: dict[str, str] = {}
        home = folder.parent / "home"
        home.mkdir(exist_ok=True)
        (home / ".curlrc").write_text("silent\nshow-error\nfail-with-body\n")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        self.env = {
            **clean,
            "HOME": str(home),
            "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "COLUMNS": "120",  # the width the documents were printed at
        }

    def run(self, example: Example) -> None:
        command = re.sub(r"(localhost|127\.0\.0\.1):8000", rf"\1:{self.port}", example.command)
        for shown, printed in self.times.items():
            command = command.replace(shown, printed)
        self.server.settled()  # the views have every stored event, as a reader would wait
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = result.stderr + result.stdout
        if result.returncode != 0:
            pytest.fail(f"{example}\nexited {result.returncode}:\n{output}")
        if example.shown:
            self.compare(example, result.stdout, output)

    def compare(self, example: Example, stdout: str, output: str) -> None:
        shown = "\n".join(example.shown)
        try:
            expected = json.loads(shown)
        except ValueError:
            pass
        else:
            assert _times_json(json.loads(stdout)) == _times_json(expected), str(example)
            return
        printed = output.splitlines()
        at = 0
        for line in example.shown:
            if line.strip() == "...":
                continue
            pattern = re.compile(".*".join(map(re.escape, evened(line).split("..."))))
            while at < len(printed) and not pattern.fullmatch(evened(printed[at])):
                at += 1
            if at == len(printed):
                pytest.fail(f"{example}\nshows the line\n  {line}\nbut printed:\n{output}")
            self.learn(line, printed[at])
            at += 1

    def learn(self, shown: str, printed: str) -> None:
        pairs = list(zip(TIME.findall(shown), TIME.findall(printed), strict=False))
        self.times.update((s, p) for s, p in pairs if s != p)


@pytest.fixture
def session(tmp_path) -> Session:
    folder = tmp_path / "checkout"
    folder.mkdir()
    (folder / ".venv").symlink_to(ROOT / ".venv")
    server = start_server(
        f"sqlite:///{folder / 'var' / 'tracker.db'}", tmp_path / "server.log", port=free_port()
    )
    try:
        yield Session(folder, server)
    finally:
        stop_server(server)


def test_every_shell_example_of_the_readme_and_the_usage_guide_runs_as_shown(session):
    ran = []
    for example in examples():
        if _skipped(example) is None:
            session.run(example)
            ran.append(example.command)
    assert len(ran) >= 15, ran


def test_every_skipped_example_is_named_with_its_reason():
    skipped = {start for start in SKIPPED for e in examples() if e.command.startswith(start)}
    assert skipped == set(SKIPPED)  # no stale entry hides a runnable example


def test_no_two_examples_post_the_same_message():
    """Examples of one document after another share the store: a message posted in two
    documents would make the later one's outputs depend on the earlier one."""
    posted: dict[str, set[int]] = {}
    for example in examples():
        if "/webhooks/webcom" in example.command:
            ids = {int(i) for i in re.findall(r'"id_sms": "?0*(\d+)"?', example.command)}
            posted.setdefault(example.document, set()).update(ids)
    readme, usage = posted["README.md"], posted["docs/usage.md"]
    assert readme and usage and not readme & usage
