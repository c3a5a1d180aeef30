"""Schemathesis fuzzes every endpoint from the OpenAPI description: no 5xx, answers as described.

`make test` runs a fixed seed (repeatable in CI); `make fuzz` a fresh seed and many more cases.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from tests.e2e.conftest import start_server, stop_server

ADMIN_KEY = "fuzzing-admin-key-0123456789"
EXAMPLES = os.environ.get("TRACKER_FUZZ_EXAMPLES", "40")
SEED = os.environ.get("TRACKER_FUZZ_SEED", "20261126")  # "random": a new one each run
# Left out, with the reason: positive_data_acceptance would count a 400 for a well-formed but
# unknown cursor, or an id_sms of 20 digits, as a failure (the schema cannot say "one we gave
# out" or "below 2^63" for a path string); allow_header_conformance trips on Litestar's automatic
# OPTIONS answer for a path served by two handlers (/admin/rebuild), which lists one method.
EXCLUDED = "positive_data_acceptance,allow_header_conformance"


@pytest.fixture
def keyed_server(database_url, tmp_path):
    """A server with an admin key, on each store (tests/conftest.py's ``database_url``)."""
    server = start_server(database_url, tmp_path / "server.log", api_keys=f"admin:{ADMIN_KEY}")
    yield server
    stop_server(server)


def test_no_request_schemathesis_makes_gets_a_5xx_or_an_undescribed_answer(keyed_server, tmp_path):
    st = Path(sys.executable).with_name("st")
    args = [
        str(st), "run", f"{keyed_server.base_url}/schema/openapi.json",
        "--checks", "all", "--exclude-checks", EXCLUDED,
        "--header", f"Authorization: Bearer {ADMIN_KEY}",
        "--max-examples", EXAMPLES, "--workers", "1",  # its coverage phase races with more
        "--report", "junit", "--report-dir", str(tmp_path / "report"),
    ]  # fmt: skip
    if SEED != "random":
        args += ["--seed", SEED]
    run = subprocess.run(args, capture_output=True, text=True, timeout=600)
    summary = run.stdout[-6000:]
    print("\n" + "\n".join(line for line in summary.splitlines() if "generated" in line))
    assert run.returncode == 0, summary
    assert " passed" in summary and "failed" not in summary.split("SUMMARY")[-1], summary
    answered = [
        msgspec.json.decode(line)
        for line in keyed_server.log.read_text().split("\n")  # JSON escapes \n, not U+2028
        if line.startswith('{"at"')
    ]
    assert len(answered) > 100  # the access log saw the run
    assert [a for a in answered if a["status"] >= 500] == []
