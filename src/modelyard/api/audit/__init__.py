"""Modelyard's own audit endpoint."""
