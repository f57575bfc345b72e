"""A registered-model search hit as the store hands it out, a name per field.

The MLflow API renders a search page straight from these (api/mlflow/render.py): building the
entities first cost as much CPU as everything else (bench/, issue 6). Tuples with named fields
keep that speed while the renderer reads fields by name, not by their position in a query in
another module.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class VersionHit(NamedTuple):
    """One latest version of a hit (its highest in one stage), from the model's summary."""

    id: int
    model_id: int
    model: Any  # the model's id, standing where a version row carries the model's name
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
    tags: list[list[str]]  # [[key, value]…], any order
    aliases: list[str]  # any order


class ModelHit(NamedTuple):
    id: int
    name: str
    description: str
    user_id: str
    created_at: int
    updated_at: int
    tags: list[list[str]]  # [[key, value]…], any order
    aliases: list[list[Any]]  # [[alias, version]…], any order
    latest: list[VersionHit]  # in version order
