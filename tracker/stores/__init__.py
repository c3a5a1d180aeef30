"""Concrete event stores: how the tracker talks to SQLite and PostgreSQL, and their settings."""
