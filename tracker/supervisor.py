"""The supervisor of `tracker serve`'s children (writer, projector, reconciler): started with
explicit environments, started again should they die, stopped with the server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path

from tracker.writer_process import socket_path


class ChildFailed(RuntimeError):
    """A child process that could not be started."""


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class ChildProcess:
    """A `tracker` command run as a child of `tracker serve`: started and stopped with it,
    started again should it die, and gone by itself should the server die first.

    Its environment is ``env``, given whole: the server's settings as values, never by
    changing this process's environment. ``warn`` says when the child is started again."""

    what = "child"

    def __init__(
        self, *args: str, env: Mapping[str, str], warn: Callable[[str], None] = _to_stderr
    ):
        self.command = [sys.executable, "-m", "tracker", *args, "--parent-pid", str(os.getpid())]
        self.env = dict(env)
        self.warn = warn
        self.process: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._keep_running, name=self.what, daemon=True)

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env)
        self._watch.start()

    def _keep_running(self) -> None:
        failures = 0
        while not self._stop.wait(1.0):
            code = self.process.poll()  # type: ignore[union-attr]
            if code is None:
                failures = 0
                continue
            failures += 1
            delay = min(30.0, 0.5 * 2**failures)
            self.warn(
                f"the {self.what} process exited ({code}); starting it again in {delay:.0f} s"
            )
            if not self._stop.wait(delay):
                self.process = subprocess.Popen(self.command, env=self.env)

    def stop(self) -> None:
        self._stop.set()
        if self._watch.is_alive():
            self._watch.join()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ProjectorProcess(ChildProcess):
    """`tracker project` as a child of `tracker serve`.

    A process rather than a thread of the server: the projection then runs on another core
    instead of sharing the writers' interpreter lock (ingest about 40% faster on SQLite,
    measured in bench/). Polling every 0.1 s keeps the views within a fraction of a second.
    """

    what = "projector"

    def __init__(
        self,
        env: Mapping[str, str],
        warn: Callable[[str], None] = _to_stderr,
        interval: float = 0.1,
    ):
        super().__init__("project", "--interval", str(interval), env=env, warn=warn)


class ReconcilerProcess(ChildProcess):
    """`tracker reconcile` on TRACKER_RECONCILE_EVERY's period, as a child of `tracker serve`: a
    process of its own, so that a slow platform never holds the server's event loop or writer
    (on SQLite it takes its turn with the writer for each commit)."""

    what = "reconciler"

    def __init__(self, env: Mapping[str, str], warn: Callable[[str], None] = _to_stderr):
        super().__init__("reconcile", "--periodic", env=env, warn=warn)


class WriterProcess(ChildProcess):
    """`tracker write` as a child of `tracker serve`: the one writer that commits the batches of
    every server process (tracker.writer_process says why a process of its own)."""

    what = "writer"

    def __init__(self, env: Mapping[str, str], warn: Callable[[str], None] = _to_stderr):
        self.path = socket_path()
        super().__init__("write", "--socket", self.path, env=env, warn=warn)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(Path(self.path).parent, ignore_errors=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once the writer accepts connections; stop it and raise ``ChildFailed`` if it
        exits first or does not listen in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (code := self.process.poll()) is not None:  # type: ignore[union-attr]
                self.stop()
                raise ChildFailed(f"the writer process exited at start-up ({code})")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe, suppress(OSError):
                probe.connect(self.path)
                return
            time.sleep(0.05)
        self.stop()
        raise ChildFailed(f"the writer process did not listen on {self.path} in {timeout:.0f} s")
