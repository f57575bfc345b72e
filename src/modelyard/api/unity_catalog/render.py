"""UC entities as Unity Catalog JSON (CatalogInfo, SchemaInfo, RegisteredModelInfo,
ModelVersionInfo), with what Databricks adds (`aliases`, `owner`, `full_name`) and Modelyard's
own additions (`tags`, `status_message`, `root_digest`, lineage) that both clients ignore."""

from __future__ import annotations

from typing import Any

from modelyard.domain.catalog import Audit, Catalog, Schema, UcModel, UcVersion
from modelyard.domain.credentials import TemporaryCredentials
from modelyard.domain.entities import Alias


def _audit(audit: Audit) -> dict[str, Any]:
    return {"owner": audit.owner, "created_at": audit.created_at,
            "created_by": audit.created_by, "updated_at": audit.updated_at,
            "updated_by": audit.updated_by}


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def catalog(item: Catalog) -> dict[str, Any]:
    return _compact({
        "name": item.name, "full_name": item.name, "comment": item.comment,
        "properties": item.properties, **_audit(item.audit), "id": item.id,
        "catalog_type": "MANAGED_CATALOG", "storage_root": item.storage_root,
        "storage_location": item.storage_location, "tags": _tags(item.tags),
    })


def schema(item: Schema) -> dict[str, Any]:
    return _compact({
        "name": item.name, "catalog_name": item.catalog_name, "full_name": item.full_name,
        "comment": item.comment, "properties": item.properties, **_audit(item.audit),
        "schema_id": item.id, "storage_root": item.storage_root,
        "storage_location": item.storage_location, "tags": _tags(item.tags),
    })


def alias(item: Alias, full_name: str) -> dict[str, Any]:
    catalog_name, schema_name, model_name = full_name.split(".")
    return {"alias_name": item.alias, "version_num": item.version,
            "catalog_name": catalog_name, "schema_name": schema_name, "model_name": model_name}


def model(item: UcModel, include_aliases: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": item.name, "catalog_name": item.catalog_name, "schema_name": item.schema_name,
        "full_name": item.full_name, "storage_location": item.storage_location,
        "comment": item.comment, **_audit(item.audit), "id": item.id,
        "tags": _tags(item.tags),
    }
    if include_aliases:
        body["aliases"] = [{"alias_name": a.alias, "version_num": a.version}
                           for a in item.aliases]
    return body


def version(item: UcVersion, include_aliases: bool = True) -> dict[str, Any]:
    lineage = item.lineage
    audit = _audit(item.audit)
    audit.pop("owner")
    body: dict[str, Any] = {
        "model_name": item.model_name, "catalog_name": item.catalog_name,
        "schema_name": item.schema_name, "version": item.version, "source": lineage.source,
        "run_id": lineage.run_id, "status": item.status.value,
        "status_message": item.status_message, "storage_location": item.storage_location,
        "comment": item.comment, **audit, "id": item.id,
        "model_id": lineage.model_id, "run_tracking_server_id": lineage.run_tracking_server_id,
        "run_workspace_id": lineage.run_workspace_id,
        "model_version_dependencies": ({"dependencies": lineage.model_version_dependencies}
                                       if lineage.model_version_dependencies else None),
        "datasets": lineage.datasets or None, "copied_from": lineage.copied_from or None,
        "lineage_events": lineage.emitted or None,
        "root_digest": item.root_digest or None, "tags": _tags(item.tags),
    }
    if include_aliases:
        body["aliases"] = [{"alias_name": a, "version_num": item.version}
                           for a in item.aliases]
    return _compact(body)


def credentials(item: TemporaryCredentials) -> dict[str, Any]:
    body: dict[str, Any] = {"expiration_time": item.expiration_time, "url": item.url}
    if item.aws_temp_credentials:
        body["aws_temp_credentials"] = item.aws_temp_credentials
    return body
