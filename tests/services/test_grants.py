"""services/grants.py: Unity Catalog grants, and how they follow renames and deletes (the
grants commit hook that bootstrap.commit_hooks installs)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from modelyard.bootstrap import Modelyard
from modelyard.domain.access import Privilege
from modelyard.domain.actor import Actor
from modelyard.domain.errors import InvalidArgument
from modelyard.services.grants import parse_change
from modelyard.store.tables import uc_grants
from tests.services.conftest import ADMIN


def _on(built: Modelyard, kind: str, name: str) -> dict[str, tuple[Privilege, ...]]:
    return {a.principal: a.privileges for a in built.grants.get(ADMIN, kind, name)}


def test_grant_and_revoke(built: Modelyard, unique: str,
                          new_user: Callable[[str], Actor]) -> None:
    user = new_user("g")
    built.uc_catalogs.create_catalog(ADMIN, unique)
    built.grants.update(ADMIN, "catalog", unique,
                        [parse_change(user.name, ["USE_CATALOG", "browse"], [])])
    assert _on(built, "catalog", unique)[user.name] == (Privilege.BROWSE, Privilege.USE_CATALOG)
    built.grants.update(ADMIN, "catalog", unique, [parse_change(user.name, [], ["BROWSE"])])
    assert _on(built, "catalog", unique)[user.name] == (Privilege.USE_CATALOG,)
    with pytest.raises(InvalidArgument):
        parse_change(user.name, "USE CATALOG", [])  # not a list


def test_grants_follow_a_renamed_schema_and_go_with_a_deleted_one(
        built: Modelyard, unique: str, new_user: Callable[[str], Actor]) -> None:
    user = new_user("g")
    built.uc_catalogs.create_catalog(ADMIN, unique)
    built.uc_catalogs.create_schema(ADMIN, unique, "s")
    built.uc_models.create_model(ADMIN, unique, "s", "m")
    built.grants.update(ADMIN, "schema", f"{unique}.s",
                        [parse_change(user.name, ["USE SCHEMA"], [])])
    built.grants.update(ADMIN, "function", f"{unique}.s.m",
                        [parse_change(user.name, ["EXECUTE"], [])])

    built.uc_catalogs.update_schema(ADMIN, f"{unique}.s", new_name="t")
    assert _on(built, "schema", f"{unique}.t") == {user.name: (Privilege.USE_SCHEMA,)}
    assert _on(built, "function", f"{unique}.t.m") == {user.name: (Privilege.EXECUTE,)}

    built.uc_catalogs.delete_schema(ADMIN, f"{unique}.t", force=True)
    built.uc_catalogs.create_schema(ADMIN, unique, "t")
    assert _on(built, "schema", f"{unique}.t") == {}


def test_effective_privileges_show_where_they_come_from(
        built: Modelyard, unique: str, new_user: Callable[[str], Actor]) -> None:
    user = new_user("g")
    built.uc_catalogs.create_catalog(ADMIN, unique)
    built.uc_catalogs.create_schema(ADMIN, unique, "s")
    built.grants.update(ADMIN, "catalog", unique, [parse_change(user.name, ["BROWSE"], [])])
    [inherited] = built.grants.effective(ADMIN, "schema", f"{unique}.s")[user.name]
    assert inherited.privilege is Privilege.BROWSE
    assert (inherited.inherited_from_type, inherited.inherited_from_name) == ("CATALOG", unique)


def test_a_privilege_is_granted_only_where_it_applies(
        built: Modelyard, unique: str, new_user: Callable[[str], Actor]) -> None:
    user = new_user("g")
    built.uc_catalogs.create_catalog(ADMIN, unique)
    built.uc_catalogs.create_schema(ADMIN, unique, "s")
    with pytest.raises(InvalidArgument, match=r"Privilege USE CATALOG is not applicable to "
                                              rf"this entity \[{unique}\.s:SCHEMA\]"):
        built.grants.update(ADMIN, "schema", f"{unique}.s",
                            [parse_change(user.name, ["USE SCHEMA", "USE CATALOG"], [])])
    assert _on(built, "schema", f"{unique}.s") == {}  # nothing of the change was made
    # A grant made before the rule existed can still be revoked.
    built.grants.update(ADMIN, "schema", f"{unique}.s",
                        [parse_change(user.name, [], ["USE CATALOG"])])


def test_a_models_grants_go_to_the_trash_with_it_and_come_back_with_it(
        built: Modelyard, unique: str, new_user: Callable[[str], Actor]) -> None:
    user = new_user("g")
    built.uc_catalogs.create_catalog(ADMIN, unique)
    built.uc_catalogs.create_schema(ADMIN, unique, "s")
    full_name = f"{unique}.s.m"
    built.uc_models.create_model(ADMIN, unique, "s", "m")
    built.grants.update(ADMIN, "function", full_name,
                        [parse_change(user.name, ["EXECUTE", "APPLY_TAG"], [])])

    built.uc_models.delete_model(ADMIN, full_name)
    # A new model of that name inherits nothing from the one in the trash.
    built.uc_models.create_model(ADMIN, unique, "s", "m")
    assert _on(built, "function", full_name) == {}
    built.uc_models.delete_model(ADMIN, full_name)
    built.trash.purge(ADMIN, full_name)  # the newer one: it had no grants

    built.trash.restore(ADMIN, full_name)  # the first one, with its grants
    assert _on(built, "function", full_name) == {
        user.name: (Privilege.APPLY_TAG, Privilege.EXECUTE)}

    built.uc_models.delete_model(ADMIN, full_name)
    built.trash.purge(ADMIN, full_name)
    built.uc_models.create_model(ADMIN, unique, "s", "m")
    assert _on(built, "function", full_name) == {}
    with built.units.read(ADMIN) as uow:  # purged: none is left behind under the trash
        left = uow.conn.execute(select(uc_grants.c.securable_name).where(
            uc_grants.c.securable_name.startswith("trash:"))).all()
    assert left == []
