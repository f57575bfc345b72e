"""A registered model's summary: its tags, aliases and latest versions, kept on its own row.

A model search answers with every hit's tags, aliases and highest version in each stage (with
that version's tags and aliases). Gathering them at read time costs about ten B-tree lookups per
hit in five tables; at 1M versions the hits of one page lie on different pages of each table,
so a 100-model search read ~1,000 scattered pages and cost twice its CPU at 10k versions
(bench/, issue 6). The summary is that answer, computed when it changes: a search reads one row
per hit.

`refresh` recomputes it from the tables (the definition of its content) and every repository
method that changes a model's tags, aliases or versions calls it, or `amend`, in the same
transaction, so a reader never sees a summary that disagrees with the tables. `amend` applies
one known change (store/summary_edits.py: a new version, a tag, an alias) to the stored summary
instead, a read of one row (often none) and a little JSON in place of ten look-ups (issue 21).
Those methods first `lock` the model's row (PostgreSQL; it reads the summary too): the refresh
then runs in a statement whose snapshot includes every change committed by the writers that
held the lock before, and `amend` starts from the summary they left, so concurrent writers of
one model cannot lose each other's changes.

Layout (JSON text): `[tags, aliases, latest]`, tags `[[key, value]…]`, aliases
`[[alias, version]…]`, latest one array per version in `VERSION_FIELDS` order followed by the
version's tags `[[key, value]…]` and aliases `[alias…]`. Orders are not guaranteed; readers sort.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import Connection, Text, cast, func, literal_column, select, update
from sqlalchemy.sql import bindparam

from modelyard.store.compiled import execute_later, fetch_all
from modelyard.store.summary_edits import VERSION_FIELDS, Parts
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
_LOCK = select(rm.c.summary).where(rm.c.id == bindparam("model_id")).with_for_update()
_READ = select(rm.c.summary).where(rm.c.id == bindparam("model_id"))
_OWNER = select(mv.c.model_id).where(mv.c.id == bindparam("version_id"))


def _summary_update(summary: Any, touch: bool = False, new_version: bool = False) -> Any:
    """The UPDATE of a model's row that sets its summary to `summary` (recomputed: the SQL
    expression; amended: a parameter); with `touch`, its update time, with `new_version`, its
    last handed-out version number too."""
    values: dict[str, Any] = {"summary": summary}
    if touch:
        values["updated_at"] = bindparam("now")
    if new_version:
        values["last_version"] = bindparam("version")
    return update(rm).where(rm.c.id == bindparam("model_id")).values(**values)


def lock(conn: Connection, model_id: int) -> None:
    """Take the model's row lock (PostgreSQL) before changing its tags, aliases or versions.

    Every change of a model takes it first, so a version's row is always locked after its
    model's (no deadlock), and `refresh` then reads every change committed before."""
    if conn.dialect.name == "postgresql" and not holds_lock(conn, model_id):
        rows = fetch_all(conn, "summary_lock", lambda: _LOCK, {"model_id": model_id})
        note_locked(conn, model_id)
        if rows:
            remember(conn, model_id, rows[0][0])


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


def forget_locks(conn: Connection) -> None:
    """Forget the row locks this transaction noted: a savepoint they were taken in was rolled
    back, which released them."""
    conn.info.pop(_HELD, None)


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
    _forget(conn, model_id)
    dialect, touch = conn.dialect.name, touched_at is not None
    execute_later(conn, ("summary_refresh", touch),
            lambda: _summary_update(summary_expression(dialect), touch),
            {"model_id": model_id, "now": touched_at})


_KNOWN = "modelyard_model_summaries"


def _known(conn: Connection) -> dict[int, str]:
    """The summaries this transaction read under the model's lock or wrote (`amend`)."""
    transaction = conn.get_transaction()
    known: tuple[Any, dict[int, str]] | None = conn.info.get(_KNOWN)
    if known is None or known[0] is not transaction:
        known = conn.info[_KNOWN] = (transaction, {})
    return known[1]


def remember(conn: Connection, model_id: int, summary: str) -> None:
    """Note the model's summary as read under its lock (or written by `amend`), so that `amend`
    need not read it. Not inside a savepoint, whose rollback would undo it."""
    if conn.in_nested_transaction():
        _forget(conn, model_id)
    else:
        _known(conn)[model_id] = summary


def forget_all(conn: Connection) -> None:
    """Forget every summary this transaction noted (a part of it was rolled back)."""
    conn.info.pop(_KNOWN, None)


def _forget(conn: Connection, model_id: int) -> None:
    _known(conn).pop(model_id, None)


def amend(conn: Connection, model_id: int, change: Callable[[Parts], bool | None], *,
          touched_at: int | None = None, new_version: int | None = None) -> None:
    """Apply `change` (store/summary_edits.py) to the model's summary, after the change of its
    tables it stands for, made under `lock`: what `refresh` would compute, for a read of one
    row (none when this transaction knows the summary already) instead of ten look-ups per
    model. With `touched_at`, the model's update time too; with `new_version`, its last
    handed-out version number. `change` answers False when the summary stays as it is."""
    summary = _known(conn).get(model_id)
    if summary is None:
        summary = fetch_all(conn, "summary_read", lambda: _READ, {"model_id": model_id})[0][0]
    tags, aliases, latest = orjson.loads(summary)
    if change((tags, aliases, latest)) is not False:
        summary = orjson.dumps([tags, aliases, latest]).decode()
    elif touched_at is None and new_version is None:
        return
    touch, new = touched_at is not None, new_version is not None
    execute_later(conn, ("summary_store", touch, new),
            lambda: _summary_update(bindparam("summary"), touch, new),
            {"model_id": model_id, "summary": summary, "now": touched_at,
             "version": new_version})
    remember(conn, model_id, summary)


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
