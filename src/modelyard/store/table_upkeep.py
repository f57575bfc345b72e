"""Keep the registry's PostgreSQL tables analyzed, and vacuumed where autovacuum is off.

PostgreSQL plans from statistics that ANALYZE gathers, and VACUUM removes dead row versions and
marks pages all-visible (what lets an index-only scan skip the table), both normally autovacuum's
job. Where it is off (it is, on the machines this project is built on) or has not come round yet,
a registry filled after its tables were created is planned as if they were empty: a 100-model
search by tag over 1,000 models joined every tag row to every model (10.9 ms in PostgreSQL)
instead of hashing them (0.5 ms), a cost growing with the square of the registry; and with no
VACUUM, every model row a write rewrote stays behind and the tag index's scans visit the table
(at 1M versions 1.35 -> 0.74 ms for that search once vacuumed; bench/, issue 6).

So the server applies autovacuum's default rules to its own tables: ANALYZE once more than 50
rows plus 10% of a table changed since its last analysis (always: it is cheap, and plans go
wrong at once); VACUUM once more than 50 + 20% of its rows are dead or 1,000 + 20% were inserted
since its last vacuum, but only where autovacuum is off, server-wide or for that table.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from modelyard.store.tables import metadata

#: PostgreSQL's defaults for autovacuum_{analyze,vacuum,vacuum_insert}_{threshold,scale_factor}.
_RULES = {"analyze_threshold": 50, "analyze_scale": 0.1,
          "vacuum_threshold": 50, "vacuum_scale": 0.2,
          "insert_threshold": 1000, "insert_scale": 0.2}

_DUE = text("""
SELECT s.relname,
       s.n_mod_since_analyze > :analyze_threshold + :analyze_scale * s.n_live_tup,
       (current_setting('autovacuum') = 'off'
        OR EXISTS (SELECT 1 FROM unnest(c.reloptions) AS option
                   WHERE option ~* '^autovacuum_enabled=(off|false|no|0)$'))
       AND (s.n_dead_tup > :vacuum_threshold + :vacuum_scale * s.n_live_tup
            OR s.n_ins_since_vacuum > :insert_threshold + :insert_scale * s.n_live_tup)
FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid
WHERE s.schemaname = current_schema() AND s.relname = ANY(:tables)
ORDER BY s.relname
""")


def tend_tables(conn: Connection) -> list[str]:
    """Run the ANALYZE and VACUUM that are due; the commands run, e.g. "VACUUM (ANALYZE) t".

    `conn` must be in autocommit mode (VACUUM cannot run in a transaction). SKIP_LOCKED: a
    table another replica is tending now is left to it.
    """
    quote = conn.dialect.identifier_preparer.quote
    done = []
    for name, analyze, vacuum in conn.execute(_DUE, {"tables": sorted(metadata.tables),
                                                     **_RULES}):
        if vacuum:
            command = f"VACUUM (ANALYZE, SKIP_LOCKED) {quote(name)}"
        elif analyze:
            command = f"ANALYZE (SKIP_LOCKED) {quote(name)}"
        else:
            continue
        conn.exec_driver_sql(command)
        done.append(command)
    return done
