"""Registry entities as MLflow's JSON messages (model_registry.proto field names)."""

from __future__ import annotations

from typing import Any

from modelyard.domain.entities import ModelVersion, RegisteredModel


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
