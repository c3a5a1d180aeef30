"""Helpers shared by the tests: the recorded sample payloads."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    """A recorded request body from tests/samples/."""
    return (SAMPLES / name).read_bytes()
