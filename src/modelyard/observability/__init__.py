"""What the server tells its operators: Prometheus metrics, request logs, traces.

A leaf package, like a library: it imports nothing of Modelyard's, so that every layer (store,
events, services, api) may record into it without an arrow pointing up.
"""
