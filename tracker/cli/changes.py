"""`tracker changes`: the change feed as JSON lines, a page of it or followed as it grows."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import msgspec
import typer
from eventsourcing.persistence import PersistenceError

from tracker.cli.options import LIMIT, VIEWS_FILE, fail, reading_views
from tracker.domain.ids import message_number
from tracker.read.changes import PAGE_MAX, BeforeTheFeed, change_page

POLL = 0.5  # seconds between reads while following


def changes(
    after: Annotated[
        int,
        typer.Option(metavar="N", min=0, help="Only the changes after this position (0: all)."),
    ] = 0,
    limit: LIMIT = 100,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Print every change after the position, then each new one as it comes, "
            "until interrupted (--limit is then the size of a read).",
        ),
    ] = False,
    id_sms: Annotated[
        str | None, typer.Option(metavar="ID_SMS", help="Only this message's changes.")
    ] = None,
    views_file: VIEWS_FILE = None,
) -> None:
    """The state changes of messages in log order, one JSON object a line, as GET /changes
    gives them: position (the place in the log of the report that made the change), id_sms,
    previous and new state, final, and the report's time, instant, receipt and source. Pass
    the last position printed as --after to go on from there."""
    number = None if id_sms is None else message_number(id_sms)
    if id_sms is not None and number is None:
        fail(ValueError(f"--id-sms must be ASCII digits from 0 to 2^63-1: {id_sms!r}"))
    encode = msgspec.json.encode
    with reading_views(views_file) as views:
        try:
            while True:
                page = change_page(views, after, PAGE_MAX if follow else limit, number)
                for change in page.changes:
                    sys.stdout.write(encode(change).decode() + "\n")
                sys.stdout.flush()
                after = page.next
                if not follow:
                    return
                if not page.changes:
                    time.sleep(POLL)
        except BeforeTheFeed as e:
            fail(e)
        except PersistenceError as e:
            if "changes" in str(e):  # views an earlier version made, never opened since
                fail(ValueError(
                    "these views have no change view yet: `tracker serve` (or `tracker "
                    "project`) adds it, `tracker rebuild` fills it"
                ))  # fmt: skip
            fail(e)
        except KeyboardInterrupt:
            return
