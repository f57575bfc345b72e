"""Keep PostgreSQL's planner statistics of the registry's tables current, autovacuum or not.

PostgreSQL plans from statistics that ANALYZE gathers, normally autovacuum's job. Where it is off
(it is, on the machines this project is built on) or has not come round yet, a registry filled
after its tables were created is planned as if they were empty: a 100-model search by tag over
1,000 models joined every tag row to every model (10.9 ms in PostgreSQL) instead of hashing them
(0.5 ms), and the cost grows with the square of the registry (bench/, issue 6). The server
therefore analyzes its own tables by autovacuum's default rule: once more than 50 rows plus 10%
of a table changed since its last analysis. With autovacuum on, it usually gets there first.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from modelyard.store.tables import metadata

#: autovacuum_analyze_threshold and autovacuum_analyze_scale_factor, PostgreSQL's defaults.
_THRESHOLD, _SCALE_FACTOR = 50, 0.1

_STALE = text(
    "SELECT relname FROM pg_stat_user_tables"
    " WHERE schemaname = current_schema() AND relname = ANY(:tables)"
    " AND n_mod_since_analyze > :threshold + :scale_factor * n_live_tup"
    " ORDER BY relname"
)


def analyze_stale_tables(conn: Connection) -> list[str]:
    """ANALYZE the registry's tables that changed enough since their last analysis; their names.

    `conn` must be in autocommit mode: each ANALYZE then holds its table's lock only briefly.
    """
    names = [row[0] for row in conn.execute(_STALE, {
        "tables": sorted(metadata.tables), "threshold": _THRESHOLD,
        "scale_factor": _SCALE_FACTOR})]
    quote = conn.dialect.identifier_preparer.quote
    for name in names:
        conn.exec_driver_sql(f"ANALYZE {quote(name)}")
    return names
