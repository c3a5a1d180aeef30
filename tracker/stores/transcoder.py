"""Event state to JSON with msgspec, in eventsourcing's own JSON format.

The library's JSONTranscoder encodes with the standard json module and a Python callback per
datetime: 22 us for a report event here, 11 us this way (measured). This writes the very same
bytes ({"_type_": "datetime_iso", "_data_": "..."} for a datetime, and so on for every
registered transcoding); tests/integration/test_transcoder.py holds the two to that. Reading
stays the library's: its json decoder with an object hook is the faster of the two (7 us
against 13 us).
"""

from __future__ import annotations

from typing import Any

import msgspec
from eventsourcing.persistence import (
    JSONTranscoder,
    Transcoding,
    TranscodingNotRegisteredError,
)

_PLAIN = (str, int, float, bool, type(None))
_PLAIN_TYPES = frozenset(_PLAIN)


class MsgspecTranscoder(JSONTranscoder):
    """JSONTranscoder's format and transcodings, msgspec's speed at writing."""

    def __init__(self) -> None:
        super().__init__()
        self._encode = msgspec.json.Encoder().encode

    def encode(self, obj: Any) -> bytes:
        return self._encode(self._wrap(obj))

    def _value(self, v: Any) -> Any:
        """A value in a dict: a datetime, say, goes straight to its {"_type_", "_data_"} (the
        hot path: three per event; measured 7.6 us an event this way, 13 us through _wrap)."""
        transcoding = self.types.get(type(v))
        return self._wrap(v) if transcoding is None else self._transcoded(v, transcoding)

    def _transcoded(self, o: Any, transcoding: Transcoding) -> dict[str, Any]:
        data = transcoding.encode(o)
        return {"_type_": transcoding.name,
                "_data_": data if type(data) in _PLAIN_TYPES else self._wrap(data)}  # fmt: skip

    def _wrap(self, o: Any) -> Any:
        if type(o) in _PLAIN_TYPES:  # most values of an event: no call, no isinstance
            return o
        if isinstance(o, _PLAIN):
            return o
        if isinstance(o, dict):
            plain, wrap = _PLAIN_TYPES, self._value
            return {k: v if type(v) in plain else wrap(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [self._wrap(v) for v in o]
        transcoding = self.types.get(type(o))
        if transcoding is None:
            raise TranscodingNotRegisteredError(
                f"Object of type {type(o)} is not serializable. Please define and register "
                "a custom transcoding for this type."
            )
        return self._transcoded(o, transcoding)
