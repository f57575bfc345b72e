"""Workspace-registry extras: Databricks model views, transition requests, comments, permissions."""
