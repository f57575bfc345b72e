"""Model history: which recorded changes (domain/changes.py) it keeps, and how.

An alias move, a stage transition, a tag or description change becomes one history entry
(services/history.py writes them in the change's transaction); the history API, rollback, the
as-of lookup and the live event stream read them. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.domain.changes import Event

ALIAS, STAGE, TAG, DESCRIPTION, VERSION = "alias", "stage", "tag", "description", "version"
KINDS = (ALIAS, STAGE, TAG, DESCRIPTION, VERSION)


@dataclass(frozen=True, slots=True)
class Change:
    """One entry to record. `previous_known` False: the event did not say what the value was
    before (tags, the workspace model's description); the last entry of the same subject does."""

    registry: str
    model_name: str
    kind: str
    subject: str
    version: int | None
    action: str
    value: str | None
    previous: str | None
    previous_known: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class Entry:
    """One recorded change as the history API, the as-of lookup and the stream read it."""

    id: int
    registry: str
    model_name: str
    kind: str
    subject: str
    version: int | None
    action: str
    value: str | None
    previous: str | None
    actor: str
    time: int
    reason: str | None


def _split(object_name: str) -> tuple[str, int | None]:
    """"fraud/3" -> ("fraud", 3); a model's own name -> (name, None)."""
    name, _, number = object_name.rpartition("/")
    if name and number.isdigit():
        return name, int(number)
    return object_name, None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def changes_of(event: Event) -> list[Change]:
    """The history entries an event makes (none for most events)."""
    before, after = event.before or {}, event.after or {}
    name, version = _split(event.object_name)
    if event.object_type == "registered_model":
        version = None
        name = event.object_name

    def change(kind: str, subject: str, value: Any, previous: Any = None,
               previous_known: bool = True) -> Change:
        return Change(event.registry, name, kind, subject, version, event.action, _text(value),
                      _text(previous), previous_known, event.reason)

    action = event.action
    if action == "model_version.transition_stage" and not event.reason:
        # The comment given with a transition (or the system's, for an archive it caused)
        # is its reason.
        reason = after.get("comment") or after.get("system_comment") or None
        return [Change(event.registry, name, STAGE, "", version, action,
                       _text(after.get("stage")), _text(before.get("stage")), True, reason)]
    if action == "registered_model.set_alias":
        return [change(ALIAS, after["alias"], after["version"], before.get("version"))]
    if action == "registered_model.delete_alias":
        return [change(ALIAS, before.get("alias", ""), None, before.get("version"))]
    if action == "model_version.transition_stage":
        return [change(STAGE, "", after.get("stage"), before.get("stage"))]
    if action.endswith(".set_tag"):
        return [change(TAG, str(after.get("key", "")), after.get("value"), previous_known=False)]
    if action.endswith(".delete_tag"):
        return [change(TAG, str(before.get("key", "")), None, previous_known=False)]
    if action in ("registered_model.update", "model_version.update"):
        for key in ("description", "comment"):
            if key in after:
                return [change(DESCRIPTION, "", after[key], before.get(key),
                               previous_known=key in before)]
        return []
    if action in ("registered_model.create", "model_version.create"):
        # What the model or version was created with is its history's first entry: a version
        # created with `validated=true` shows that tag from its start, not from its next change.
        # Nothing came before (a version number is never reused; a name that is, is a new
        # model), so the previous value is known: none.
        made = [change(VERSION, "", version)] if action == "model_version.create" else []
        for key in ("description", "comment"):
            if after.get(key):
                made.append(change(DESCRIPTION, "", after[key]))
        tags = after.get("tags") or {}
        made += [change(TAG, str(key), value) for key, value in sorted(tags.items())]
        return made
    if action == "model_version.delete":
        return [change(VERSION, "", None, version)]
    return []


def renamed(event: Event) -> tuple[str, str] | None:
    """(old, new) when the event renames a model: its history follows it."""
    before, after = event.before or {}, event.after or {}
    if event.object_type != "registered_model" or "name" not in before:
        return None
    if event.action in ("registered_model.rename", "registered_model.update") \
            and before["name"] != after.get("name"):
        return before["name"], after["name"]
    return None

