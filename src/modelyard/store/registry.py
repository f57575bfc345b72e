"""The registry repository: registered models, versions, tags and aliases.

Each method runs on a connection inside a unit of work (store.database). Reads that return many
objects load their tags, aliases and latest versions in one batched query each, never one query
per row; models read them from their summary, which every method here that changes them
refreshes in the same transaction (store/model_summary.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Row,
    and_,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import bindparam

from modelyard.domain.entities import Alias, ModelVersion, RegisteredModel
from modelyard.domain.errors import (
    AlreadyExists,
    ModelVersionNotFound,
    RegisteredModelNotFound,
)
from modelyard.domain.filters import Clause, OrderKey
from modelyard.domain.hits import ModelHit, VersionHit
from modelyard.domain.stages import Stage
from modelyard.store import model_summary, summary_edits, uc_visibility
from modelyard.store.compiled import execute_later, fetch_ahead, fetch_all
from modelyard.store.database import upsert_insert
from modelyard.store.filter_sql import (
    PatternOrder,
    clause_params,
    clauses_to_sql,
    filter_shape,
    has_name_prefix,
    ordering_tag_clause,
)
from modelyard.store.model_tag_names import rename_tag_owner
from modelyard.store.point_reads import (
    STAGES,
    decode_json,
    version_aggregates,
)
from modelyard.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
    tag_value_head,
    uc_catalogs,
    uc_schemas,
    workspace_permissions,
)

rm = registered_models
mv = model_versions
rmt = registered_model_tags
mvt = model_version_tags
rma = registered_model_aliases

_MODEL_COLUMNS = (rm.c.id, rm.c.name, rm.c.description, rm.c.user_id, rm.c.created_at,
                  rm.c.updated_at)
_VERSION_COLUMNS = (mv.c.id, mv.c.model_id, rm.c.name, mv.c.version, mv.c.source, mv.c.run_id,
                    mv.c.run_link, mv.c.logged_model_id, mv.c.description, mv.c.stage,
                    mv.c.status, mv.c.status_message, mv.c.user_id, mv.c.created_at,
                    mv.c.updated_at)
_MODEL_ORDER_COLUMNS = {"name": rm.c.name, "last_updated_timestamp": rm.c.updated_at}
# A name-ordered search with a `tags.k = 'v'` clause starts from that tag's index (revision
# 0005). Built once: making an alias and its column collection on every request cost ~8% of a
# search's CPU.
_DRIVING_TAG = rmt.alias("driving_tag")
_DRIVEN_SOURCE = _DRIVING_TAG.join(rm, rm.c.id == _DRIVING_TAG.c.model_id)
_DRIVEN_ORDER_COLUMNS = {**_MODEL_ORDER_COLUMNS, "name": _DRIVING_TAG.c.model_name}
_VERSION_ORDER_COLUMNS = {"name": rm.c.name, "version_number": mv.c.version,
                          "creation_timestamp": mv.c.created_at,
                          "last_updated_timestamp": mv.c.updated_at}
_VERSION_FILTER_COLUMNS = {"name": rm.c.name, "run_id": mv.c.run_id, "source_path": mv.c.source,
                           "version_number": mv.c.version}


def _model_select(dialect: str) -> Any:
    """Model columns with the model's summary (store/model_summary.py); see `_hit`."""
    return select(*_MODEL_COLUMNS, rm.c.summary)


def _version_select(dialect: str) -> Any:
    """Version columns with the version's tags and aliases aggregated as JSON."""
    return select(*_VERSION_COLUMNS, *version_aggregates(dialect))


def version_search(
    dialect: str, registry: str, clauses: list[Clause], order: list[OrderKey], offset: int,
    limit: int, readers: frozenset[str] | None = None,
) -> tuple[Hashable, Callable[[], Any], dict[str, Any]]:
    """A version search as (shape, build, params): the statement `build()` depends only on the
    shape, so it is compiled once per shape (store/compiled.py, or PointReads.search) and run
    with `params`; its rows are read by `version_from_row`."""
    params: dict[str, Any] = {"registry": registry, "offset": offset, "limit": limit}
    # Only the values are needed per call: building the expressions cost more than the query.
    clause_params(clauses, params)
    _visible_params(readers, params)
    shape = ("search_versions", filter_shape(clauses), tuple(order),
             -1 if readers is None else len(readers), offset == 0)

    def conditions(values: dict[str, Any]) -> list[Any]:
        return clauses_to_sql(clauses, _VERSION_FILTER_COLUMNS, mvt, "version_id", mv.c.id,
                              values) + _visible_to(readers, values)

    def build(where: list[Any]) -> Any:
        return (_version_select(dialect).join(rm, rm.c.id == mv.c.model_id)
                .where(rm.c.registry == bindparam("registry"), *where)
                .order_by(*RegistryRepository._order(order, _VERSION_ORDER_COLUMNS))
                .offset(_page_offset(dialect, offset)).limit(bindparam("limit")))

    return shape, lambda: _built(build, conditions, params), params


def _built(build: Any, conditions: Any, params: dict[str, Any]) -> Any:
    """A search statement, built when its shape is first compiled, from conditions whose
    values must be exactly those the caller put in `params` (checked: a mismatch would run the
    compiled statement with wrong values)."""
    values = {k: params[k] for k in ("registry", "offset", "limit")}
    statement = build(conditions(values))
    if values != params:
        raise AssertionError(f"search parameters differ: {sorted(values)} != {sorted(params)}")
    return statement


def _visible_params(readers: frozenset[str] | None, params: dict[str, Any]) -> None:
    """The values `_visible_to` binds."""
    if readers is not None:
        params.update((f"r{i}", name) for i, name in enumerate(sorted(readers)))


def _visible_to(readers: frozenset[str] | None, params: dict[str, Any]) -> list[Any]:
    """Search conditions for a caller who may not read every model: models it created, or on
    which one of `readers` (its name and groups) holds a permission level. The names go into
    `params` as `r0`, `r1`…"""
    if readers is None:
        return []
    names = [f"r{i}" for i in range(len(readers))]
    params.update(zip(names, sorted(readers), strict=True))
    levels = select(workspace_permissions.c.model_id).where(
        workspace_permissions.c.principal.in_([bindparam(n) for n in names]),
        # A literal, not a bind: the compiled statement gets its values only from `params`.
        workspace_permissions.c.level > literal_column("0"))
    return [rm.c.user_id.in_([bindparam(n) for n in names]) | rm.c.id.in_(levels)]


def _matches_text_param(text: str, params: dict[str, Any]) -> None:
    """The value `_matches_text` binds."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    params["text"] = f"%{escaped}%"


def _matches_text(text: str, params: dict[str, Any]) -> Any:
    """The web UI's one search box: a model whose name, a tag key or value, or an alias
    contains `text`, case-insensitively (LIKE wildcards in `text` are taken literally)."""
    _matches_text_param(text, params)

    def has(column: Any) -> Any:
        return func.lower(column).like(bindparam("text"), escape="\\")

    tags = select(rmt.c.model_id).where(has(rmt.c.key) | has(rmt.c.value))
    aliases = select(rma.c.model_id).where(has(rma.c.alias))
    return has(rm.c.name) | rm.c.id.in_(tags) | rm.c.id.in_(aliases)


_NEXT_VERSION = (
    select(rm.c.id, rm.c.last_version + literal_column("1"), rm.c.summary)
    .where(rm.c.registry == bindparam("b_registry"), rm.c.name == bindparam("b_name"))
    .with_for_update()
)
#: PostgreSQL: also the new version's id, taken from its sequence with the lock, so that the
#: INSERT needs no answer (it goes with the COMMIT: store/libpq_statements.py).
_NEXT_VERSION_AND_ID = _NEXT_VERSION.add_columns(literal_column("nextval('model_versions_id_seq')"))
_INSERT_VERSION = insert(mv).returning(*summary_edits.ENTRY_COLUMNS)  # the id first
_VERSION_ROW = (
    select(*_VERSION_COLUMNS).join(rm, rm.c.id == mv.c.model_id)
    .where(rm.c.registry == bindparam("b_registry"), rm.c.name == bindparam("b_name"),
           mv.c.version == bindparam("b_version"))
)


class VersionRow(NamedTuple):
    """A workspace version's row (`_VERSION_COLUMNS`), as `version_row` reads it: the columns by
    name, like the SQLAlchemy `Row` the other repositories' version rows are."""

    id: int
    model_id: int
    name: str
    version: int
    source: str
    run_id: str
    run_link: str
    logged_model_id: str
    description: str
    stage: str
    status: str
    status_message: str
    user_id: str
    created_at: int
    updated_at: int

    @property
    def _mapping(self) -> dict[str, Any]:
        return self._asdict()


#: A version's row from either registry: this repository's, or Unity Catalog's (uc_models).
AnyVersionRow = Row[Any] | VersionRow
_ALIAS_VERSION = select(rma.c.version).where(rma.c.model_id == bindparam("model_id"),
                                            rma.c.alias == bindparam("alias"))
_ALIAS_VERSION_BY_NAME = (
    select(rma.c.version).join(rm, rm.c.id == rma.c.model_id)
    .where(rm.c.registry == bindparam("registry"), rm.c.name == bindparam("name"),
           rma.c.alias == bindparam("alias"))
)
_TOUCH_MODEL = update(rm).where(rm.c.id == bindparam("b_id")).values(
    updated_at=bindparam("b_now"))
_TOUCH_VERSION = update(mv).where(mv.c.id == bindparam("b_id")).values(
    updated_at=bindparam("b_now"))


@functools.cache
def _upsert_statement(dialect: str, table: Any, columns: tuple[str, ...], keys: tuple[str, ...],
                      changes: tuple[str, ...]) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET changes, built once; values bound as `b_<col>`."""
    dialect_insert = upsert_insert(dialect)
    statement = dialect_insert(table).values({c: bindparam(f"b_{c}") for c in columns})
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: statement.excluded[c] for c in changes})


def _insert_model_statement(dialect: str) -> Any:
    columns = ("registry", "name", "description", "user_id", "created_at", "updated_at",
               "last_version")
    return (upsert_insert(dialect)(rm).values({c: bindparam(c) for c in columns})
            .on_conflict_do_nothing(index_elements=["registry", "name"]).returning(rm.c.id))


def _page_offset(dialect: str, offset: int) -> Any:
    """OFFSET for a search page: none on PostgreSQL's first page. A bound OFFSET made it cost
    the generic plan of a prepared search as if it skipped a tenth of the rows, so it planned
    every `tags.team = 'x'` search afresh (~1 ms of its CPU each time). (SQLite's compiler
    always writes an OFFSET.)"""
    return None if offset == 0 and dialect == "postgresql" else bindparam("offset")


def _model_not_found(name: str) -> RegisteredModelNotFound:
    return RegisteredModelNotFound(f"Registered Model with name={name} not found")


def version_not_found(name: str, version: int | str) -> ModelVersionNotFound:
    return ModelVersionNotFound(f"Model Version (name={name}, version={version}) not found")


def _version_from_tuple(row: Sequence[Any], name: str | None = None) -> ModelVersion:
    """An entity from a row of `_version_select` (columns in `_VERSION_COLUMNS` order, then
    tags and aliases aggregated as JSON); `name` replaces the row's model name when given."""
    (_, _, row_name, version, source, run_id, run_link, logged_model_id, description, stage,
     status, status_message, user_id, created_at, updated_at, tags, aliases) = row
    return ModelVersion(
        model_name=row_name if name is None else name, version=version,
        creation_timestamp=created_at, last_updated_timestamp=updated_at, user_id=user_id,
        current_stage=STAGES.get(stage) or Stage(stage), description=description, source=source,
        run_id=run_id,
        run_link=run_link, status=status, status_message=status_message,
        logged_model_id=logged_model_id, tags=dict(sorted(decode_json(tags))),
        aliases=tuple(sorted(decode_json(aliases))),
    )


def _model_from_hit(hit: ModelHit, latest: Sequence[ModelVersion]) -> RegisteredModel:
    return RegisteredModel(
        name=hit.name, creation_timestamp=hit.created_at, last_updated_timestamp=hit.updated_at,
        user_id=hit.user_id, description=hit.description, tags=dict(sorted(hit.tags)),
        aliases=tuple(Alias(a, v) for a, v in sorted(hit.aliases)),
        latest_versions=tuple(latest),
    )


_version_hit = VersionHit._make
_model_hit = ModelHit._make


def _hit(row: Sequence[Any]) -> ModelHit:
    """The hit of a `_model_select` row (`_MODEL_COLUMNS`, then the summary): its summary split
    into the parts readers use, each latest version named field by field (model_summary's
    `VERSION_FIELDS` order, then its tags and aliases)."""
    tags, aliases, latest = model_summary.decode(row[6])
    return _model_hit((*row[:6], tags, aliases, [_version_hit(entry) for entry in latest]))


def model_from_hit(hit: ModelHit) -> RegisteredModel:
    return _model_from_hit(hit, [_version_from_tuple(version, hit.name)
                                 for version in hit.latest])


def _version_entity(row: AnyVersionRow, tags: dict[str, str],
                    aliases: Sequence[str]) -> ModelVersion:
    return ModelVersion(
        model_name=row.name, version=row.version, creation_timestamp=row.created_at,
        last_updated_timestamp=row.updated_at, user_id=row.user_id,
        current_stage=Stage(row.stage), description=row.description, source=row.source,
        run_id=row.run_id, run_link=row.run_link, status=row.status,
        status_message=row.status_message, logged_model_id=row.logged_model_id,
        tags=tags, aliases=tuple(aliases),
    )


class RegistryRepository:
    """Queries and changes for one registry namespace (`workspace` or `uc`)."""

    def __init__(self, conn: Connection, registry: str = "workspace") -> None:
        self.conn = conn
        self.registry = registry
        #: PostgreSQL: the id of each model's next version, taken by `allocate_version`.
        self._next_ids: dict[int, int] = {}

    # ---- registered models ----------------------------------------------------------------

    def model_ref(self, name: str) -> Row | None:
        """The model's `id` and `user_id` (its creator); None when there is none."""
        return self.conn.execute(select(rm.c.id, rm.c.user_id).where(
            rm.c.registry == self.registry, rm.c.name == name)).first()

    def model_name_by_id(self, model_id: int) -> str | None:
        name: str | None = self.conn.execute(select(rm.c.name).where(
            rm.c.id == model_id, rm.c.registry == self.registry)).scalar()
        return name

    def model_creator(self, model_id: int) -> str | None:
        creator: str | None = self.conn.execute(
            select(rm.c.user_id).where(rm.c.id == model_id)).scalar()
        return creator

    def model_id(self, name: str, *, for_update: bool = False) -> int:
        key, build, params = self._model_id_read(name, for_update)
        return self._model_id_of(fetch_all(self.conn, key, build, params), name, for_update)

    def _model_id_read(self, name: str, for_update: bool) -> tuple[Any, Any, dict[str, Any]]:
        lock = for_update and self.conn.dialect.name == "postgresql"

        def build() -> Any:
            # Locked, with the summary: the change that follows amends it without reading it.
            query = select(rm.c.id, rm.c.summary) if lock else select(rm.c.id)
            query = query.where(rm.c.registry == bindparam("registry"),
                                rm.c.name == bindparam("name"))
            return query.with_for_update() if lock else query

        return ("model_id", lock), build, {"registry": self.registry, "name": name}

    def _model_id_of(self, rows: list[Any], name: str, for_update: bool) -> int:
        if not rows:
            raise _model_not_found(name)
        model_id: int = rows[0][0]
        if for_update and self.conn.dialect.name == "postgresql":
            model_summary.note_locked(self.conn, model_id)
            model_summary.remember(self.conn, model_id, rows[0][1])
        return model_id

    def locked_version(self, name: str, version: int) -> tuple[int, VersionRow]:
        """`model_id(name, for_update=True)` and then `version_row(name, version)`: on
        PostgreSQL in one round trip (the version is read after the lock is taken, as before)."""
        return self.locked_version_ahead(name, version)()

    def locked_version_ahead(self, name: str, version: int
                             ) -> Callable[[], tuple[int, VersionRow]]:
        """`locked_version`'s reads, sent ahead (store/compiled.fetch_ahead): what it returns
        answers them, with whatever the caller sent ahead after them, in one round trip."""
        key, build, params = self._model_id_read(name, True)
        lock = fetch_ahead(self.conn, key, build, params)
        found = fetch_ahead(self.conn, "version_row", lambda: _VERSION_ROW,
                            {"b_registry": self.registry, "b_name": name, "b_version": version})

        def answer() -> tuple[int, VersionRow]:
            rows = found.rows()
            model_id = self._model_id_of(lock.rows(), name, True)
            if not rows:
                raise version_not_found(name, version)
            return model_id, VersionRow._make(rows[0])

        return answer

    def insert_model(self, name: str, description: str, user_id: str, now: int) -> int:
        # ON CONFLICT DO NOTHING RETURNING: a taken name returns no row. (A savepoint around a
        # plain INSERT, to catch the unique violation, cost two statements more per model.)
        dialect = self.conn.dialect.name
        rows = fetch_all(self.conn, "insert_model", lambda: _insert_model_statement(dialect), {
            "registry": self.registry, "name": name, "description": description,
            "user_id": user_id, "created_at": now, "updated_at": now, "last_version": 0})
        if not rows:
            raise AlreadyExists(f"Registered Model (name={name}) already exists.")
        model_id: int = rows[0][0]
        return model_id

    def rename_model(self, model_id: int, new_name: str, now: int) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(update(rm).where(rm.c.id == model_id)
                                  .values(name=new_name, updated_at=now))
                rename_tag_owner(self.conn, model_id, new_name)
        except IntegrityError:
            raise AlreadyExists(f"Registered Model (name={new_name}) already exists.") from None

    def update_model(self, model_id: int, now: int, **values: Any) -> None:
        if not values:
            self.conn.execute(_TOUCH_MODEL, {"b_id": model_id, "b_now": now})
            return
        self.conn.execute(update(rm).where(rm.c.id == model_id).values(updated_at=now, **values))

    def delete_model(self, model_id: int) -> None:
        self.conn.execute(delete(rm).where(rm.c.id == model_id))

    def get_model(self, name: str) -> RegisteredModel:
        dialect = self.conn.dialect.name
        rows = fetch_all(self.conn, "get_model", lambda: _model_select(dialect).where(
            rm.c.registry == bindparam("registry"), rm.c.name == bindparam("name")),
            {"registry": self.registry, "name": name})
        if not rows:
            raise _model_not_found(name)
        return model_from_hit(_hit(rows[0]))

    def search_models(
        self, clauses: list[Clause], order: list[OrderKey], offset: int, limit: int,
        readers: frozenset[str] | None = None, text: str | None = None,
        uc_readers: frozenset[str] | None = None,
    ) -> list[RegisteredModel]:
        return [model_from_hit(hit) for hit in self.search_model_hits(
            clauses, order, offset, limit, readers, text, uc_readers)]

    def search_model_hits(
        self, clauses: list[Clause], order: list[OrderKey], offset: int, limit: int,
        readers: frozenset[str] | None = None, text: str | None = None,
        uc_readers: frozenset[str] | None = None,
    ) -> list[ModelHit]:
        """The rows of the matching models with their latest versions' rows (see `ModelHit`):
        the MLflow API renders them without building entities first.

        `readers` limits the result to the workspace models those principals may read;
        `uc_readers` to the Unity Catalog models they may see (store/uc_visibility.py)."""
        dialect = self.conn.dialect.name
        params: dict[str, Any] = {"registry": self.registry, "offset": offset, "limit": limit}
        # Ordered by name with a `tags.k = 'v'` clause: walk that tag's index, which lists the
        # owners in name order, and stop at the end of the page (see revision 0005).
        driver = ordering_tag_clause(clauses) if order and order[0][0] == "name" else None
        source: Any = rm
        order_columns = _MODEL_ORDER_COLUMNS
        if driver is not None:
            source, order_columns = _DRIVEN_SOURCE, _DRIVEN_ORDER_COLUMNS
        if uc_readers is not None:
            source = (source.join(uc_schemas, uc_schemas.c.id == rm.c.schema_id)
                      .join(uc_catalogs, uc_catalogs.c.id == uc_schemas.c.catalog_id))

        def conditions(values: dict[str, Any]) -> list[Any]:
            found = clauses_to_sql(
                clauses, {"name": rm.c.name}, rmt, "model_id", rm.c.id, values,
                driving=None if driver is None else (driver, _DRIVING_TAG))
            found += _visible_to(readers, values)
            if text:
                found.append(_matches_text(text, values))
            if uc_readers is not None:
                found.append(uc_visibility.model_visible(uc_readers))
            return found

        def build(where: list[Any]) -> Any:
            ordering = self._order(order, order_columns)
            if driver is None and order and order[0][0] == "name" and has_name_prefix(clauses):
                ordering[0] = PatternOrder(rm.c.name, order[0][1])
            return (_model_select(dialect).select_from(source)
                    .where(rm.c.registry == bindparam("registry"), *where)
                    .order_by(*ordering)
                    .offset(_page_offset(dialect, offset)).limit(bindparam("limit")))

        if uc_readers is not None:
            # The UC rule's SQL holds the caller's principals as values: built for this call,
            # not compiled once per shape (the web UI's search box is the only caller).
            return [_hit(row) for row in self.conn.execute(build(conditions(params)), params)]
        # The statement is compiled once per shape: only the values are needed per call.
        clause_params(clauses, params)
        _visible_params(readers, params)
        if text:
            _matches_text_param(text, params)
        shape = ("search_models", filter_shape(clauses), tuple(order),
                 -1 if readers is None else len(readers), bool(text), offset == 0)
        return [_hit(row) for row in fetch_all(self.conn, shape,
                                               lambda: _built(build, conditions, params),
                                               params)]

    def _version_select(self) -> Any:
        """Version columns with the version's tags and aliases aggregated as JSON."""
        return _version_select(self.conn.dialect.name)

    def set_model_tag(self, model_id: int, model_name: str, key: str, value: str,
                      now: int | None = None) -> None:
        """Set the tag; with `now`, also the model's update time."""
        model_summary.lock(self.conn, model_id)
        head = tag_value_head(value)
        self._upsert(rmt, {"model_id": model_id, "key": key, "value": value, "value_head": head,
                           "model_name": model_name},
                     ["model_id", "key"], {"value": value, "value_head": head})
        model_summary.amend(self.conn, model_id,
                            lambda parts: summary_edits.model_tag_set(parts, key, value),
                            touched_at=now)

    def delete_model_tag(self, model_id: int, key: str) -> None:
        model_summary.lock(self.conn, model_id)
        self.conn.execute(delete(rmt).where(rmt.c.model_id == model_id, rmt.c.key == key))
        model_summary.amend(self.conn, model_id,
                            lambda parts: summary_edits.model_tag_deleted(parts, key))

    # ---- model versions -------------------------------------------------------------------

    def allocate_version(self, name: str) -> tuple[int, int]:
        """The model's next version number as (model id, version), for `insert_version`.

        The model's row stays locked until the transaction ends (PostgreSQL: FOR UPDATE; SQLite:
        its one writer), and `insert_version` records the number as the model's last: concurrent
        creators get 1..N with no gap and no duplicate, and a deleted version's number is never
        handed out again.
        """
        postgres = self.conn.dialect.name == "postgresql"
        row = fetch_all(self.conn, ("next_version", postgres),
                        lambda: _NEXT_VERSION_AND_ID if postgres else _NEXT_VERSION,
                        {"b_registry": self.registry, "b_name": name})
        if not row:
            raise _model_not_found(name)
        model_summary.note_locked(self.conn, row[0][0])  # FOR UPDATE: insert_version's lock
        model_summary.remember(self.conn, row[0][0], row[0][2])
        if postgres:
            self._next_ids[row[0][0]] = row[0][3]
        return row[0][0], row[0][1]

    def insert_version(self, *, tags: dict[str, str] | None = None, **values: Any) -> int:
        """Insert the version `allocate_version` handed out (and its `tags`); the model's last
        version number, update time and summary are current on return."""
        model_id = values["model_id"]
        model_summary.lock(self.conn, model_id)
        known_id = self._next_ids.pop(model_id, None)
        if known_id is not None and all(c.name in values for c in summary_edits.ENTRY_COLUMNS[1:]):
            # The id is known (PostgreSQL's allocate_version took it), and so is every column
            # the summary's entry holds: the INSERT need not answer.
            values = {"id": known_id, **values}
            columns = tuple(values)
            execute_later(self.conn, ("insert_version_with_id", columns),
                          lambda: insert(mv).values({c: bindparam(c) for c in columns}), values)
            inserted: Sequence[Any] = [values[c.name] for c in summary_edits.ENTRY_COLUMNS]
        else:
            columns = tuple(values)
            inserted = fetch_all(
                self.conn, ("insert_version", columns),
                lambda: _INSERT_VERSION.values({c: bindparam(c) for c in columns}), values)[0]
        version_id: int = inserted[0]
        if tags:
            self._insert_version_tags(version_id, tags)
        # The model's row changes once per new version: summary, last number, update time.
        model_summary.amend(self.conn, model_id,
                            lambda parts: summary_edits.new_version(parts, inserted, tags),
                            touched_at=values["updated_at"], new_version=values["version"])
        return version_id

    def _touch_version(self, version_id: int, now: int) -> None:
        execute_later(self.conn, "touch_version", lambda: _TOUCH_VERSION,
                {"b_id": version_id, "b_now": now})

    def version_row(self, name: str, version: int) -> VersionRow:
        # Compiled once, on the driver's cursor: alias moves, tag and stage changes read it.
        rows = fetch_all(self.conn, "version_row", lambda: _VERSION_ROW,
                         {"b_registry": self.registry, "b_name": name, "b_version": version})
        if not rows:
            # Tell a missing model from a missing version, as MLflow does.
            self.model_id(name)
            raise version_not_found(name, version)
        return VersionRow._make(rows[0])

    def download_location(self, name: str, version: int) -> str | None:
        """The version's recorded storage location, if it has one."""
        location: str | None = self.conn.execute(
            select(mv.c.storage_location).join(rm, rm.c.id == mv.c.model_id).where(
                rm.c.registry == self.registry, rm.c.name == name, mv.c.version == version)
        ).scalar()
        return location

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self.versions_with_details([self.version_row(name, version)])[0]

    def version_by_alias(self, name: str, alias: str) -> Row | None:
        return self.conn.execute(
            select(*_VERSION_COLUMNS)
            .select_from(rma.join(rm, rm.c.id == rma.c.model_id)
                         .join(mv, and_(mv.c.model_id == rma.c.model_id,
                                        mv.c.version == rma.c.version)))
            .where(rm.c.registry == self.registry, rm.c.name == name, rma.c.alias == alias)
        ).first()

    def highest_version(self, name: str) -> Row | None:
        return self.conn.execute(
            select(*_VERSION_COLUMNS).join(rm, rm.c.id == mv.c.model_id)
            .where(rm.c.registry == self.registry, rm.c.name == name)
            .order_by(mv.c.version.desc()).limit(1)
        ).first()

    def update_version(self, version_id: int, now: int, **values: Any) -> None:
        model_id = model_summary.lock_version_owner(self.conn, version_id)
        if not values:
            self._touch_version(version_id, now)
        else:
            self.conn.execute(update(mv).where(mv.c.id == version_id)
                              .values(updated_at=now, **values))
        model_summary.refresh(self.conn, model_id)

    def archive_stage(self, model_id: int, stage: Stage, except_version: int, now: int) -> None:
        model_summary.lock(self.conn, model_id)
        self.conn.execute(
            update(mv)
            .where(mv.c.model_id == model_id, mv.c.stage == stage.value,
                   mv.c.version != except_version)
            .values(stage=Stage.ARCHIVED.value, updated_at=now)
        )
        model_summary.refresh(self.conn, model_id)

    def delete_version(self, version_id: int, model_id: int, version: int,
                       now: int | None = None) -> None:
        """Delete the version and its aliases; with `now`, also set the model's update time."""
        model_summary.lock(self.conn, model_id)
        self.conn.execute(delete(rma).where(rma.c.model_id == model_id, rma.c.version == version))
        self.conn.execute(delete(mv).where(mv.c.id == version_id))
        model_summary.refresh(self.conn, model_id, touched_at=now)

    def search_versions(
        self, clauses: list[Clause], order: list[OrderKey], offset: int, limit: int,
        readers: frozenset[str] | None = None,
    ) -> list[ModelVersion]:
        shape, build, params = version_search(self.conn.dialect.name, self.registry, clauses,
                                              order, offset, limit, readers)
        return [_version_from_tuple(row) for row in fetch_all(self.conn, shape, build, params)]

    def versions_with_details(self, rows: Sequence[AnyVersionRow]) -> list[ModelVersion]:
        """Entities for version rows, their tags and aliases fetched in one query."""
        if not rows:
            return []
        tags, aliases = version_aggregates(self.conn.dialect.name)
        details = {version_id: (version_tags, version_aliases)
                   for version_id, version_tags, version_aliases in self.conn.execute(
                       select(mv.c.id, tags, aliases).where(mv.c.id.in_([r.id for r in rows])))}
        versions = []
        for row in rows:
            version_tags, version_aliases = details.get(row.id, (None, None))
            versions.append(_version_entity(row, dict(sorted(decode_json(version_tags))),
                                            sorted(decode_json(version_aliases))))
        return versions

    def set_version_tag(self, version_id: int, key: str, value: str,
                        now: int | None = None, model_id: int | None = None) -> None:
        """Set the tag; with `now`, also the version's update time (one summary refresh).
        `model_id`: the version's model, whose lock the caller holds (`locked_version`)."""
        if model_id is None:
            model_id = model_summary.lock_version_owner(self.conn, version_id)
        head = tag_value_head(value)
        self._upsert(mvt, {"version_id": version_id, "key": key, "value": value,
                           "value_head": head},
                     ["version_id", "key"], {"value": value, "value_head": head})
        if now is not None:
            self._touch_version(version_id, now)
        if model_id is not None:
            model_summary.amend(self.conn, model_id, lambda parts: summary_edits.version_tag_set(
                parts, version_id, key, value, now))

    def delete_version_tag(self, version_id: int, key: str, model_id: int | None = None) -> None:
        if model_id is None:
            model_id = model_summary.lock_version_owner(self.conn, version_id)
        self.conn.execute(delete(mvt).where(mvt.c.version_id == version_id, mvt.c.key == key))
        if model_id is not None:
            model_summary.amend(self.conn, model_id, lambda parts: summary_edits.
                                version_tag_deleted(parts, version_id, key))

    def _insert_version_tags(self, version_id: int, tags: dict[str, str]) -> None:
        self.conn.execute(insert(mvt), [{"version_id": version_id, "key": k, "value": v,
                                         "value_head": tag_value_head(v)}
                                        for k, v in tags.items()])

    def insert_model_tags(self, model_id: int, model_name: str, tags: dict[str, str]) -> None:
        if tags:
            model_summary.lock(self.conn, model_id)
            self.conn.execute(insert(rmt), [{"model_id": model_id, "key": k, "value": v,
                                             "value_head": tag_value_head(v),
                                             "model_name": model_name}
                                            for k, v in tags.items()])

            def set_all(parts: summary_edits.Parts) -> None:
                for key, value in tags.items():
                    summary_edits.model_tag_set(parts, key, value)
            model_summary.amend(self.conn, model_id, set_all)

    # ---- aliases --------------------------------------------------------------------------

    def alias_version_ahead(self, name: str, alias: str) -> Callable[[], int | None]:
        """`alias_version` of the model `name`, sent ahead (store/compiled.fetch_ahead)."""
        found = fetch_ahead(self.conn, "alias_version_by_name", lambda: _ALIAS_VERSION_BY_NAME,
                            {"registry": self.registry, "name": name, "alias": alias})

        def answer() -> int | None:
            rows = found.rows()
            return rows[0][0] if rows else None

        return answer

    def alias_version(self, model_id: int, alias: str) -> int | None:
        """The version the model's alias points at; None when it is not set. (Compiled once:
        building the statement on every alias change cost more CPU than running it.)"""
        rows = fetch_all(self.conn, "alias_version", lambda: _ALIAS_VERSION,
                         {"model_id": model_id, "alias": alias})
        return rows[0][0] if rows else None

    def set_alias(self, model_id: int, alias: str, version: int, now: int | None = None) -> None:
        """Point the alias at the version; with `now`, also the model's update time."""
        model_summary.lock(self.conn, model_id)
        self._upsert(rma, {"model_id": model_id, "alias": alias, "version": version},
                     ["model_id", "alias"], {"version": version})
        model_summary.amend(self.conn, model_id,
                            lambda parts: summary_edits.alias_set(parts, alias, version),
                            touched_at=now)

    def delete_alias(self, model_id: int, alias: str, now: int | None = None) -> None:
        """Remove the alias; with `now`, also the model's update time."""
        model_summary.lock(self.conn, model_id)
        self.conn.execute(delete(rma).where(rma.c.model_id == model_id, rma.c.alias == alias))
        model_summary.amend(self.conn, model_id,
                            lambda parts: summary_edits.alias_deleted(parts, alias),
                            touched_at=now)

    # ---- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _order(order: list[OrderKey], columns: dict[str, Any]) -> list[Any]:
        return [columns[name].desc() if descending else columns[name].asc()
                for name, descending in order]

    def _upsert(self, table: Any, values: dict[str, Any], keys: list[str],
                changes: dict[str, Any]) -> None:
        # Compiled once per shape (store/compiled.py): every tag a write sets runs it.
        dialect, shape = self.conn.dialect.name, (tuple(values), tuple(keys), tuple(changes))
        execute_later(self.conn, ("upsert", table.name, *shape),
                lambda: _upsert_statement(dialect, table, *shape),
                {f"b_{k}": v for k, v in values.items()})


def version_from_row(row: Sequence[Any]) -> ModelVersion:
    """A version found by `version_search`'s statement."""
    return _version_from_tuple(row)
