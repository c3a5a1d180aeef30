"""The one codec: the tracker's events to the store's rows and back, as the library's mapper.

``EventMapper`` is plugged in through the library's ``MAPPER_TOPIC`` setting: the application's
event store, its recorders and its notification log then carry our envelopes
(``domain.events.Envelope``) as they would the library's own events. A row's topic is the
event's ``TOPIC``; its state is the event struct as a MessagePack array (``Event`` is
``array_like``) without its trailing fields that hold their defaults: an event stored before
a field was added is the same bytes as one stored after it that leaves the field unset (and
each unset field costs no byte). Readers that want plain rows, not envelopes (the views, a
history page) use ``decode`` on the row's topic and state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent

from tracker.domain.events import EVENTS, Envelope, Event

_encode_value = msgspec.msgpack.Encoder().encode
DECODERS: dict[str, Callable[[bytes], Event]] = {
    cls.TOPIC: msgspec.msgpack.Decoder(cls).decode for cls in EVENTS
}


class UnknownTopic(ValueError):
    """A stored row whose topic no event of this tracker has (written by a later version)."""


def _defaults(cls: type[Event]) -> tuple[int, tuple[Any, ...]]:
    """How many fields an event of ``cls`` always stores, and the defaults of the rest."""
    fields = msgspec.structs.fields(cls)
    required = sum(1 for f in fields if f.required)
    return required, tuple(f.default for f in fields[required:])


_OPTIONAL = {cls: _defaults(cls) for cls in EVENTS}
_astuple = msgspec.structs.astuple


def encode(event: Event) -> bytes:
    """An event's stored state: its fields as an array, those at the end that hold their
    defaults left out (decoding gives them back)."""
    required, defaults = _OPTIONAL[type(event)]
    values = _astuple(event)
    n = len(values)
    while n > required and ((v := values[n - 1]) is (d := defaults[n - 1 - required]) or v == d):
        n -= 1
    return _encode_value(values[:n] if n < len(values) else values)


def decode(topic: str, state: bytes) -> Event:
    """The event a stored row holds."""
    try:
        return DECODERS[topic](state)
    except KeyError:
        raise UnknownTopic(f"no event of this tracker is stored as {topic!r}") from None


class EventMapper(Mapper[UUID]):
    """The library's mapper for our envelopes: no transcoder, compressor or cipher in the way
    (the library builds a transcoder it is given, and this one never calls it)."""

    def __init__(self, transcoder: Any = None, compressor: Any = None, cipher: Any = None):
        if compressor is not None or cipher is not None:
            raise ValueError("the tracker's events are stored neither compressed nor encrypted")
        super().__init__(transcoder)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        envelope: Envelope = domain_event
        event = envelope.event
        return StoredEvent(
            originator_id=envelope.originator_id,
            originator_version=envelope.originator_version,
            topic=event.TOPIC,
            state=encode(event),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        try:
            event = decode(stored_event.topic, stored_event.state)
        except (UnknownTopic, msgspec.DecodeError) as e:
            raise MapperDeserialisationError(
                f"event {stored_event.originator_version} of {stored_event.originator_id}: {e}"
            ) from e
        return Envelope(stored_event.originator_id, stored_event.originator_version, event)
