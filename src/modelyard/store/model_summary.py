"""A registered model's summary: its tags, aliases and latest versions, kept on its own row.

A model search answers with every hit's tags, aliases and highest version in each stage (with
that version's tags and aliases). Gathering them at read time costs about ten B-tree lookups per
hit in five tables; at 1M versions the hits of one page lie on different pages of each table,
so a 100-model search read ~1,000 scattered pages and cost twice its CPU at 10k versions
(bench/, issue 6). The summary is that answer, computed when it changes: a search reads one row
per hit.

`refresh` recomputes it from the tables (the only definition of its content) and every
repository method that changes a model's tags, aliases or versions calls it in the same
transaction, so a reader never sees a summary that disagrees with the tables. Those methods
first `lock` the model's row (PostgreSQL): the refresh then runs in a statement whose snapshot
includes every change committed by the writers that held the lock before, so concurrent
writers of one model cannot lose each other's changes.

Layout (JSON text): `[tags, aliases, latest]`, tags `[[key, value]…]`, aliases
`[[alias, version]…]`, latest one array per version in `VERSION_FIELDS` order followed by the
version's tags `[[key, value]…]` and aliases `[alias…]`. Orders are not guaranteed; readers sort.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Text, cast, func, literal_column, select, update
from sqlalchemy.sql import bindparam

from modelyard.store.compiled import execute, fetch_all
from modelyard.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

rm, mv = registered_models, model_versions
rmt, rma, mvt = registered_model_tags, registered_model_aliases, model_version_tags

#: The summary of a model with no tags, aliases or versions (a new model's server default).
EMPTY = "[[],[],[]]"

#: The version columns of a latest-version entry; the model id stands where readers of a version
#: row (store/registry.py `_VERSION_COLUMNS`) find the model's name.
VERSION_FIELDS = (mv.c.id, mv.c.model_id, mv.c.model_id, mv.c.version, mv.c.source, mv.c.run_id,
                  mv.c.run_link, mv.c.logged_model_id, mv.c.description, mv.c.stage, mv.c.status,
                  mv.c.status_message, mv.c.user_id, mv.c.created_at, mv.c.updated_at)
#: The distinct columns of `VERSION_FIELDS`, in its order: what inserting a version returns, so
#: that its entry is made without reading it back (`with_new_version`).
ENTRY_COLUMNS = tuple(dict.fromkeys(VERSION_FIELDS))
_ENTRY_INDEX = tuple(ENTRY_COLUMNS.index(column) for column in VERSION_FIELDS)
_VERSION, _STAGE = 3, 9  # where a latest-version entry holds its number and its stage


def _array(dialect: str, *items: Any) -> Any:
    return func.json_build_array(*items) if dialect == "postgresql" else func.json_array(*items)


def _aggregate(dialect: str, item: Any) -> Any:
    """A JSON array of `item` over the rows of a sub-query; `[]` when there is none."""
    if dialect == "postgresql":
        return func.coalesce(func.json_agg(item), literal_column("'[]'::json"))
    return func.json_group_array(item)


def _nested(dialect: str, subquery: Any) -> Any:
    """A sub-query's JSON as a JSON value inside another array (SQLite hands a sub-query's JSON
    out as text, which `json_array` would quote)."""
    scalar = subquery.scalar_subquery()
    return scalar if dialect == "postgresql" else func.json(scalar)


@functools.cache
def summary_expression(dialect: str) -> Any:
    """The summary of the `registered_models` row of the statement it is used in."""
    # Every sub-query names the row it belongs to (`correlate`): left to infer it, SQLAlchemy
    # took the models table two levels down as a table of its own (every model's versions).
    version_tags = select(_aggregate(dialect, _array(dialect, mvt.c.key, mvt.c.value))).where(
        mvt.c.version_id == mv.c.id).correlate(mv)
    version_aliases = select(_aggregate(dialect, rma.c.alias)).where(
        rma.c.model_id == mv.c.model_id, rma.c.version == mv.c.version).correlate(mv)
    newest = mv.alias("newest")
    highest_per_stage = (select(func.max(newest.c.version)).where(newest.c.model_id == rm.c.id)
                         .group_by(newest.c.stage).correlate(rm))
    latest = select(_aggregate(dialect, _array(
        dialect, *VERSION_FIELDS, _nested(dialect, version_tags),
        _nested(dialect, version_aliases)))).where(
        mv.c.model_id == rm.c.id, mv.c.version.in_(highest_per_stage)).correlate(rm)
    tags = select(_aggregate(dialect, _array(dialect, rmt.c.key, rmt.c.value))).where(
        rmt.c.model_id == rm.c.id).correlate(rm)
    aliases = select(_aggregate(dialect, _array(dialect, rma.c.alias, rma.c.version))).where(
        rma.c.model_id == rm.c.id).correlate(rm)
    summary = _array(dialect, _nested(dialect, tags), _nested(dialect, aliases),
                     _nested(dialect, latest))
    return cast(summary, Text) if dialect == "postgresql" else summary


# Run on every write: compiled once (store/compiled.py), as SQLAlchemy's execution cost more
# CPU than SQLite takes to run them.
_LOCK = select(rm.c.id).where(rm.c.id == bindparam("model_id")).with_for_update()
_OWNER = select(mv.c.model_id).where(mv.c.id == bindparam("version_id"))


def _refresh_statement(dialect: str, touch: bool = False, new_version: bool = False) -> Any:
    values: dict[str, Any] = {"summary": summary_expression(dialect)}
    if touch or new_version:
        values["updated_at"] = bindparam("now")
    if new_version:
        values["last_version"] = bindparam("version")
    return update(rm).where(rm.c.id == bindparam("model_id")).values(**values)


def lock(conn: Connection, model_id: int) -> None:
    """Take the model's row lock (PostgreSQL) before changing its tags, aliases or versions.

    Every change of a model takes it first, so a version's row is always locked after its
    model's (no deadlock), and `refresh` then reads every change committed before."""
    if conn.dialect.name == "postgresql" and not holds_lock(conn, model_id):
        fetch_all(conn, "summary_lock", lambda: _LOCK, {"model_id": model_id})
        note_locked(conn, model_id)


_HELD = "modelyard_model_locks"


def note_locked(conn: Connection, model_id: int) -> None:
    """Record that this transaction holds the model's row lock (PostgreSQL: a `FOR UPDATE`
    read of it, e.g. allocating a version number), so that `lock` need not take it again: a
    round trip less per write. Not inside a savepoint, whose rollback would release it."""
    if conn.dialect.name != "postgresql" or conn.in_nested_transaction():
        return
    transaction = conn.get_transaction()
    held: tuple[Any, set[int]] | None = conn.info.get(_HELD)
    if held is None or held[0] is not transaction:
        held = conn.info[_HELD] = (transaction, set())
    held[1].add(model_id)


def holds_lock(conn: Connection, model_id: int) -> bool:
    """Whether this transaction took the model's row lock (see `note_locked`)."""
    held = conn.info.get(_HELD)
    return held is not None and held[0] is conn.get_transaction() and model_id in held[1]


def lock_version_owner(conn: Connection, version_id: int) -> int | None:
    """`lock` the model of a version; its id (None when the version is gone)."""
    rows = fetch_all(conn, "summary_owner", lambda: _OWNER, {"version_id": version_id})
    if not rows:
        return None
    model_id: int = rows[0][0]
    lock(conn, model_id)
    return model_id


def refresh(conn: Connection, model_id: int | None, touched_at: int | None = None) -> None:
    """Recompute the model's summary after a change made under `lock`; with `touched_at`, the
    model's update time too, in the same UPDATE (one change of the row instead of two)."""
    if model_id is None:
        return
    dialect = conn.dialect.name
    if touched_at is None:
        execute(conn, "summary_refresh", lambda: _refresh_statement(dialect),
                {"model_id": model_id})
    else:
        execute(conn, "summary_refresh_touch", lambda: _refresh_statement(dialect, touch=True),
                {"model_id": model_id, "now": touched_at})


def refresh_after_new_version(conn: Connection, model_id: int, version: int, now: int) -> None:
    """`refresh` after inserting version `version`, which also becomes the model's last
    handed-out number and `now` its update time: the model's row changes once per new version
    (on PostgreSQL each change of it leaves a dead row version until vacuum)."""
    dialect = conn.dialect.name
    execute(conn, "summary_refresh_new_version",
            lambda: _refresh_statement(dialect, new_version=True),
            {"model_id": model_id, "version": version, "now": now})


def with_new_version(summary: str, inserted: Sequence[Any],
                     tags: Mapping[str, str] | None) -> str:
    """The summary after inserting one version (`inserted`: its `ENTRY_COLUMNS`, with `tags`):
    what `refresh` would compute, without its ten look-ups per model.

    A new version's number is above every other (`allocate_version`; an import may skip
    numbers, never go back), so it becomes its stage's latest, with the model's aliases that
    name its number (normally none), and nothing else changes."""
    model_tags, aliases, latest = orjson.loads(summary)
    entry: list[Any] = [inserted[i] for i in _ENTRY_INDEX]
    entry.append([[key, value] for key, value in (tags or {}).items()])
    entry.append([alias for alias, number in aliases if number == entry[_VERSION]])
    latest = [e for e in latest if e[_STAGE] != entry[_STAGE]] + [entry]
    return orjson.dumps([model_tags, aliases, latest]).decode()


def store_after_new_version(conn: Connection, model_id: int, summary: str, version: int,
                            now: int) -> None:
    """`refresh_after_new_version` with the summary already made (`with_new_version`)."""
    execute(conn, "summary_store_new_version",
            lambda: update(rm).where(rm.c.id == bindparam("model_id")).values(
                summary=bindparam("summary"), updated_at=bindparam("now"),
                last_version=bindparam("version")),
            {"model_id": model_id, "summary": summary, "version": version, "now": now})


def refresh_all_statement(dialect: str) -> Any:
    """The UPDATE that recomputes every model's summary (also the benchmark's SQL seed)."""
    return update(rm).values(summary=summary_expression(dialect))


def refresh_all(conn: Connection) -> None:
    """Recompute every model's summary (the migration that introduced them)."""
    conn.execute(refresh_all_statement(conn.dialect.name))


def decode(summary: Any) -> tuple[list[Any], list[Any], list[list[Any]]]:
    """(tags, aliases, latest versions in version order) of a stored summary."""
    tags, aliases, latest = orjson.loads(summary)
    latest.sort(key=lambda entry: entry[3])
    return tags, aliases, latest
