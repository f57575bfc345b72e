"""Registry entities as MLflow's JSON messages (model_registry.proto field names)."""

from __future__ import annotations

from typing import Any

from modelyard.domain.entities import ModelVersion, RegisteredModel
from modelyard.domain.hits import ModelHit, VersionHit


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def _version(name: str, version: int, created_at: int, updated_at: int, user_id: str,
             stage: str, description: str, source: str, run_id: str, status: str,
             status_message: str, tags: list[dict[str, str]], run_link: str,
             aliases: list[str], logged_model_id: str) -> dict[str, Any]:
    """A ModelVersion message: the one place its field names are written."""
    return {
        "name": name,
        "version": str(version),  # the client's proto says string
        "creation_timestamp": created_at,
        "last_updated_timestamp": updated_at,
        "user_id": user_id,
        "current_stage": stage,
        "description": description,
        "source": source,
        "run_id": run_id,
        "status": status,
        "status_message": status_message,
        "tags": tags,
        "run_link": run_link,
        "aliases": aliases,
        "model_id": logged_model_id,
    }


def model_version(v: ModelVersion) -> dict[str, Any]:
    return _version(v.model_name, v.version, v.creation_timestamp, v.last_updated_timestamp,
                    v.user_id, v.current_stage.value, v.description, v.source, v.run_id,
                    v.status, v.status_message, _tags(v.tags), v.run_link, list(v.aliases),
                    v.logged_model_id)


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
    return _version(name, v.version, v.created_at, v.updated_at, v.user_id, v.stage,
                    v.description, v.source, v.run_id, v.status, v.status_message,
                    _tag_list(v.tags), v.run_link, sorted(v.aliases), v.logged_model_id)


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
