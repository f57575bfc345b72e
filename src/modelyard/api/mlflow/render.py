"""Registry entities as MLflow's JSON messages (model_registry.proto field names)."""

from __future__ import annotations

from typing import Any

from modelyard.domain.entities import ModelVersion, RegisteredModel
from modelyard.store.point_reads import decode_json
from modelyard.store.registry import ModelHit


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


def _tag_list(aggregated: Any) -> list[dict[str, str]]:
    """Tags aggregated by the database ([[key, value]…], any order), sorted by key."""
    return [{"key": key, "value": value} for key, value in sorted(decode_json(aggregated))]


def registered_model_hit(hit: ModelHit) -> dict[str, Any]:
    """`registered_model(model_from_hit(hit))`, without building the entities: a 100-model
    search page spent as much CPU on them as on everything else (bench/, issue 6)."""
    (_, name, description, user_id, created_at, updated_at, tags, aliases), latest = hit
    return {
        "name": name,
        "creation_timestamp": created_at,
        "last_updated_timestamp": updated_at,
        "user_id": user_id,
        "description": description,
        "latest_versions": [
            {
                "name": name,
                "version": str(version),
                "creation_timestamp": v_created_at,
                "last_updated_timestamp": v_updated_at,
                "user_id": v_user_id,
                "current_stage": stage,
                "description": v_description,
                "source": source,
                "run_id": run_id,
                "status": status,
                "status_message": status_message,
                "tags": _tag_list(v_tags),
                "run_link": run_link,
                "aliases": sorted(decode_json(v_aliases)),
                "model_id": logged_model_id,
            }
            for (_, _, _, version, source, run_id, run_link, logged_model_id, v_description,
                 stage, status, status_message, v_user_id, v_created_at, v_updated_at, v_tags,
                 v_aliases) in latest
        ],
        "tags": _tag_list(tags),
        "aliases": [{"alias": alias, "version": str(version)}
                    for alias, version in sorted(decode_json(aliases))],
    }
