"""The pure domain: the status rules, message and quarantine aggregates; no framework or store."""
