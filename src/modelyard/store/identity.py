"""Principals, group membership, access tokens, permission levels and grants."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.domain.errors import AlreadyExists, NotFound
from modelyard.domain.principals import Kind, Member, Principal, TokenInfo
from modelyard.store.tables import (
    access_tokens,
    group_members,
    principals,
    uc_grants,
    workspace_permissions,
)

p = principals
gm = group_members
tok = access_tokens
wp = workspace_permissions
ug = uc_grants

_COLUMNS = (p.c.id, p.c.kind, p.c.name, p.c.display_name, p.c.email, p.c.external_id,
            p.c.active, p.c.is_admin, p.c.created_at)


class PrincipalNotFound(NotFound):
    pass


class IdentityRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # ---- principals -----------------------------------------------------------------------

    def insert_principal(self, kind: Kind, name: str, now: int, **values: Any) -> int:
        try:
            with self.conn.begin_nested():
                return self.conn.execute(insert(p).values(
                    kind=kind.value, name=name, created_at=now,
                    display_name=values.pop("display_name", "") or name,
                    email=values.pop("email", ""), external_id=values.pop("external_id", ""),
                    active=values.pop("active", True), is_admin=values.pop("is_admin", False),
                    **values,
                ).returning(p.c.id)).scalar_one()
        except IntegrityError:
            raise AlreadyExists(f"A principal named {name!r} already exists.") from None

    def update_principal(self, principal_id: int, **values: Any) -> None:
        self.conn.execute(update(p).where(p.c.id == principal_id).values(**values))

    def delete_principal(self, principal_id: int) -> None:
        self.conn.execute(delete(gm).where((gm.c.group_id == principal_id)
                                           | (gm.c.member_id == principal_id)))
        self.conn.execute(delete(tok).where(tok.c.principal_id == principal_id))
        self.conn.execute(delete(p).where(p.c.id == principal_id))

    def count_principals(self) -> int:
        return self.conn.execute(select(func.count()).select_from(p)).scalar_one()

    def principal_by_name(self, name: str) -> Principal | None:
        row = self.conn.execute(select(*_COLUMNS).where(p.c.name == name)).first()
        return self._with_relations([row])[0] if row else None

    def principal_by_id(self, principal_id: int, kind: Kind | None = None) -> Principal:
        query = select(*_COLUMNS).where(p.c.id == principal_id)
        if kind is not None:
            query = query.where(p.c.kind == kind.value)
        row = self.conn.execute(query).first()
        if row is None:
            raise PrincipalNotFound(f"{(kind or 'principal').replace('_', ' ').title()} "
                                    f"{principal_id} not found.")
        return self._with_relations([row])[0]

    def list_principals(self, kind: Kind, name_eq: str | None, offset: int,
                        limit: int) -> tuple[list[Principal], int]:
        query = select(*_COLUMNS).where(p.c.kind == kind.value)
        count = select(func.count()).select_from(p).where(p.c.kind == kind.value)
        if name_eq is not None:
            query = query.where(p.c.name == name_eq)
            count = count.where(p.c.name == name_eq)
        rows = self.conn.execute(query.order_by(p.c.id).offset(offset).limit(limit)).all()
        return self._with_relations(rows), self.conn.execute(count).scalar_one()

    def password_hash(self, name: str) -> tuple[int, str | None, bool] | None:
        row = self.conn.execute(select(p.c.id, p.c.password_hash, p.c.active)
                                .where(p.c.name == name, p.c.kind != Kind.GROUP.value)).first()
        return (row.id, row.password_hash, row.active) if row else None

    def _with_relations(self, rows: Sequence[Row]) -> list[Principal]:
        ids = [row.id for row in rows]
        parents: dict[int, list[Member]] = defaultdict(list)
        members: dict[int, list[Member]] = defaultdict(list)
        if ids:
            for member_id, gid, gname, gkind in self.conn.execute(
                select(gm.c.member_id, p.c.id, p.c.name, p.c.kind)
                .join(p, p.c.id == gm.c.group_id).where(gm.c.member_id.in_(ids))
                .order_by(p.c.name)
            ):
                parents[member_id].append(Member(gid, gname, Kind(gkind)))
            for group_id, mid, mname, mkind in self.conn.execute(
                select(gm.c.group_id, p.c.id, p.c.name, p.c.kind)
                .join(p, p.c.id == gm.c.member_id).where(gm.c.group_id.in_(ids))
                .order_by(p.c.name)
            ):
                members[group_id].append(Member(mid, mname, Kind(mkind)))
        return [Principal(
            id=row.id, kind=Kind(row.kind), name=row.name, display_name=row.display_name,
            email=row.email, external_id=row.external_id, active=bool(row.active),
            is_admin=bool(row.is_admin), created_at=row.created_at,
            groups=tuple(parents.get(row.id, ())), members=tuple(members.get(row.id, ())),
        ) for row in rows]

    # ---- membership ------------------------------------------------------------------------

    def add_member(self, group_id: int, member_id: int) -> bool:
        exists = self.conn.execute(select(gm.c.group_id).where(
            gm.c.group_id == group_id, gm.c.member_id == member_id)).first()
        if exists:
            return False
        self.conn.execute(insert(gm).values(group_id=group_id, member_id=member_id))
        return True

    def remove_member(self, group_id: int, member_id: int) -> bool:
        result = self.conn.execute(delete(gm).where(gm.c.group_id == group_id,
                                                    gm.c.member_id == member_id))
        return bool(result.rowcount)

    def set_members(self, group_id: int, member_ids: Iterable[int]) -> None:
        self.conn.execute(delete(gm).where(gm.c.group_id == group_id))
        rows = [{"group_id": group_id, "member_id": m} for m in dict.fromkeys(member_ids)]
        if rows:
            self.conn.execute(insert(gm), rows)

    def ancestor_groups(self, principal_id: int) -> set[str]:
        """Every group the principal belongs to, directly or through nested groups."""
        seen: set[int] = set()
        names: set[str] = set()
        frontier = {principal_id}
        while frontier:
            rows = self.conn.execute(
                select(p.c.id, p.c.name).join(gm, gm.c.group_id == p.c.id)
                .where(gm.c.member_id.in_(frontier))).all()
            frontier = {row.id for row in rows} - seen
            seen |= frontier
            names |= {row.name for row in rows}
        return names

    def would_cycle(self, group_id: int, member_id: int) -> bool:
        """Adding member to group makes a cycle if the member already contains the group."""
        return group_id == member_id or self._contains(member_id, group_id)

    def _contains(self, outer: int, inner: int) -> bool:
        frontier, seen = {outer}, set()
        while frontier:
            if inner in frontier:
                return True
            seen |= frontier
            frontier = {row[0] for row in self.conn.execute(
                select(gm.c.member_id).where(gm.c.group_id.in_(frontier)))} - seen
        return False

    # ---- tokens ----------------------------------------------------------------------------

    def insert_token(self, token_id: str, principal_id: int, token_hash: str, comment: str,
                     created_by: str, now: int, expires_at: int) -> None:
        self.conn.execute(insert(tok).values(
            id=token_id, principal_id=principal_id, token_hash=token_hash, comment=comment,
            created_by=created_by, created_at=now, expires_at=expires_at))

    def token_owner(self, token_hash: str) -> tuple[Row, int] | None:
        """The principal row behind a token hash, and the token's expiry."""
        row = self.conn.execute(
            select(*_COLUMNS, tok.c.expires_at).join(tok, tok.c.principal_id == p.c.id)
            .where(tok.c.token_hash == token_hash)).first()
        return (row, row.expires_at) if row else None

    def list_tokens(self, principal_id: int | None) -> list[TokenInfo]:
        query = (select(tok.c.id, p.c.name, tok.c.comment, tok.c.created_at, tok.c.expires_at,
                        tok.c.created_by, tok.c.principal_id)
                 .join(p, p.c.id == tok.c.principal_id).order_by(tok.c.created_at, tok.c.id))
        if principal_id is not None:
            query = query.where(tok.c.principal_id == principal_id)
        return [TokenInfo(*row) for row in self.conn.execute(query)]

    def token(self, token_id: str) -> tuple[TokenInfo, int, str] | None:
        """The token's info, its owner's id and its hash."""
        row = self.conn.execute(
            select(tok.c.id, p.c.name, tok.c.comment, tok.c.created_at, tok.c.expires_at,
                   tok.c.created_by, tok.c.principal_id, tok.c.token_hash)
            .join(p, p.c.id == tok.c.principal_id).where(tok.c.id == token_id)).first()
        if row is None:
            return None
        return TokenInfo(*row[:7]), row.principal_id, row.token_hash

    def delete_token(self, token_id: str) -> None:
        self.conn.execute(delete(tok).where(tok.c.id == token_id))

    def set_token_comment(self, token_id: str, comment: str) -> None:
        self.conn.execute(update(tok).where(tok.c.id == token_id).values(comment=comment))

    # ---- workspace permission levels --------------------------------------------------------

    def workspace_levels(self, model_ids: Iterable[int]) -> list[tuple[int, str, int]]:
        return [tuple(row) for row in self.conn.execute(
            select(wp.c.model_id, wp.c.principal, wp.c.level)
            .where(wp.c.model_id.in_(list(model_ids))).order_by(wp.c.model_id, wp.c.principal))]

    def best_workspace_level(self, model_ids: Iterable[int], names: Iterable[str]) -> int:
        level = self.conn.execute(
            select(func.max(wp.c.level)).where(wp.c.model_id.in_(list(model_ids)),
                                               wp.c.principal.in_(list(names)))).scalar()
        return level or 0

    def readable_model_ids(self, names: Iterable[str]) -> Any:
        """A subquery of model ids on which any of `names` holds some level."""
        return select(wp.c.model_id).where(wp.c.principal.in_(list(names)), wp.c.level > 0)

    def set_workspace_level(self, model_id: int, principal: str, level: int) -> None:
        self.conn.execute(delete(wp).where(wp.c.model_id == model_id,
                                           wp.c.principal == principal))
        self.conn.execute(insert(wp).values(model_id=model_id, principal=principal, level=level))

    def clear_workspace_levels(self, model_id: int) -> None:
        self.conn.execute(delete(wp).where(wp.c.model_id == model_id))

    # ---- Unity Catalog grants ----------------------------------------------------------------

    def grants_on(self, securables: Iterable[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
        result = []
        for securable_type, name in securables:
            result += [tuple(row) for row in self.conn.execute(
                select(ug.c.securable_type, ug.c.securable_name, ug.c.principal, ug.c.privilege)
                .where(ug.c.securable_type == securable_type, ug.c.securable_name == name)
                .order_by(ug.c.principal, ug.c.privilege))]
        return result

    def grant(self, securable_type: str, name: str, principal: str, privilege: str) -> bool:
        exists = self.conn.execute(select(ug.c.privilege).where(
            ug.c.securable_type == securable_type, ug.c.securable_name == name,
            ug.c.principal == principal, ug.c.privilege == privilege)).first()
        if exists:
            return False
        self.conn.execute(insert(ug).values(securable_type=securable_type, securable_name=name,
                                            principal=principal, privilege=privilege))
        return True

    def revoke(self, securable_type: str, name: str, principal: str, privilege: str) -> bool:
        return bool(self.conn.execute(delete(ug).where(
            ug.c.securable_type == securable_type, ug.c.securable_name == name,
            ug.c.principal == principal, ug.c.privilege == privilege)).rowcount)

    def clear_grants(self, securable_type: str, name: str) -> None:
        self.conn.execute(delete(ug).where(ug.c.securable_type == securable_type,
                                           ug.c.securable_name == name))

    def move_grants(self, old: str, new: str | None) -> None:
        """Grants on `old` and everything below it move under `new` (None: they are dropped)."""
        below = ug.c.securable_name.startswith(old + ".", autoescape=True)
        if new is None:
            self.conn.execute(ug.delete().where((ug.c.securable_name == old) | below))
            return
        self.conn.execute(update(ug).where(ug.c.securable_name == old)
                          .values(securable_name=new))
        for row in self.conn.execute(select(ug.c.securable_name).where(below).distinct()).all():
            self.conn.execute(update(ug).where(ug.c.securable_name == row.securable_name)
                              .values(securable_name=new + row.securable_name[len(old):]))
