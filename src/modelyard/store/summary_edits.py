"""A model's summary (store/model_summary.py) changed in place for one change of the tables,
instead of recomputed from them.

Each function applies to the decoded summary (`tags, aliases, latest`, lists changed in place)
what `model_summary.refresh` would find after the same change; tests/store/
test_model_summary.py and the test session's check of every summary hold them to that.
Changes whose effect on the latest versions needs the other versions (a stage transition, a
deleted version) are not here: those are recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.store.tables import model_versions as mv

#: A decoded summary: the model's tags `[[key, value]…]`, its aliases `[[alias, version]…]`
#: and its latest version per stage (one entry per version: `VERSION_FIELDS`, then the
#: version's tags and aliases).
Parts = tuple[list[Any], list[Any], list[list[Any]]]

#: The columns of a latest-version entry (the model id stands where readers find the name).
VERSION_FIELDS = (mv.c.id, mv.c.model_id, mv.c.model_id, mv.c.version, mv.c.source, mv.c.run_id,
                  mv.c.run_link, mv.c.logged_model_id, mv.c.description, mv.c.stage, mv.c.status,
                  mv.c.status_message, mv.c.user_id, mv.c.created_at, mv.c.updated_at)
#: The distinct columns of `VERSION_FIELDS`, in its order: what inserting a version returns.
ENTRY_COLUMNS = tuple(dict.fromkeys(VERSION_FIELDS))
_FROM_INSERTED = tuple(ENTRY_COLUMNS.index(column) for column in VERSION_FIELDS)
_ID, _VERSION, _STAGE, _UPDATED = 0, 3, 9, 14
_TAGS, _ALIASES = len(VERSION_FIELDS), len(VERSION_FIELDS) + 1


def _set_pair(pairs: list[Any], key: str, value: Any) -> None:
    pairs[:] = [pair for pair in pairs if pair[0] != key] + [[key, value]]


def _drop_pair(pairs: list[Any], key: str) -> None:
    pairs[:] = [pair for pair in pairs if pair[0] != key]


def _aliases_of_latest(parts: Parts) -> None:
    _, aliases, latest = parts
    for entry in latest:
        entry[_ALIASES] = [alias for alias, number in aliases if number == entry[_VERSION]]


def new_version(parts: Parts, inserted: Sequence[Any], tags: Mapping[str, str] | None) -> None:
    """A version was inserted (`inserted`: its `ENTRY_COLUMNS`) with `tags`. Its number is above
    every other (numbers are handed out in order; an import may skip some, never go back), so
    it becomes its stage's latest, with the model's aliases that name its number (normally
    none)."""
    _, aliases, latest = parts
    entry: list[Any] = [inserted[i] for i in _FROM_INSERTED]
    entry.append([[key, value] for key, value in (tags or {}).items()])
    entry.append([alias for alias, number in aliases if number == entry[_VERSION]])
    latest[:] = [e for e in latest if e[_STAGE] != entry[_STAGE]] + [entry]


def model_tag_set(parts: Parts, key: str, value: str) -> None:
    _set_pair(parts[0], key, value)


def model_tag_deleted(parts: Parts, key: str) -> None:
    _drop_pair(parts[0], key)


def alias_set(parts: Parts, alias: str, version: int) -> None:
    _set_pair(parts[1], alias, version)
    _aliases_of_latest(parts)


def alias_deleted(parts: Parts, alias: str) -> None:
    _drop_pair(parts[1], alias)
    _aliases_of_latest(parts)


def _entry(parts: Parts, version_id: int) -> list[Any] | None:
    return next((entry for entry in parts[2] if entry[_ID] == version_id), None)


def version_tag_set(parts: Parts, version_id: int, key: str, value: str,
                    updated_at: int | None) -> bool:
    """The tag was set on the version (with `updated_at`, its update time too); False when the
    version is none of the latest, so the summary is unchanged."""
    entry = _entry(parts, version_id)
    if entry is None:
        return False
    _set_pair(entry[_TAGS], key, value)
    if updated_at is not None:
        entry[_UPDATED] = updated_at
    return True


def version_tag_deleted(parts: Parts, version_id: int, key: str) -> bool:
    """As `version_tag_set`, for a removed tag."""
    entry = _entry(parts, version_id)
    if entry is None:
        return False
    _drop_pair(entry[_TAGS], key)
    return True
