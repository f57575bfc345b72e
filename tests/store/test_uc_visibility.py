"""The two readings of the Unity Catalog rules agree: for any owners and grants along a
catalog → schema → model path, every rule of UC_RULES as a SQL condition (store.uc_visibility,
what list queries filter with) selects the path exactly when `permits` allows it for one object
(services.authorization, what GET and every write check)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, create_engine, delete, insert, select, update

from modelyard.domain.access import UC_RULES, Privilege, Securable, permits
from modelyard.services.authorization import uc_view
from modelyard.services.context import Actor
from modelyard.store.tables import (
    metadata,
    registered_models,
    uc_catalogs,
    uc_grants,
    uc_schemas,
)
from modelyard.store.uc_visibility import rule_condition

cat, sch, rm, ug = uc_catalogs, uc_schemas, registered_models, uc_grants
CALLER, GROUP = "alice", "team"
PRINCIPALS = [CALLER, GROUP, "bob"]
SECURABLES = [("metastore", "metastore"), (Securable.CATALOG.value, "c"),
              (Securable.SCHEMA.value, "c.s"), (Securable.MODEL.value, "c.s.m")]


@pytest.fixture(scope="module")
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.connect() as connection:
        audit = {"created_at": 0, "created_by": "x", "updated_at": 0, "updated_by": "x"}
        connection.execute(insert(cat).values(id="cat", name="c", owner="bob", **audit))
        connection.execute(insert(sch).values(id="sch", catalog_id="cat", name="s", owner="bob",
                                              **audit))
        connection.execute(insert(rm).values(id=1, registry="uc", name="c.s.m", schema_id="sch",
                                             owner="bob", user_id="bob", created_at=0,
                                             updated_at=0, last_version=0))
        yield connection
    engine.dispose()


owners = st.sampled_from(PRINCIPALS)
grants = st.lists(st.tuples(st.sampled_from(SECURABLES), st.sampled_from(PRINCIPALS),
                            st.sampled_from(list(Privilege))), max_size=6, unique=True)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(catalog_owner=owners, schema_owner=owners, model_owner=st.sampled_from(["", *PRINCIPALS]),
       creator=owners, granted=grants)
def test_sql_and_python_readings_agree(conn: Connection, catalog_owner: str, schema_owner: str,
                                       model_owner: str, creator: str,
                                       granted: list[tuple[tuple[str, str], str, Privilege]]
                                       ) -> None:
    conn.execute(update(cat).values(owner=catalog_owner))
    conn.execute(update(sch).values(owner=schema_owner))
    conn.execute(update(rm).values(owner=model_owner, user_id=creator))
    conn.execute(delete(ug))
    for (kind, name), principal, privilege in granted:
        conn.execute(insert(ug).values(securable_type=kind, securable_name=name,
                                       principal=principal, privilege=privilege.value))
    actor = Actor(CALLER, groups=frozenset({GROUP}))
    view, _ = uc_view(conn, actor, "c.s.m")
    path = (cat.join(sch, sch.c.catalog_id == cat.c.id)
            .join(rm, rm.c.schema_id == sch.c.id))
    for op, rule in UC_RULES.items():
        selected = conn.execute(select(rm.c.id).select_from(path)
                                .where(rule_condition(rule, actor.principals))).first()
        assert (selected is not None) == permits(rule, view), (op, granted)
