"""UC entities as the Databricks UC registry's JSON (databricks_uc_registry_messages.proto)."""

from __future__ import annotations

from typing import Any

from modelyard.domain.catalog import UcModel, UcVersion
from modelyard.services.model_files import DirEntry


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def registered_model(item: UcModel) -> dict[str, Any]:
    return {
        "name": item.full_name,
        "creation_timestamp": item.audit.created_at,
        "last_updated_timestamp": item.audit.updated_at,
        "user_id": item.audit.created_by,
        "description": item.comment,
        "aliases": [{"alias": a.alias, "version": str(a.version)} for a in item.aliases],
        "tags": _tags(item.tags),
    }


def model_version(item: UcVersion) -> dict[str, Any]:
    lineage = item.lineage
    body: dict[str, Any] = {
        "name": item.full_name,
        "version": str(item.version),
        "creation_timestamp": item.audit.created_at,
        "last_updated_timestamp": item.audit.updated_at,
        "user_id": item.audit.created_by,
        "description": item.comment,
        "source": lineage.source,
        "run_id": lineage.run_id,
        "run_tracking_server_id": lineage.run_tracking_server_id,
        "status": item.status.value,
        "status_message": item.status_message,
        "storage_location": item.storage_location,
        "aliases": [{"alias": a, "version": str(item.version)} for a in item.aliases],
        "tags": _tags(item.tags),
        "model_id": lineage.model_id,
    }
    # Modelyard's additions; the client ignores unknown fields.
    if lineage.copied_from:
        body["copied_from"] = lineage.copied_from
    if lineage.model_version_dependencies:
        body["model_version_dependencies"] = lineage.model_version_dependencies
    if lineage.emitted:
        body["lineage_events"] = lineage.emitted
    if item.root_digest:
        body["root_digest"] = item.root_digest
    return body


def dir_entry(entry: DirEntry) -> dict[str, Any]:
    body: dict[str, Any] = {"path": entry.path, "name": entry.name,
                            "is_directory": entry.is_directory}
    if entry.file_size is not None:
        body["file_size"] = entry.file_size
    return body
