"""Model summaries that disagree with the tables they summarize (store/model_summary.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select

from modelyard.store import model_summary
from modelyard.store.database import sqlite_url_for
from modelyard.store.tables import registered_models as rm


def _normal(summary: Any) -> Any:
    tags, aliases, latest = model_summary.decode(summary)
    return (sorted(map(tuple, tags)), sorted(map(tuple, aliases)),
            [(*entry[:-2], sorted(map(tuple, entry[-2])), sorted(entry[-1])) for entry in latest])


def stale_summaries(database_url: str | None, data_dir: Path) -> list[str]:
    """Names of the models whose stored summary differs from one computed now."""
    engine = create_engine(database_url or sqlite_url_for(data_dir))
    try:
        with engine.connect() as conn:
            computed = model_summary.summary_expression(conn.dialect.name)
            rows = conn.execute(select(rm.c.name, rm.c.summary, computed)).all()
    finally:
        engine.dispose()
    return [name for name, stored, now in rows if _normal(stored) != _normal(now)]
