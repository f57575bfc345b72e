"""The copy of each model's name that its tag rows carry (`registered_model_tags.model_name`).

Revision 0005 put it there so that a name-ordered `tags.k = 'v'` search reads its page in
index order. Every statement that renames a model calls `rename_tag_owner` in the same
transaction; inserts set the column themselves (RegistryRepository).
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, update

from modelyard.store.tables import registered_model_tags as rmt

_RENAME = (update(rmt).where(rmt.c.model_id == bindparam("b_id"))
           .values(model_name=bindparam("b_name")))


def rename_tag_owner(conn: Connection, model_id: int, name: str) -> None:
    conn.execute(_RENAME, {"b_id": model_id, "b_name": name})
