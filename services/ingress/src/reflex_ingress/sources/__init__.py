"""Webhook sources: their configuration, secrets and per-kind verification."""
