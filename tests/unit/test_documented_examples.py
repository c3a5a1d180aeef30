"""The worked examples of docs/state-machine.md, replayed: the documentation cannot drift."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracker.domain.message import Message
from tracker.domain.status import Report
from tracker.domain.timestamps import parse_time, zone

DOC = Path(__file__).parents[2] / "docs" / "state-machine.md"
MOSCOW = zone("Europe/Moscow")
ROW = re.compile(r"^\| (\d+) \| `(\w+)` (\S+) \| (\w+)[^|]* \| (\w+)")


def examples() -> dict[str, list[tuple[str, str, str, str]]]:
    text = DOC.read_text().split("## Worked examples", 1)[1]
    found: dict[str, list] = {}
    title = None
    for line in text.splitlines():
        if line.startswith("**"):
            title = line.strip("*")
            found[title] = []
        elif (match := ROW.match(line)) and title:
            _, state, time, outcome, after = match.groups()
            found[title].append((state, time, outcome, after))
    return found


def platform_time(cell: str) -> str:
    """``12:05`` is that minute of 2011-01-01; a quoted cell is the raw time itself."""
    if re.fullmatch(r"\d\d:\d\d", cell):
        return f"2011-01-01 {cell}:00"
    return cell.strip('"')


def test_the_document_has_worked_examples():
    assert len(examples()) >= 5


@pytest.mark.parametrize(("title", "rows"), examples().items())
def test_each_worked_example_is_what_the_tracker_does(title, rows):
    message = Message(1)
    for state, time, outcome, after in rows:
        raw = platform_time(time)
        report = Report(state, raw, parse_time(raw, MOSCOW))
        got = message.receive(report, datetime.now(UTC))
        assert (got or "duplicate", message.current.state) == (outcome, after), title
