"""A message row and a delivery as the views store them (the messages and delivery_times
tables' values), and back."""

from __future__ import annotations

from typing import Any

import msgspec

from tracker.domain.registration import Registration
from tracker.domain.status import Report
from tracker.views.projection import (
    REGISTERED,
    Delivery,
    MessageRow,
    row_bucket,
    sending_day,
)
from tracker.views.tables import from_micros, iso, micros


def message_values(row: MessageRow) -> tuple:
    current, latest, registration = row.current, row.latest, row.registration
    if current is None:
        state = REGISTERED if registration is not None else None
        time = instant = None
        final = conflict = 0
    else:
        state, time, instant = current.state, current.time, micros(current.instant)
        final = int(current.final)
        conflict = int(final and latest is not current and latest != current)
    return (
        row.id_sms,
        state,
        time,
        instant,
        final,
        row.reports,
        micros(row.first_received_at),
        micros(row.last_received_at),
        conflict,
        micros(row.delivered_at),
        latest.state if latest else None,
        latest.time if latest else None,
        micros(latest.instant) if latest else None,
        _channels_text(row.channels),
        *(_NO_REGISTRATION if registration is None else _registered(registration)),
        micros(row.registered_at),
        row.registration_conflicts,
        sending_day(row),
        row_bucket(row),
    )


_NO_REGISTRATION = (None,) * 5


def _registered(r: Registration) -> tuple:
    return (r.sender, r.campaign, r.channel, micros(r.sent_at), r.parts)


def checksum_values(values: tuple) -> tuple:
    """A messages view row as its checksum takes it: without the day and bucket (derived from
    the other columns); a row with no registration as it was before those columns were added
    (2026-12-07), and with no channels as before that column was (2026-12-06): a store whose
    events carry neither keeps the checksums it had."""
    values = values[:21]
    if values[20] == 0 and all(v is None for v in values[14:20]):
        values = values[:14] if values[13] is not None else values[:13]
    return values


def _channels_text(channels: dict[str, tuple[str, Report]] | None) -> str | None:
    """A message's channels as the view stores them: JSON, each channel's status with the
    report that gave it (its state, time and instant), keys sorted (checksums agree)."""
    if not channels:
        return None
    return _encode_json(
        {
            name: (state, report.state, report.time, micros(report.instant))
            for name, (state, report) in channels.items()
        },
        order="sorted",
    ).decode()


def _channels_of(text: str | None) -> dict[str, tuple[str, Report]] | None:
    if text is None:
        return None
    stored = msgspec.json.decode(text, type=dict[str, tuple[str, str, str, int | None]])
    return {
        name: (state, Report(report_state, time, from_micros(instant)))
        for name, (state, report_state, time, instant) in stored.items()
    }


def channel_states(text: str | None) -> dict[str, str] | None:
    """Each channel's latest status, from the view's stored form (None: none given)."""
    channels = _channels_of(text)
    return None if channels is None else {name: held[0] for name, held in channels.items()}


_encode_json = msgspec.json.encode


def message_row(record: Any) -> MessageRow:
    state, sent = record["state"], record["registered_at"]
    current = (
        Report(state, record["time"], from_micros(record["instant"]))
        if state is not None and state != REGISTERED
        else None
    )
    registration = (
        None
        if sent is None
        else Registration(
            from_micros(record["sent_at"]),
            record["sender"],
            record["campaign"],
            record["channel"],
            record["parts"],
        )
    )
    latest = (
        Report(record["latest_state"], record["latest_time"], from_micros(record["latest_instant"]))
        if record["latest_state"] is not None
        else None
    )
    return MessageRow(
        id_sms=record["id_sms"],
        current=current,
        reports=record["reports"],
        first_received_at=from_micros(record["first_received_at"]),  # type: ignore[arg-type]
        last_received_at=from_micros(record["last_received_at"]),  # type: ignore[arg-type]
        latest=latest,
        delivered_at=from_micros(record["delivered_at"]),
        channels=_channels_of(record["channels"]),
        registration=registration,
        registered_at=from_micros(sent),
        registration_conflicts=record["registration_conflicts"] or 0,
    )


def delivery_values(delivery: Delivery) -> tuple:
    at = iso(delivery.delivered_at)
    return (
        delivery.id_sms,
        micros(delivery.first_received_at),
        micros(delivery.delivered_at),
        delivery.seconds,
        at[:10],  # type: ignore[index]
        at[:13],  # type: ignore[index]
    )
