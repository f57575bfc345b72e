"""Registry entities as MLflow's JSON messages (model_registry.proto field names)."""

from __future__ import annotations

from typing import Any

from modelyard.domain.entities import ModelVersion, RegisteredModel
from modelyard.domain.hits import ModelHit, VersionHit


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def model_version(version: ModelVersion) -> dict[str, Any]:
    return {
        "name": version.model_name,
        "version": str(version.version),  # the client's proto says string
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
        "user_id": version.user_id,
        "current_stage": version.current_stage.value,
        "description": version.description,
        "source": version.source,
        "run_id": version.run_id,
        "status": version.status,
        "status_message": version.status_message,
        "tags": _tags(version.tags),
        "run_link": version.run_link,
        "aliases": list(version.aliases),
        "model_id": version.logged_model_id,
    }


def registered_model(model: RegisteredModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
        "user_id": model.user_id,
        "description": model.description,
        "latest_versions": [model_version(v) for v in model.latest_versions],
        "tags": _tags(model.tags),
        "aliases": [{"alias": a.alias, "version": str(a.version)} for a in model.aliases],
    }


def _tag_list(tags: list[list[str]]) -> list[dict[str, str]]:
    """A hit's tags ([[key, value]…], any order), sorted by key."""
    return [{"key": key, "value": value} for key, value in sorted(tags)]


def _version_hit(name: str, v: VersionHit) -> dict[str, Any]:
    return {
        "name": name,
        "version": str(v.version),
        "creation_timestamp": v.created_at,
        "last_updated_timestamp": v.updated_at,
        "user_id": v.user_id,
        "current_stage": v.stage,
        "description": v.description,
        "source": v.source,
        "run_id": v.run_id,
        "status": v.status,
        "status_message": v.status_message,
        "tags": _tag_list(v.tags),
        "run_link": v.run_link,
        "aliases": sorted(v.aliases),
        "model_id": v.logged_model_id,
    }


def registered_model_hit(hit: ModelHit) -> dict[str, Any]:
    """`registered_model(model_from_hit(hit))`, without building the entities: a 100-model
    search page spent as much CPU on them as on everything else (bench/, issue 6)."""
    name = hit.name
    return {
        "name": name,
        "creation_timestamp": hit.created_at,
        "last_updated_timestamp": hit.updated_at,
        "user_id": hit.user_id,
        "description": hit.description,
        "latest_versions": [_version_hit(name, v) for v in hit.latest],
        "tags": _tag_list(hit.tags),
        "aliases": [{"alias": alias, "version": str(version)}
                    for alias, version in sorted(hit.aliases)],
    }
