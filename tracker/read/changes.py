"""The change feed, read a page at a time from the change view (GET /changes, `tracker changes`)."""

from __future__ import annotations

from tracker.read.models import ChangePage
from tracker.views.store import ViewStore

PAGE = 100  # changes a page holds unless asked
PAGE_MAX = 1000


class BeforeTheFeed(ValueError):
    """A page asked from a position before the change view is complete (its views were made
    before it existed): the changes there are not in it until `tracker rebuild`."""

    def __init__(self, after: int, complete_from: int):
        self.after, self.complete_from = after, complete_from
        super().__init__(
            f"after={after}: the change view holds the changes after position {complete_from} "
            "only (its views were made before it existed); run `tracker rebuild` to fill it, "
            f"or read on from after={complete_from}"
        )


def change_page(
    views: ViewStore, after: int = 0, limit: int = PAGE, id_sms: int | None = None
) -> ChangePage:
    """The changes after position ``after`` (at most ``limit``; with ``id_sms``, that message's
    only), in position order. A position before the view is complete raises ``BeforeTheFeed``
    rather than passing over the changes it lacks as if there were none."""
    complete_from = views.changes_complete_from()
    if after < complete_from:
        raise BeforeTheFeed(after, complete_from)
    head = views.changes_head()  # read first: a page never goes past the head it reports
    changes = views.changes_after(after, limit, id_sms) if head > after else []
    return ChangePage(
        changes=changes,
        next=changes[-1].position if changes else after,
        head=max(head, changes[-1].position if changes else 0),
        complete_from=complete_from,
    )
