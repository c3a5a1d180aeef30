"""The production store: events and views in PostgreSQL, with an append-only role."""
