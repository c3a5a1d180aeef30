"""The embedded store: events, views and locks in SQLite files."""
