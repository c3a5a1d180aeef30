"""The composition root: settings to a running Tracker on a concrete store, and what a server
process runs on. The only place that names the stores; everything else receives what it built.
"""

from tracker.bootstrap.readers import (
    note_as_of,
    noted_as_of,
    open_output_views,
    open_reader,
    open_reader_views,
    open_views_file,
)
from tracker.bootstrap.requests import (
    open_request_log,
    open_request_reader,
    open_request_store,
)
from tracker.bootstrap.server import (
    ServerParts,
    open_server,
    server_parts,
    settle_heap,
)
from tracker.bootstrap.stores import (
    MAPPER,
    POSTGRES_FACTORY,
    SQLITE_FACTORY,
    LegacyStore,
    Location,
    StoreMissing,
    make_append_only,
    open_tracker,
    open_views,
    projector_election,
    store_for,
)

__all__ = [
    "MAPPER",
    "POSTGRES_FACTORY",
    "SQLITE_FACTORY",
    "LegacyStore",
    "Location",
    "ServerParts",
    "StoreMissing",
    "make_append_only",
    "note_as_of",
    "noted_as_of",
    "open_output_views",
    "open_reader",
    "open_reader_views",
    "open_request_log",
    "open_request_reader",
    "open_request_store",
    "open_server",
    "open_tracker",
    "open_views",
    "open_views_file",
    "projector_election",
    "server_parts",
    "settle_heap",
    "store_for",
]
