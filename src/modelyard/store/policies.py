"""Promotion policies (`promotion_policies`) and alias requests with their reviews."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update

from modelyard.domain.errors import AlreadyExists, NotFound
from modelyard.domain.policies import AliasRequest, Policy, Review
from modelyard.store.compiled import fetch_ahead, fetch_all
from modelyard.store.tables import (
    alias_request_reviews,
    alias_requests,
    model_version_tags,
    promotion_policies,
    registered_models,
)

pp, ar, rv, rm = promotion_policies, alias_requests, alias_request_reviews, registered_models
mvt = model_version_tags


def _policy(row: Row[Any]) -> Policy:
    return Policy(name=row.name, scope=row.scope, require=row.condition, alias=row.alias,
                  stage=row.stage, approvals=row.approvals, created_by=row.created_by,
                  created_at=row.created_at)


_REQUEST_COLUMNS = (ar, rm.c.registry, rm.c.name.label("model_name"))
# Read on every alias move and stage change: built once, not per call (building and keying a
# statement cost more than running it).
_ALL_POLICIES = select(pp.c.name, pp.c.scope, pp.c.condition, pp.c.alias, pp.c.stage,
                       pp.c.approvals, pp.c.created_by, pp.c.created_at).order_by(pp.c.name)
_VERSION_TAGS = select(mvt.c.key, mvt.c.value).where(mvt.c.version_id == bindparam("b_id"))


class PolicyRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._ahead: Any = None  # the policies read ahead (`read_ahead`)

    # ---- policies --------------------------------------------------------------------------

    def all(self) -> list[Policy]:
        # Precompiled on the driver's cursor (store/compiled.py): every alias move reads it.
        ahead, self._ahead = self._ahead, None
        rows = ahead.rows() if ahead is not None else \
            fetch_all(self.conn, "all_policies", lambda: _ALL_POLICIES, {})
        return [Policy(name=name, scope=scope, require=condition, alias=alias, stage=stage,
                       approvals=approvals, created_by=created_by, created_at=created_at)
                for name, scope, condition, alias, stage, approvals, created_by, created_at
                in rows]

    def read_ahead(self) -> None:
        """Have the next `all()` answered with the next round trip (store/compiled.fetch_ahead):
        an alias move reads the policies with the alias, not after it."""
        self._ahead = fetch_ahead(self.conn, "all_policies", lambda: _ALL_POLICIES, {})

    def get(self, name: str) -> Policy:
        row = self.conn.execute(select(pp).where(pp.c.name == name)).first()
        if row is None:
            raise NotFound(f"Policy '{name}' does not exist.")
        return _policy(row)

    def insert(self, policy: Policy) -> None:
        if self.conn.execute(select(pp.c.name).where(pp.c.name == policy.name)).first():
            raise AlreadyExists(f"Policy '{policy.name}' already exists; delete it first to "
                                "replace it.")
        self.conn.execute(insert(pp).values(
            name=policy.name, scope=policy.scope, alias=policy.alias, stage=policy.stage,
            condition=policy.require, approvals=policy.approvals,
            created_by=policy.created_by, created_at=policy.created_at))

    def delete(self, name: str) -> None:
        self.conn.execute(delete(pp).where(pp.c.name == name))

    # ---- alias requests ----------------------------------------------------------------------

    def insert_request(self, model_id: int, alias: str, version: int, reason: str,
                       requested_by: str, policy: str, approvals: int, now: int) -> int:
        result = self.conn.execute(insert(ar).values(
            model_id=model_id, alias=alias, version=version, reason=reason,
            requested_by=requested_by, state="OPEN", policy=policy,
            approvals_needed=approvals, created_at=now, updated_at=now).returning(ar.c.id))
        return int(result.scalar_one())

    def request(self, request_id: int, model_id: int | None = None) -> AliasRequest:
        query = select(*_REQUEST_COLUMNS).join(rm, rm.c.id == ar.c.model_id) \
            .where(ar.c.id == request_id)
        if model_id is not None:
            query = query.where(ar.c.model_id == model_id)
        row = self.conn.execute(query).first()
        if row is None:
            raise NotFound(f"Alias request {request_id} does not exist.")
        return self._with_reviews([row])[0]

    def requests_for_model(self, model_id: int) -> list[AliasRequest]:
        rows = self.conn.execute(select(*_REQUEST_COLUMNS).join(rm, rm.c.id == ar.c.model_id)
                                 .where(ar.c.model_id == model_id)
                                 .order_by(ar.c.id.desc())).all()
        return self._with_reviews(rows)

    def _with_reviews(self, rows: Sequence[Row[Any]]) -> list[AliasRequest]:
        ids = [r.id for r in rows]
        reviews: dict[int, list[Review]] = {}
        if ids:
            for r in self.conn.execute(select(rv).where(rv.c.request_id.in_(ids))
                                       .order_by(rv.c.id)):
                reviews.setdefault(r.request_id, []).append(
                    Review(r.user_name, r.decision, r.comment, r.created_at))
        return [AliasRequest(
            id=r.id, registry=r.registry, model_name=r.model_name, alias=r.alias,
            version=r.version, reason=r.reason, requested_by=r.requested_by, state=r.state,
            policy=r.policy, approvals_needed=r.approvals_needed, created_at=r.created_at,
            updated_at=r.updated_at, reviews=tuple(reviews.get(r.id, ())))
            for r in rows]

    def add_review(self, request_id: int, user: str, decision: str, comment: str,
                   now: int) -> None:
        self.conn.execute(insert(rv).values(request_id=request_id, user_name=user,
                                            decision=decision, comment=comment,
                                            created_at=now))

    def set_state(self, request_id: int, state: str, now: int) -> None:
        self.conn.execute(update(ar).where(ar.c.id == request_id)
                          .values(state=state, updated_at=now))


def version_tags(conn: Connection, version_id: int) -> dict[str, str]:
    """A version's tags, for the facts a policy's condition reads."""
    return {k: v for k, v in conn.execute(_VERSION_TAGS, {"b_id": version_id})}
