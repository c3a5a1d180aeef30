"""On SQLite one process of a host keeps the views live; another takes over when it dies."""

from __future__ import annotations

import subprocess
import sys

from tracker.bootstrap import projector_election
from tracker.config import Settings

HOLD = """
import sys, time
from tracker.bootstrap import projector_election
from tracker.config import Settings
print(projector_election(Settings(database_url=sys.argv[1]))(), flush=True)
time.sleep(60)
"""


def test_one_process_per_sqlite_file_is_elected_and_another_takes_over_when_it_dies(tmp_path):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        elected = projector_election(Settings(database_url=url))
        assert elected() is False
        assert elected() is False  # asked again at the next poll: still the other one
    finally:
        holder.kill()
        holder.wait()
    assert elected() is True  # the OS released the dead process's lock
    assert elected() is True


def test_every_postgres_process_may_project(postgres_url):
    assert projector_election(Settings(database_url=postgres_url))() is True
