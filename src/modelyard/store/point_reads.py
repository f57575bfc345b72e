"""The hot point reads, each one precompiled SQL statement on a raw driver connection.

Reading a model version by alias or number is the registry's most frequent call (every
`load_model`). Building, caching and executing a SQLAlchemy statement costs far more CPU than
SQLite takes to answer it, so these reads are compiled once per dialect at start-up and run on a
per-thread DBAPI connection in autocommit mode. One statement returns the version with its tags
and aliases (as JSON), so the read is a consistent snapshot without an explicit transaction.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import and_, func, literal_column, or_, select, true
from sqlalchemy.sql import Select, bindparam

from modelyard.domain.entities import Alias, ModelVersion, RegisteredModel
from modelyard.domain.stages import Stage
from modelyard.store.database import Database, json_names, names_param
from modelyard.store.failures import translated
from modelyard.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
    workspace_permissions,
)
from modelyard.store.uc_visibility import path_access, path_access_params

if TYPE_CHECKING:
    from modelyard.store.libpq_reads import LibpqPreparedReads

rm, mv = registered_models, model_versions
mvt, rma, rmt = model_version_tags, registered_model_aliases, registered_model_tags


@functools.cache
def model_aggregates(dialect: str) -> tuple[Any, Any]:
    """Correlated sub-queries: a model's tags as [[key, value]…], aliases as [[alias, version]…]."""
    if dialect == "postgresql":
        empty: Any = literal_column("'[]'::json")
        tags = select(func.coalesce(func.json_agg(func.json_build_array(rmt.c.key, rmt.c.value)),
                                    empty))
        aliases = select(func.coalesce(func.json_agg(func.json_build_array(rma.c.alias,
                                                                           rma.c.version)), empty))
    else:
        tags = select(func.json_group_array(func.json_array(rmt.c.key, rmt.c.value)))
        aliases = select(func.json_group_array(func.json_array(rma.c.alias, rma.c.version)))
    return (tags.where(rmt.c.model_id == rm.c.id).scalar_subquery().label("tags"),
            aliases.where(rma.c.model_id == rm.c.id).scalar_subquery().label("aliases"))


@functools.cache
def version_aggregates(dialect: str) -> tuple[Any, Any]:
    """Correlated sub-queries: the version's tags as [[key, value]…] and its aliases as […].

    Their order is not guaranteed by either dialect; `_version` sorts them.
    """
    # Its own alias of the aliases table: the by-alias query joins the table itself.
    va = rma.alias("version_aliases")
    if dialect == "postgresql":
        empty: Any = literal_column("'[]'::json")
        tags = select(func.coalesce(func.json_agg(func.json_build_array(mvt.c.key, mvt.c.value)),
                                    empty))
        aliases = select(func.coalesce(func.json_agg(va.c.alias), empty))
    else:
        tags = select(func.json_group_array(func.json_array(mvt.c.key, mvt.c.value)))
        aliases = select(func.json_group_array(va.c.alias))
    tags = tags.where(mvt.c.version_id == mv.c.id)
    aliases = aliases.where(va.c.model_id == mv.c.model_id, va.c.version == mv.c.version)
    return (tags.scalar_subquery().label("tags"), aliases.scalar_subquery().label("aliases"))


def version_lookups(columns: tuple[Any, ...]) -> tuple[Select[Any], Select[Any]]:
    """A version's `columns` by (registry, model name, alias) and by (registry, model name,
    version): the two lookups the MLflow reads here and the UC ones (store/catalog.py) share."""
    by_alias = (
        select(*columns)
        .select_from(rma.join(rm, rm.c.id == rma.c.model_id)
                     .join(mv, and_(mv.c.model_id == rma.c.model_id,
                                    mv.c.version == rma.c.version)))
        .where(rm.c.registry == bindparam("registry"), rm.c.name == bindparam("name"),
               rma.c.alias == bindparam("alias"))
    )
    by_number = (
        select(*columns).select_from(mv.join(rm, rm.c.id == mv.c.model_id))
        .where(rm.c.registry == bindparam("registry"), rm.c.name == bindparam("name"),
               mv.c.version == bindparam("version"))
    )
    return by_alias, by_number


def _statements(dialect: str) -> dict[str, Select[Any]]:
    tags, aliases = version_aggregates(dialect)
    columns = (rm.c.name, mv.c.version, mv.c.created_at, mv.c.updated_at, mv.c.user_id,
               mv.c.stage, mv.c.description, mv.c.source, mv.c.run_id, mv.c.run_link,
               mv.c.status, mv.c.status_message, mv.c.logged_model_id, tags, aliases)
    by_alias, by_number = version_lookups(columns)
    # Who may read a workspace model (services/authorization.py): its creator and every
    # permission level on it or on the registry root (model id 0), one row each.
    wp = workspace_permissions
    def held_level(on: Any) -> Select[Any]:
        """The highest level the caller's principals hold where `on`."""
        return select(func.max(wp.c.level)).where(
            on, wp.c.principal.in_(json_names(dialect, "principals")))

    # The highest level the caller holds on the registry root: whether its searches see every
    # model.
    root_level = held_level(wp.c.model_id == bindparam("root"))
    access = (
        select(rm.c.user_id, wp.c.principal, wp.c.level)
        .select_from(rm.outerjoin(wp, or_(wp.c.model_id == rm.c.id,
                                          wp.c.model_id == bindparam("root"))))
        .where(rm.c.registry == bindparam("registry"), rm.c.name == bindparam("name"))
    )
    # The model with its highest version in each stage, one row per such version (one row with
    # NULL version columns when it has none): a single statement, so a consistent snapshot.
    # Each version is probed for being its stage's highest on the (model, stage, version)
    # index; grouping by stage in a derived table made PostgreSQL aggregate every model.
    newer = mv.alias("newer")
    newest_in_stage = select(func.max(newer.c.version)).where(
        newer.c.model_id == mv.c.model_id, newer.c.stage == mv.c.stage).scalar_subquery()
    model_with_latest = (
        select(rm.c.name, rm.c.description, rm.c.user_id, rm.c.created_at, rm.c.updated_at,
               *model_aggregates(dialect), *columns[1:])
        .select_from(rm.outerjoin(mv, and_(mv.c.model_id == rm.c.id,
                                           mv.c.version == newest_in_stage)))
        .where(rm.c.registry == bindparam("registry"), rm.c.name == bindparam("name"))
        .order_by(mv.c.version)
    )
    # Each read also comes `_checked`, for a caller who is not an admin: with what its access
    # check needs in the same statement, one round trip instead of two. The workspace reads'
    # rows end with the model's creator and the caller's highest level on it or on the registry
    # root (services/authorization.workspace_read_refusal decides); a read that finds nothing
    # says nothing of the model, and the caller checks apart then.
    level = held_level(or_(wp.c.model_id == rm.c.id, wp.c.model_id == bindparam("root")))
    checked = {f"{key}_checked": read.add_columns(rm.c.user_id.label("creator"),
                                                  level.scalar_subquery().label("level"))
               for key, read in [("by_alias", by_alias), ("by_number", by_number),
                                 ("model_with_latest", model_with_latest)]}
    # Unity Catalog's reads are defined with its other queries (store/catalog.py, which imports
    # this module: hence imported here). Their checked rows: the privilege check's row
    # (uc_visibility.path_access), then the read's, `access LEFT JOIN found ON true`.
    from modelyard.store.uc_models import point_read_statements

    uc_reads = point_read_statements(dialect)
    for key, read in uc_reads.items():
        access_row, found = path_access(dialect).subquery("access"), read.subquery("found")
        checked[f"{key}_checked"] = select(access_row, found).select_from(
            access_row.outerjoin(found, true()))
    return {"by_alias": by_alias, "by_number": by_number, "workspace_access": access,
            "workspace_root_level": root_level, "model_with_latest": model_with_latest,
            **uc_reads, **checked}


def decode_json(value: Any) -> Any:
    """JSON aggregated by the database: text from SQLite, already decoded from psycopg."""
    if value is None or value == "[]":  # most versions have no tags or aliases
        return []
    return orjson.loads(value) if isinstance(value, str | bytes) else value


#: Stage by its stored value: a dict lookup costs a fraction of calling the Enum.
STAGES: dict[str, Stage] = {stage.value: stage for stage in Stage}


def _version(row: tuple[Any, ...]) -> ModelVersion:
    (name, version, created_at, updated_at, user_id, stage, description, source, run_id,
     run_link, status, status_message, logged_model_id, tags, aliases) = row
    return ModelVersion(
        model_name=name, version=version, creation_timestamp=created_at,
        last_updated_timestamp=updated_at, user_id=user_id,
        current_stage=STAGES.get(stage) or Stage(stage),
        description=description, source=source, run_id=run_id, run_link=run_link,
        status=status, status_message=status_message, logged_model_id=logged_model_id,
        tags=dict(sorted(decode_json(tags))), aliases=tuple(sorted(decode_json(aliases))),
    )


def _model(rows: list[tuple[Any, ...]]) -> RegisteredModel:
    """The entity from the rows of `model_with_latest` (model columns, then a version's)."""
    name, description, user_id, created_at, updated_at, tags, aliases = rows[0][:7]
    return RegisteredModel(
        name=name, creation_timestamp=created_at, last_updated_timestamp=updated_at,
        user_id=user_id, description=description, tags=dict(sorted(decode_json(tags))),
        aliases=tuple(Alias(a, v) for a, v in sorted(decode_json(aliases))),
        latest_versions=tuple(_version((name, *row[7:])) for row in rows if row[7] is not None),
    )


#: The columns of uc_visibility.path_access, first in the `_checked` reads' rows.
_ACCESS_COLUMNS = 4


class PointReads:
    """Precompiled single-statement reads; safe to share across threads."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._local = threading.local()
        dialect: Any = database.engine.dialect
        if database.dialect == "postgresql":
            # libpq's prepared statements take $1, $2 …, not psycopg's %(name)s.
            from sqlalchemy.dialects.postgresql import psycopg  # PostgreSQL servers only

            dialect = psycopg.dialect(paramstyle="numeric_dollar")
        self._dialect = dialect
        self._sql: dict[str, tuple[str, list[str]]] = {}
        #: Searches compiled on first use (`search`): their shape -> statement key.
        self._searches: dict[Hashable, str] = {}
        self._searches_lock = threading.Lock()
        self._libpq: LibpqPreparedReads | None = None
        for key, statement in _statements(database.dialect).items():
            compiled = statement.compile(dialect=dialect)
            self._sql[key] = (compiled.string, list(compiled.positiontup or []))
        #: (key, params) -> rows: prepared on libpq (PostgreSQL), a thread's cursor (SQLite).
        self._all: Callable[[str, dict[str, Any]], list[Any]] = self._sqlite_rows
        if database.dialect == "postgresql":
            from modelyard.store.libpq_reads import LibpqPreparedReads

            self._libpq = LibpqPreparedReads(self._own_connection, self._sql)
            self._all = self._libpq.rows
        reads = self._all

        def translating(key: str, params: dict[str, Any]) -> list[Any]:
            with translated:  # out-of-range input: a 400; the database down: a 503
                return reads(key, params)

        self._all = translating

    #: At most this many search shapes are kept (they come from user filters); others are run
    #: by the caller in a unit of work (None from `search`).
    MAX_SEARCHES = 64

    def search(self, shape: Hashable, build: Callable[[], Any],
               params: dict[str, Any]) -> list[Any] | None:
        """Rows of a search statement (`build()`, the same SQL for every call of one `shape`),
        compiled on its shape's first call and then run as the point reads are: one statement
        on a connection of their own, prepared on PostgreSQL. None when it cannot run here (too
        many shapes, or a NULL value, which the prepared reads do not bind)."""
        key = self._searches.get(shape)
        if key is None:
            with self._searches_lock:
                key = self._searches.get(shape)
                if key is None:
                    if len(self._searches) >= self.MAX_SEARCHES:
                        return None
                    compiled = build().compile(dialect=self._dialect)
                    key = f"search_{len(self._searches)}"
                    order = list(compiled.positiontup or [])
                    self._sql[key] = (compiled.string, order)
                    if self._libpq is not None:
                        self._libpq.add(key, compiled.string, order)
                    self._searches[shape] = key
        if any(params[name] is None for name in self._sql[key][1]):
            return None
        return self._all(key, params)

    def _own_connection(self) -> Any:
        """A DBAPI connection of its own, not from the pool (which it would hold forever)."""
        fairy = self._database.engine.raw_connection()
        fairy.detach()
        return fairy.dbapi_connection

    def _sqlite_rows(self, key: str, params: dict[str, Any]) -> list[Any]:
        """The statement on this thread's own connection."""
        sql, order = self._sql[key]
        connection: Any = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._own_connection()
        cursor = connection.cursor()
        try:
            cursor.execute(sql, [params[name] for name in order])
            rows: list[Any] = cursor.fetchall()
            return rows
        except Exception:
            # A broken connection (database file replaced, say) is dropped; the next read
            # opens another.
            self._local.connection.close()
            self._local.connection = None
            raise
        finally:
            cursor.close()

    def _one(self, key: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        rows = self._all(key, params)
        return rows[0] if rows else None

    def workspace_access(self, name: str) -> list[tuple[str, str | None, int | None]]:
        """(creator, principal, level) rows of a workspace model; empty if it is missing."""
        return self._all("workspace_access", {"registry": "workspace", "root": 0, "name": name})

    def workspace_root_level(self, principals: frozenset[str]) -> int:
        """The highest permission level any of `principals` holds on the whole workspace
        registry (0: none)."""
        row = self._one("workspace_root_level", {"root": 0, "principals": names_param(principals)})
        return (row[0] if row else None) or 0

    def workspace_checked(self, key: str, name: str, principals: frozenset[str],
                          **lookup: Any) -> tuple[Any, str, int] | None:
        """A workspace read (`key`: "by_number" with `version`, "by_alias" with `alias`,
        "model_with_latest") together with what its CAN READ check needs, in one statement:
        (the entity, the model's creator, the highest level `principals` hold on it or on the
        registry root, 0 for none), or None when the read finds nothing."""
        rows = self._all(f"{key}_checked", {
            "registry": "workspace", "name": name, "root": 0,
            "principals": names_param(principals), **lookup})
        if not rows:
            return None
        creator, level = rows[0][-2:]
        found = [row[:-2] for row in rows]
        entity = _model(found) if key == "model_with_latest" else _version(found[0])
        return entity, creator, level or 0

    def model_with_latest(self, registry: str, name: str) -> RegisteredModel | None:
        """The model with its tags, aliases and highest version in each stage."""
        rows = self._all("model_with_latest", {"registry": registry, "name": name})
        return _model(rows) if rows else None

    def version_by_alias(self, registry: str, name: str, alias: str) -> ModelVersion | None:
        row = self._one("by_alias", {"registry": registry, "name": name, "alias": alias})
        return _version(row) if row else None

    def version_by_number(self, registry: str, name: str, version: int) -> ModelVersion | None:
        row = self._one("by_number", {"registry": registry, "name": name, "version": version})
        return _version(row) if row else None

    def uc_model_row(self, full_name: str) -> tuple[Any, ...] | None:
        """A Unity Catalog model: a row for `store.uc_models.model_from_point_read`."""
        return self._one("uc_model", {"registry": "uc", "name": full_name})

    def uc_checked(self, key: str, full_name: str, principals: frozenset[str],
                   **lookup: Any) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
        """A Unity Catalog read (`key`: "uc_model"; "uc_by_number" with `version`,
        "uc_by_alias" with `alias`) together with what the privilege check needs: (the row of
        `uc_visibility.path_access` for `principals`, for services.authorization.uc_view_of;
        the read's row, as `uc_model_row` / `uc_version_row` give it, or None)."""
        params = path_access_params(full_name.split("."), principals)
        row = self._all(f"{key}_checked", {**params, "name": full_name, **lookup})[0]
        found = row[_ACCESS_COLUMNS:]
        return row[:_ACCESS_COLUMNS], (found if found[0] is not None else None)

    def uc_version_row(self, full_name: str, *, version: int | None = None,
                       alias: str | None = None) -> tuple[Any, ...] | None:
        """A Unity Catalog version by number or alias: a row for
        `store.uc_models.version_from_point_read`; None if there is none."""
        if alias is not None:
            return self._one("uc_by_alias", {"registry": "uc", "name": full_name, "alias": alias})
        return self._one("uc_by_number", {"registry": "uc", "name": full_name, "version": version})
