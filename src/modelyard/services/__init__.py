"""Use cases: the only door to the registry. Every API surface, the UI and the CLI call these."""
