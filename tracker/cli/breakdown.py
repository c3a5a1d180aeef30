"""`tracker stats --by`: the breakdown of messages by sender, campaign, channel or day as
tables, and with --plot a terminal chart of volume and delivery rate per day (plotext)."""

from __future__ import annotations

import os
import shutil

import plotext as plt
from rich.table import Table

from tracker.cli.options import OUT, print_json
from tracker.read.models import Breakdown, GroupStats

NONE = "(none)"  # a group key not given (no registration, or it named none)


def show(answer: Breakdown, *, as_json: bool, plot: bool) -> None:
    """The breakdown as JSON, a table (a row per group, the total last), or a chart."""
    if as_json:
        return print_json(answer)
    span = f"{answer.from_day or 'the first day'} to {answer.to_day or 'the last day'}"
    if plot:
        OUT.print(f"{answer.total.messages:,} messages sent from {span} (UTC)")
        print(chart(answer))
        return None
    groups = [*answer.groups, answer.total]
    keys = [g.key or NONE for g in answer.groups] + ["all"]
    table = Table(
        answer.by, "messages", "delivery rate", "pending", "p50 s", "p95 s", "p99 s",
        title=f"messages by {answer.by}, sent from {span} (UTC)",
    )  # fmt: skip
    states = sorted({s for g in groups for s in g.states})
    by_state = Table(answer.by, *(s or "(none known)" for s in states), title="by state")
    for key, group in zip(keys, groups, strict=True):
        last = group is answer.total or group is answer.groups[-1]
        table.add_row(key, *_figures(group), end_section=last)
        counts = (f"{group.states.get(s, 0):,}" for s in states)
        by_state.add_row(key, *counts, end_section=last)
    OUT.print(table)
    OUT.print(by_state)
    return None


def _figures(group: GroupStats) -> list[str]:
    rate = "—" if group.delivery_rate is None else f"{group.delivery_rate:.1%}"
    return [
        f"{group.messages:,}",
        rate,
        f"{group.pending_share:.1%}",
        *(_seconds(v) for v in (group.p50, group.p95, group.p99)),
    ]


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.3f}" if value < 10 else f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def chart(answer: Breakdown) -> str:
    """Messages sent per day (bars) over the delivery rate per day (a line, %), as text.
    Days come from by=day's groups, else from the total's daily points."""
    days = (
        [(g.key, g.messages, g.delivery_rate) for g in answer.groups]
        if answer.by == "day"
        else [(p.day, p.messages, p.delivery_rate) for p in answer.total.daily]
    )
    width, _ = shutil.get_terminal_size((100, 30))
    plain = "NO_COLOR" in os.environ or not OUT.is_terminal
    plt.clf()
    if plain:
        plt.theme("clear")
    plt.plotsize(min(width, 160), 30)
    plt.subplots(2, 1)
    one_year = len({day[:4] for day, _, _ in days}) <= 1
    labels = [day[5:] if one_year else day for day, _, _ in days]  # MM-DD within one year
    plt.subplot(1, 1)
    plt.title("messages sent per day (UTC)")
    plt.bar(labels, [n for _, n, _ in days], marker="sd")
    plt.subplot(2, 1)
    plt.title("delivery rate per day (delivered / known outcome, %)")
    rated = [(n, 100 * r) for n, (_, _, r) in enumerate(days, 1) if r is not None]
    if rated:  # at the bars' positions (1, 2, ...), labelled as they are
        for run in _runs(rated):  # a day with no known outcome breaks the line: no point there
            xs, ys = [x for x, _ in run], [y for _, y in run]
            draw = plt.plot if len(run) > 1 else plt.scatter
            draw(xs, ys, marker="hd" if len(run) > 1 else "●", color="blue")
        plt.xticks(list(range(1, len(labels) + 1)), labels)
        plt.ylim(0, 100)
    text = plt.build()
    return plt.uncolorize(text) if plain else text


def _runs(points: list[tuple[int, float]]) -> list[list[tuple[int, float]]]:
    """The points split where a day is missing: [(1, a), (2, b), (4, c)] -> [[1, 2], [4]]."""
    runs: list[list[tuple[int, float]]] = []
    for point in points:
        if runs and runs[-1][-1][0] == point[0] - 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs
