"""HTTP surfaces: one package per wire dialect, each a thin adapter over the services."""
