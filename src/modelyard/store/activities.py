"""Rows of `registry_activities`: what happened to a workspace-registry version, in order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from modelyard.domain.activities import Activity, ActivityType
from modelyard.store.tables import model_versions, registered_models, registry_activities

ra, mv, rm = registry_activities, model_versions, registered_models
_COLUMNS = (ra.c.id, rm.c.name, mv.c.version, ra.c.activity_type, ra.c.from_stage,
            ra.c.to_stage, ra.c.comment, ra.c.system_comment, ra.c.user_id, ra.c.state,
            ra.c.created_at, ra.c.updated_at)


def _entity(row: Row) -> Activity:
    return Activity(row.id, row.name, row.version, ActivityType(row.activity_type),
                    row.from_stage, row.to_stage, row.comment, row.system_comment, row.user_id,
                    row.state, row.created_at, row.updated_at)


def _joined() -> Any:
    return ra.join(mv, mv.c.id == ra.c.version_id).join(rm, rm.c.id == mv.c.model_id)


class ActivityRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, version_id: int, activity_type: ActivityType, user_id: str, now: int,
            **values: Any) -> Activity:
        activity_id = self.conn.execute(insert(ra).values(
            version_id=version_id, activity_type=activity_type.value, user_id=user_id,
            created_at=now, updated_at=now, from_stage=values.get("from_stage", ""),
            to_stage=values.get("to_stage", ""), comment=values.get("comment", ""),
            system_comment=values.get("system_comment", ""), state=values.get("state", ""),
        ).returning(ra.c.id)).scalar_one()
        return self.get(activity_id)

    def get(self, activity_id: int) -> Activity:
        row = self.conn.execute(select(*_COLUMNS).select_from(_joined())
                                .where(ra.c.id == activity_id)).first()
        if row is None:
            raise LookupError(activity_id)
        return _entity(row)

    def find(self, activity_id: int) -> tuple[Activity, int] | None:
        """The activity and the id of its model (for permission checks)."""
        row = self.conn.execute(select(*_COLUMNS, mv.c.model_id).select_from(_joined())
                                .where(ra.c.id == activity_id)).first()
        return (_entity(row), row.model_id) if row else None

    def for_version(self, version_id: int, activity_type: ActivityType | None = None,
                    state: str | None = None) -> list[Activity]:
        query = select(*_COLUMNS).select_from(_joined()).where(ra.c.version_id == version_id)
        if activity_type is not None:
            query = query.where(ra.c.activity_type == activity_type.value)
        if state is not None:
            query = query.where(ra.c.state == state)
        return [_entity(row) for row in self.conn.execute(query.order_by(ra.c.id))]

    def set_state(self, activity_id: int, state: str, now: int) -> None:
        self.conn.execute(update(ra).where(ra.c.id == activity_id)
                          .values(state=state, updated_at=now))

    def set_comment(self, activity_id: int, comment: str, now: int) -> None:
        self.conn.execute(update(ra).where(ra.c.id == activity_id)
                          .values(comment=comment, updated_at=now))

    def delete(self, activity_id: int) -> None:
        self.conn.execute(delete(ra).where(ra.c.id == activity_id))

    def versions_in_stage(self, model_id: int, stage: str, except_version: int) -> list[Row]:
        return list(self.conn.execute(select(mv.c.id, mv.c.version).where(
            mv.c.model_id == model_id, mv.c.stage == stage, mv.c.version != except_version)))
