"""The access rules as data: spellings, levels, and the Unity Catalog rule table."""

from __future__ import annotations

import pytest

from modelyard.domain.access import (
    CATALOG,
    MODEL,
    SCHEMA,
    UC_RULES,
    Level,
    Privilege,
    Securable,
    UcView,
    expand,
    level_for_transition,
    parse_level,
    parse_privilege,
    parse_securable,
    permits,
)
from modelyard.domain.errors import InvalidArgument
from modelyard.domain.stages import Stage


@pytest.mark.parametrize("spelling", ["USE_CATALOG", "USE CATALOG", "use catalog",
                                      "Use_Catalog", "  USE   CATALOG "])
def test_privilege_spellings(spelling: str) -> None:
    assert parse_privilege(spelling) is Privilege.USE_CATALOG


@pytest.mark.parametrize(("spelling", "securable"), [
    ("function", Securable.MODEL), ("FUNCTION", Securable.MODEL),
    ("registered_model", Securable.MODEL), ("Model", Securable.MODEL),
    ("catalog", Securable.CATALOG), ("SCHEMA", Securable.SCHEMA)])
def test_securable_spellings(spelling: str, securable: Securable) -> None:
    assert parse_securable(spelling) is securable


def test_unknown_spellings_are_invalid() -> None:
    for bad in ("SELECT STAR", "", "CAN_FLY"):
        with pytest.raises(InvalidArgument):
            parse_privilege(bad)
    with pytest.raises(InvalidArgument):
        parse_securable("table")
    with pytest.raises(InvalidArgument):
        parse_level("CAN_FLY")


def test_levels_and_transitions() -> None:
    assert parse_level("CAN MANAGE STAGING VERSIONS") is Level.CAN_MANAGE_STAGING_VERSIONS
    assert level_for_transition(Stage.NONE, Stage.STAGING) is Level.CAN_MANAGE_STAGING_VERSIONS
    assert level_for_transition(Stage.STAGING, Stage.ARCHIVED) is \
        Level.CAN_MANAGE_STAGING_VERSIONS
    assert level_for_transition(Stage.PRODUCTION, Stage.ARCHIVED) is \
        Level.CAN_MANAGE_PRODUCTION_VERSIONS
    assert level_for_transition(Stage.STAGING, Stage.PRODUCTION) is \
        Level.CAN_MANAGE_PRODUCTION_VERSIONS


def may(op: str, view: UcView) -> bool:
    return permits(UC_RULES[op], view)


def _view(owns: tuple[str, ...] = (), **held: list[Privilege]) -> UcView:
    owned, inherited, levels = False, set(), {}
    owns_map = {}
    for level in (CATALOG, SCHEMA, MODEL):
        owned = owned or level in owns
        owns_map[level] = owned
        inherited |= set(held.get(level, []))
        levels[level] = expand(set(inherited))
    return UcView(owns_map, levels)


def test_all_privileges_excludes_manage() -> None:
    view = _view(catalog=[Privilege.ALL_PRIVILEGES])
    assert may("model.execute", view) and may("model.create_version", view)
    assert not may("model.manage", view)


def test_execute_needs_use_on_both_parents() -> None:
    execute = [Privilege.EXECUTE]
    assert not may("model.execute", _view(model=execute))
    assert not may("model.execute", _view(catalog=[Privilege.USE_CATALOG], model=execute))
    assert may("model.execute", _view(catalog=[Privilege.USE_CATALOG, Privilege.USE_SCHEMA],
                                           model=execute))


def test_owning_the_schema_covers_its_models() -> None:
    view = _view(owns=(SCHEMA,), catalog=[Privilege.USE_CATALOG])
    assert all(may(op, view) for op in ("model.create", "model.execute", "model.manage",
                                            "model.tag", "model.create_version"))
    assert not may("catalog.manage", view)
