"""Modelyard's own model-scan API (issue 20 item 3)."""
