"""Side effects of changes: the audit chain (and, later, the webhook outbox)."""
