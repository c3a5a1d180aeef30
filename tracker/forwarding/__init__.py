"""Passing the state changes on to other systems: outbound webhooks (docs/webhook.md)."""
