"""`serve --log-format json`: every log record as one JSON object on one line.

The request log's records (observability.requests) carry their fields in `record.request`; every
other record (uvicorn's, the server's own) gets time, level, logger and message, and the
exception's traceback as one string when there is one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = getattr(record, "request", None)
        if request is not None:
            entry.update(request)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def uvicorn_log_config(log_format: str, level: str) -> dict[str, Any] | None:
    """The `log_config` for uvicorn (each worker process applies it); None: uvicorn's own."""
    if log_format != "json":
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "modelyard.observability.logs.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "propagate": False},
            "modelyard": {"handlers": ["default"], "level": level.upper(),
                          "propagate": False},
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }
