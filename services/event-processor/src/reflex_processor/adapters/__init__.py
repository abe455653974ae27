"""Per-kind adapters: pure functions from a raw webhook to the fields of a domain event."""
