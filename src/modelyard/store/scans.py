"""The model scan's result kept on a version (issue 20 item 3; services/scanning.py).

`model_versions.scan_status` (CLEAN / UNSAFE / NOT_SCANNED, NULL: never scanned) is what
policies read (`scan = 'CLEAN'`, services/policies.supply_chain_facts); `scan_report` is the
whole result as JSON (findings, reason, scanner).
"""

from __future__ import annotations

from sqlalchemy import Connection, Row, select, update

from modelyard.store.tables import model_versions as mv


def save_scan(conn: Connection, version_id: int, status: str, report: str) -> None:
    conn.execute(update(mv).where(mv.c.id == version_id)
                 .values(scan_status=status, scan_report=report))


def scan_columns(conn: Connection, version_id: int) -> Row | None:
    return conn.execute(select(mv.c.scan_status, mv.c.scan_report)
                        .where(mv.c.id == version_id)).first()
