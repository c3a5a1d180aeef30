"""The application layer: commands and receipts, the Tracker, and the ports stores implement."""

from tracker.application.commands import (
    DUPLICATE,
    Batch,
    OutcomeUnknown,
    Receipt,
    Registering,
    Status,
    StoreUnavailable,
    Unusable,
)
from tracker.application.tracker import Tracker

__all__ = [
    "DUPLICATE",
    "Batch",
    "OutcomeUnknown",
    "Receipt",
    "Registering",
    "Status",
    "StoreUnavailable",
    "Tracker",
    "Unusable",
]
