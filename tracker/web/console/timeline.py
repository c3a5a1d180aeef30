"""A message's page (its timeline of reports and registrations, paged) and one report's page."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery

from tracker.application import Tracker
from tracker.domain.registration import CONFLICT
from tracker.domain.status import (
    APPLIED,
    FINAL_STATES,
    REJECTED,
    SUPERSEDED,
    UNKNOWN_STATE,
    Report,
    arrived_late,
    fold,
    states_after,
)
from tracker.read import queries
from tracker.read.models import MessageHistory, RegistrationRecord, ReportRecord
from tracker.read.requests import linked
from tracker.request_log import RequestLog
from tracker.web.access import ANALYST, AUDITOR
from tracker.web.audit_api import (
    PROOF_PAGE,
    PROOF_PAGE_MAX,
    audit_status,
    proof_response,
    read_proof_page,
)
from tracker.web.backend import Backend
from tracker.web.console.forms import BadFilter, offset, page_size
from tracker.web.console.render import HEADERS, may, page, sees, viewer_role
from tracker.web.params import id_sms_number, position_number

# What each report did when it arrived, as its event records it (docs/state-machine.md).
OUTCOMES = {
    APPLIED: "on arrival it set the message's state (a report that arrived later may have "
    "overridden it since: its effect now says)",
    SUPERSEDED: "on arrival it left the state as it was: a report of equal or higher rank stood "
    "at or before its time",
    REJECTED: "on arrival it came after a final state (an illegal transition), or a value of its "
    "item could not be read (the reason says which): kept, never applied",
    UNKNOWN_STATE: "its state is not one the rules know: kept, never applied",
}


# What each report does to the state now, beside its outcome on arrival (which never changes):
SETS = "sets"
OVERRIDDEN = "overridden"
FOLLOWS_FINAL = "follows_final"
NOT_FOLDED = "not_folded"
EFFECTS = {
    SETS: ("sets the state", "it is the report that sets the message's state now"),
    OVERRIDDEN: (
        "overridden",
        "another report sets the state now: one of higher rank, or of equal rank at an earlier "
        "status time",
    ),
    FOLLOWS_FINAL: (
        "follows the final state",
        "its status time is after the final state's, so the rules reject it: the message is "
        "a conflict",
    ),
    NOT_FOLDED: (
        "never applied",
        "its state is not one the rules know, or a value of its item could not be read",
    ),
}


def effect_now(report: Report, current: Report | None) -> str:
    """What ``report`` does to the state now, given ``current``, the report that sets it (the
    fold of all of them): sets it, is overridden, or follows the final state (a conflict)."""
    if report.rank is None or current is None:
        return NOT_FOLDED
    if report.identity == current.identity:
        return SETS
    if current.final and current.order < report.order:  # the current is the earliest final
        return FOLLOWS_FINAL
    return OVERRIDDEN


@dataclass(frozen=True)
class Line:
    """One report on the timeline: as stored, with its arrival number, the state it left, and
    what it does to the state now."""

    number: int  # its place in arrival order, from 1
    report: ReportRecord
    late: bool  # it arrived after a report whose status time is later than its own
    state: str | None  # the state after it: in arrival order, or as of its status time
    effect: str  # one of EFFECTS


@dataclass(frozen=True)
class Timeline:
    arrivals: list[Line]
    by_time: list[Line]
    current: Line | None  # the report that sets the state now
    conflicts: list[Line]  # the reports that follow the final state, in arrival order
    receipts: int  # times its reports were received, repeats included
    # Registrations by the report they came before (its index; the count of reports: after all)
    registered: dict[int, list[RegistrationRecord]] = field(default_factory=dict)
    registration_conflicts: int = 0  # registrations that differ from the one that stands
    registered_more: dict[int, int] = field(default_factory=dict)  # past those listed, by place

    @classmethod
    def of(cls, history: MessageHistory) -> Timeline:
        records = history.reports
        reports = [Report(r.state, r.time, r.instant, r.reason) for r in records]
        current = fold(reports)
        effects = [effect_now(r, current) for r in reports]
        late = arrived_late(reports)
        order = sorted(range(len(reports)), key=lambda i: (reports[i].order, i))
        as_of_time = states_after(reports[i] for i in order)
        arrivals = [
            Line(i + 1, record, late[i], record.state_after, effects[i])
            for i, record in enumerate(records)
        ]
        return cls(
            arrivals=arrivals,
            by_time=[
                Line(i + 1, records[i], late[i], then.state if then else None, effects[i])
                for i, then in zip(order, as_of_time, strict=True)
            ],
            current=next((line for line in arrivals if line.effect == SETS), None),
            conflicts=[line for line in arrivals if line.effect == FOLLOWS_FINAL],
            receipts=sum(r.deliveries for r in records),
            registered=_by_place(history.registrations),
            registration_conflicts=sum(g.outcome == CONFLICT for g in history.registrations),
            registered_more=_past_listed(history.registrations),
        )


REGISTRATIONS_LISTED = 20  # at each place among the reports; the rest are counted


def _by_place(registrations: list[RegistrationRecord]) -> dict[int, list[RegistrationRecord]]:
    places: dict[int, list[RegistrationRecord]] = {}
    for g in registrations:
        listed = places.setdefault(g.before, [])
        if len(listed) < REGISTRATIONS_LISTED:
            listed.append(g)
    return places


def _past_listed(registrations: list[RegistrationRecord]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for g in registrations:
        counts[g.before] = counts.get(g.before, 0) + 1
    return {p: n - REGISTRATIONS_LISTED for p, n in counts.items() if n > REGISTRATIONS_LISTED}


def _timeline(
    tracker: Tracker, id_sms: int, requests: RequestLog | None = None
) -> tuple[MessageHistory | None, Timeline | None]:
    """The whole history and its timeline, made together in a worker thread. A page shows a
    window of it, but what each report does now, whether it arrived late, the status-time
    order and the conflict's reports all depend on every report of the message."""
    store = requests.store if requests is not None else None
    history = linked(queries.history(tracker, id_sms, limit=None), store)
    return history, Timeline.of(history) if history else None


TIMELINE_PAGE = (200, 2000)  # reports a table shows: by default, at most
CONFLICTS_LISTED = 20  # on the conflict card; the rest are counted


@dataclass(frozen=True)
class Window:
    """The reports one table of the timeline shows, and the links to its other pages."""

    start: int  # the first shown, counted from 0
    end: int  # one past the last shown
    total: int
    first: str | None
    previous: str | None
    next: str | None


class TimelinePages:
    """The timeline's two tables page independently, each by its offset in the address:
    ``?arrivals=`` (arrival order) and ``?by_time=`` (status-time order), ``limit`` a page."""

    def __init__(self, path: str, total: int, arrivals: str, by_time: str, limit: str) -> None:
        self.path, self.total = path, total
        self.limit = page_size(limit, *TIMELINE_PAGE)
        self.kept = {"limit": limit} if limit else {}
        self.at = {"arrivals": offset(arrivals), "by_time": offset(by_time)}

    def href(self, **at: int) -> str:
        where = {**self.kept, **{k: str(v) for k, v in {**self.at, **at}.items() if v}}
        return f"{self.path}?{urlencode(where)}" if where else self.path

    def window(self, table: str) -> Window:
        start = min(self.at[table], max(0, self.total - 1))
        end = min(self.total, start + self.limit)
        back = max(0, start - self.limit)
        return Window(
            start,
            end,
            self.total,
            first=self.href(**{table: 0}) if start else None,
            previous=self.href(**{table: back}) if start else None,
            next=self.href(**{table: end}) if end < self.total else None,
        )

    def report_href(self, number: int, here: bool = True) -> str:
        """Where the arrival table shows report ``number`` (from 1), on whichever page: only
        its anchor when it is on this page (and ``here`` says the link is on this page)."""
        start = (number - 1) // self.limit * self.limit
        shown = self.window("arrivals")
        on_this_page = here and shown.start <= number - 1 < shown.end
        return f"{'' if on_this_page else self.href(arrivals=start)}#report-{number}"


@get("/messages/{id_sms:str}", guards=[sees(ANALYST, AUDITOR)])
async def message(
    request: Request,
    backend: NamedDependency[Backend],
    id_sms: FromPath[str],
    arrivals: FromQuery[str] = "",
    by_time: FromQuery[str] = "",
    limit: FromQuery[str] = "",
) -> Response:
    """An auditor sees the timeline from the event store, a page of each order at a time; an
    analyst the row of the views."""
    number = id_sms_number(id_sms)
    role = viewer_role(request)
    history, timeline = (
        await backend.read(_timeline, backend.tracker, number, backend.requests)
        if may(role, AUDITOR)
        else (None, None)
    )
    audit = (
        await backend.read(audit_status, backend.audit, backend.audit_key)
        if may(role, AUDITOR)
        else None
    )
    summary = await backend.read(
        partial(queries.message, **backend.clock()), backend.tracker, backend.views, number
    )
    if history is None and summary is None:
        raise NotFoundException(detail=f"no status was received for id_sms {number}")
    try:
        pages = TimelinePages(
            request.url.path, history.total if history else 0, arrivals, by_time, limit
        )
    except BadFilter as e:
        raise ClientException(detail=str(e)) from None
    return await page(
        request,
        "message.html",
        id_sms=number,
        history=history,
        summary=summary,
        timeline=timeline,
        pages=pages,
        conflicts_listed=CONFLICTS_LISTED,
        outcomes=OUTCOMES,
        effects=EFFECTS,
        final_states=FINAL_STATES,
        zone=backend.tracker.local_zone,
        audit=audit,
    )


@get("/messages/{id_sms:str}/proof", guards=[sees(AUDITOR)])
async def message_proof(
    backend: NamedDependency[Backend],
    id_sms: FromPath[str],
    start: FromQuery[str] = "",
    limit: FromQuery[str] = "",
) -> Response:
    """The message's proof, as GET /messages/{id_sms}/proof gives it, for a console signed in
    with a key in its cookie (the API takes keys in headers only)."""
    number = id_sms_number(id_sms)
    try:
        first, size = offset(start), page_size(limit, PROOF_PAGE, PROOF_PAGE_MAX)
    except BadFilter as e:
        raise ClientException(detail=str(e)) from None
    found = await read_proof_page(backend, number, first, size)
    response = proof_response(found, number, f"/ui/messages/{number}/proof", size)
    response.headers.update(HEADERS)
    return response


@get("/messages/{id_sms:str}/reports/{at:str}", guards=[sees(AUDITOR)])
async def message_report(
    request: Request, backend: NamedDependency[Backend], id_sms: FromPath[str], at: FromPath[str]
) -> Response:
    """One report of a message's history (0: the first), its raw item whole."""
    number = id_sms_number(id_sms)
    position = position_number(at)
    read = partial(queries.history, backend.tracker, number, start=position, limit=1, cut=None)
    store = backend.requests.store if backend.requests is not None else None
    found = await backend.read(lambda: linked(read(), store)) if position >= 0 else None
    if found is None or not found.reports:
        raise NotFoundException(detail=f"id_sms {number} has no report #{position + 1}")
    return await page(
        request,
        "report.html",
        id_sms=number,
        report=found.reports[0],
        back=TimelinePages(f"/ui/messages/{number}", found.total, "", "", "").report_href(
            position + 1, here=False
        ),
        outcomes=OUTCOMES,
        zone=backend.tracker.local_zone,
    )
