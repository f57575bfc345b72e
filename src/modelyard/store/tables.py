"""The metadata schema, as SQLAlchemy Core tables.

Alembic migrations (store/migrations) evolve an existing database; a new, empty one is created
from this module in one step (store/migrate.py), and tests/store/test_migrate.py holds the two
schemas equal, server defaults and indexes included. This module is also what queries use.
Timestamps are integer milliseconds since the epoch, as every API speaks them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)

metadata = MetaData()

#: How many leading characters of a tag value its index holds (revision 0005).
TAG_VALUE_HEAD = 64


def tag_value_head(value: str) -> str:
    """The indexed part of a tag value: a whole value can exceed PostgreSQL's 2,704-byte limit
    on an index entry."""
    return value[:TAG_VALUE_HEAD]

#: `registry` tells the workspace registry (flat names) from Unity Catalog (three-level names):
#: the two namespaces never collide, and both share versions, tags and aliases.
registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry", String(16), nullable=False),
    # 1,024 (revision 0005): a UC full name is three names of up to 255 characters.
    Column("name", String(1024), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("user_id", String(256), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # The last version number handed out; never decreases, so numbers are never reused.
    Column("last_version", Integer, nullable=False, default=0),
    # Unity Catalog only (registry = 'uc'); NULL for the workspace registry.
    Column("uc_id", String(36), nullable=True),
    Column("schema_id", String(36), ForeignKey("uc_schemas.id", ondelete="CASCADE",
                                               name="fk_registered_models_schema"),
           nullable=True),
    Column("storage_location", Text, nullable=True),
    Column("owner", String(256), nullable=True),
    Column("updated_by", String(256), nullable=True),
    # Revision 0007: tags, aliases and latest versions as one JSON document, kept current by
    # every change of them (store/model_summary.py); what a model search answers with.
    Column("summary", Text, nullable=False, server_default='[[],[],[]]'),
    UniqueConstraint("registry", "name", name="uq_registered_models_registry_name"),
    Index("ix_registered_models_updated", "registry", "updated_at", "name"),
    Index("ix_registered_models_schema", "schema_id", "name"),
    # PostgreSQL only (revision 0001): name-prefix searches (`name LIKE 'p%'`) walk it; the
    # unique index's collation order cannot serve LIKE there. SQLite's unique index can. (The
    # operator class is written out: `postgresql_ops=` would import the PostgreSQL dialect
    # package into every server, 50 ms of start-up on SQLite.)
    Index("ix_registered_models_name_pattern", "registry",
          text("name text_pattern_ops")).ddl_if(dialect="postgresql"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", String(256), nullable=False, default=""),
    Column("run_link", Text, nullable=False, default=""),
    Column("logged_model_id", String(256), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("stage", String(32), nullable=False, default="None"),
    Column("status", String(32), nullable=False, default="READY"),
    Column("status_message", Text, nullable=False, default=""),
    Column("user_id", String(256), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Unity Catalog only: governed storage, content digest and lineage (JSON).
    Column("uc_id", String(36), nullable=True),
    Column("storage_location", Text, nullable=True),
    Column("root_digest", String(64), nullable=True),
    Column("run_tracking_server_id", String(256), nullable=True),
    Column("lineage", Text, nullable=True),
    Column("updated_by", String(256), nullable=True),
    # Revision 0009_h12: the model scan (store/scans.py): CLEAN / UNSAFE / NOT_SCANNED (NULL:
    # never scanned) and the whole result as JSON.
    Column("scan_status", String(16), nullable=True),
    Column("scan_report", Text, nullable=True),
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    # Only the versions still PENDING_REGISTRATION, what the sweeper looks for (0010_h21).
    Index("ix_model_versions_pending_created", "created_at",
          sqlite_where=text("status = 'PENDING_REGISTRATION'"),
          postgresql_where=text("status = 'PENDING_REGISTRATION'")),
    Index("ix_model_versions_run_id", "run_id"),
    Index("ix_model_versions_updated", "updated_at"),
    Index("ix_model_versions_model_stage", "model_id", "stage", "version"),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False, default=""),
    # Revision 0005: the indexed part of `value` (`tag_value_head`); a whole value may be too
    # long for a PostgreSQL index entry.
    Column("value_head", String(TAG_VALUE_HEAD), nullable=False, default="", server_default=""),
    # The model's name, kept equal to registered_models.name by the store (insert, renames):
    # `tags.k = 'v'` ordered by name then reads its page in index order.
    Column("model_name", String(1024), nullable=False, default="", server_default=""),
    Index("ix_registered_model_tags_search", "key", "value_head", "model_name", "model_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False, default=""),
    Column("value_head", String(TAG_VALUE_HEAD), nullable=False, default="", server_default=""),
    Index("ix_model_version_tags_search", "key", "value_head", "version_id"),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"),
           primary_key=True),
    Column("alias", String(255), primary_key=True),
    Column("version", Integer, nullable=False),
    Index("ix_registered_model_aliases_version", "model_id", "version"),
)

# ---- identity and access (issue 4) ------------------------------------------------------------

#: Users, groups and service principals share one namespace of names, so that a grant or a
#: permission names its principal unambiguously.
principals = Table(
    "principals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(24), nullable=False),  # user | group | service_principal
    Column("name", String(256), nullable=False, unique=True),
    Column("display_name", String(256), nullable=False, default=""),
    Column("email", String(320), nullable=False, default=""),
    Column("external_id", String(256), nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("password_hash", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Integer, ForeignKey("principals.id", ondelete="CASCADE"),
           primary_key=True),
    Column("member_id", Integer, ForeignKey("principals.id", ondelete="CASCADE"),
           primary_key=True),
    Index("ix_group_members_member", "member_id"),
)

#: Only the SHA-256 of a token is kept; the token itself is shown once, at creation.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("principal_id", Integer, ForeignKey("principals.id", ondelete="CASCADE"),
           nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("comment", Text, nullable=False, default=""),
    Column("created_by", String(256), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, default=-1),  # -1: never
    Index("ix_access_tokens_principal", "principal_id"),
)

#: Workspace-registry permission levels; model_id 0 is the registry root (all models).
workspace_permissions = Table(
    "workspace_permissions",
    metadata,
    Column("model_id", Integer, primary_key=True),
    Column("principal", String(256), primary_key=True),
    Column("level", Integer, nullable=False),
    Index("ix_workspace_permissions_principal", "principal", "model_id"),
)

#: Unity Catalog grants: securable_name is the full name (`cat`, `cat.sch`, `cat.sch.model`).
uc_grants = Table(
    "uc_grants",
    metadata,
    Column("securable_type", String(32), primary_key=True),
    Column("securable_name", String(1024), primary_key=True),
    Column("principal", String(256), primary_key=True),
    Column("privilege", String(64), primary_key=True),
    Index("ix_uc_grants_principal", "principal", "securable_type"),
)

#: Activities of a workspace-registry version: transitions, transition requests, comments.
registry_activities = Table(
    "registry_activities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE"),
           nullable=False),
    Column("activity_type", String(32), nullable=False),
    Column("from_stage", String(32), nullable=False, default=""),
    Column("to_stage", String(32), nullable=False, default=""),
    Column("comment", Text, nullable=False, default=""),
    Column("system_comment", Text, nullable=False, default=""),
    Column("user_id", String(256), nullable=False, default=""),
    # For REQUESTED_TRANSITION: open | approved | rejected | cancelled; empty otherwise.
    Column("state", String(16), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_registry_activities_version", "version_id", "id"),
)

#: The audit trail: append-only, each row's hash covers its content and the previous hash.
audit_events = Table(
    "audit_events",
    metadata,
    # INTEGER on SQLite: the row id itself, not a second B-tree (revision 0010_h21).
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(128), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("object_name", String(1024), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("request_id", String(64), nullable=False, default=""),
    Column("client_address", String(64), nullable=False, default=""),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_object", "object_type", "object_name", "seq"),
    Index("ix_audit_events_actor", "actor", "seq"),
    Index("ix_audit_events_time", "time"),
)


# ---- Unity Catalog (revision 0002_unity_catalog) -----------------------------------------------


def _uc_audit_columns() -> list[Column]:
    return [Column("owner", String(256), nullable=False),
            Column("created_at", BigInteger, nullable=False),
            Column("created_by", String(256), nullable=False),
            Column("updated_at", BigInteger, nullable=False),
            Column("updated_by", String(256), nullable=False)]


#: `properties` is a JSON object of strings; `storage_location` is the managed root derived from
#: `storage_root` (None when the catalog has no storage of its own).
uc_catalogs = Table(
    "uc_catalogs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("properties", Text, nullable=False, default="{}"),
    Column("storage_root", Text, nullable=True),
    Column("storage_location", Text, nullable=True),
    *_uc_audit_columns(),
    UniqueConstraint("name", name="uq_uc_catalogs_name"),
)

uc_schemas = Table(
    "uc_schemas",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("catalog_id", String(36), ForeignKey("uc_catalogs.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(255), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("properties", Text, nullable=False, default="{}"),
    Column("storage_root", Text, nullable=True),
    Column("storage_location", Text, nullable=True),
    *_uc_audit_columns(),
    UniqueConstraint("catalog_id", "name", name="uq_uc_schemas_catalog_name"),
)

#: Tags on catalogs and schemas (models and versions use the registry core's tag tables).
uc_securable_tags = Table(
    "uc_securable_tags",
    metadata,
    Column("securable_type", String(16), primary_key=True),
    Column("securable_id", String(36), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False, default=""),
)

#: The SHA-256 of every file of a finalized UC version.
model_version_files = Table(
    "model_version_files",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
)

#: Model signing (issue 20 item 4, revision 0009_h13_model_signing): what finalize concluded
#: about a UC version's `model.sig` (domain/model_signing.py). `signed` is true only when the
#: signature is valid, its signer trusted and it covers exactly the version's files; `status`
#: a SigningStatus, `signer` a key fingerprint or certificate subject, `detail` the reason.
model_version_signing = Table(
    "model_version_signing",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE",
                                             name="fk_model_version_signing_version"),
           primary_key=True),
    Column("signed", Boolean, nullable=False),
    Column("status", String(32), nullable=False),
    Column("signer", Text, nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    Column("verified_at", BigInteger, nullable=False),
)

#: Storage locations whose files must go: queued in the transaction that deletes (or fails) a
#: version, emptied after commit and by the periodic sweep, so a crash leaves no orphans.
storage_garbage = Table(
    "storage_garbage",
    metadata,
    Column("location", String(2048), primary_key=True),
    Column("reason", String(64), nullable=False),
    Column("queued_at", BigInteger, nullable=False),
)

#: Failed password sign-ins per user name, so that every worker and replica applies one
#: throttle (services/signin_throttle.py). A row means nothing once its window and lock passed.
signin_failures = Table(
    "signin_failures",
    metadata,
    Column("username", String(256), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_failure_at", BigInteger, nullable=False),
    Column("locked_until", BigInteger, nullable=False),
    Index("ix_signin_failures_first_failure_at", "first_failure_at"),
)

#: Server-wide secrets every replica shares (e.g. the key that signs upload/download URLs),
#: encrypted with the key outside the database (store/secret_box.py).
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

#: Workspace-registry webhooks (Databricks' registry webhooks). `model_name` NULL: registry-wide.
#: `secret` and `authorization` are encrypted, not hashed: each delivery needs them back to
#: sign the body (HMAC) and to send the header (store/secret_box.py). Never rendered or logged.
registry_webhooks = Table(
    "registry_webhooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_name", String(1024), nullable=True),
    Column("events", Text, nullable=False),  # JSON array of event names
    Column("status", String(16), nullable=False),
    Column("description", Text, nullable=False, default="", server_default=""),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=True),
    Column("authorization", Text, nullable=True),
    Column("enable_ssl_verification", Boolean, nullable=False, default=True,
           server_default=true()),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_delivery_at", BigInteger, nullable=True),
    Column("last_delivery_status", Integer, nullable=True),
    Column("last_delivery_error", Text, nullable=True),
    # Revision 0008: the dialect it was created through ("databricks", "mlflow") and MLflow's
    # webhook name; both dialects' webhooks share the outbox and the delivery workers.
    # No Python-side default: an insert written for an older schema must not name it.
    Column("dialect", String(16), nullable=False, server_default="databricks"),
    Column("name", String(256), nullable=True),
    Index("ix_registry_webhooks_model", "model_name"),
)

#: The webhook outbox (revision 0006): one row per delivery still to make, written in the
#: transaction of the change that caused it, deleted once delivered or given up.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", String(32), ForeignKey("registry_webhooks.id", ondelete="CASCADE",
                                                name="fk_webhook_deliveries_webhook"),
           nullable=False),
    Column("event", String(64), nullable=False),
    Column("body", Text, nullable=False),  # the JSON payload, exactly as it will be posted
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("next_attempt_at", BigInteger, nullable=False),
    # A worker delivering the row holds it until then; a crashed one's claim lapses.
    Column("claimed_until", BigInteger, nullable=False, default=0, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    # Revision 0008: rows stay once finished (the delivery log), for the retention period.
    Column("delivery_uuid", String(36), nullable=True),  # X-MLflow-Delivery-Id, per delivery
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("finished_at", BigInteger, nullable=True),
    Column("status_code", Integer, nullable=True),  # of the last attempt
    Column("error", Text, nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Column("response", Text, nullable=True),  # the start of the last answer's body
    Column("redelivery_of", Integer, nullable=True),  # a manual redelivery: the original's id
    Index("ix_webhook_deliveries_due", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    Index("ix_webhook_deliveries_pending", "state", "next_attempt_at"),
)

#: One row per delivery attempt (revision 0008), shown in the delivery log.
webhook_delivery_attempts = Table(
    "webhook_delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Integer,
           ForeignKey("webhook_deliveries.id", ondelete="CASCADE",
                      name="fk_webhook_delivery_attempts_delivery"),
           nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("response", Text, nullable=True),
    Index("ix_webhook_delivery_attempts_delivery", "delivery_id", "attempt"),
)

# ---- promotion policies and alias requests (issue 20, revision 0008_h11_policies) -------------

#: What may carry an alias or enter a stage (domain/policies.py).
promotion_policies = Table(
    "promotion_policies",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("scope", String(1024), nullable=False),
    Column("alias", String(255), nullable=True),
    Column("stage", String(32), nullable=True),
    Column("condition", Text, nullable=False),
    Column("approvals", Integer, nullable=False, default=0),
    Column("created_by", String(256), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
)

#: A request to move an alias that a policy with approvals guards, and its reviews.
alias_requests = Table(
    "alias_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE",
                                           name="fk_alias_requests_model"),
           nullable=False),
    Column("alias", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("requested_by", String(256), nullable=False),
    Column("state", String(16), nullable=False),
    Column("policy", String(128), nullable=False),
    Column("approvals_needed", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_alias_requests_model", "model_id", "state"),
)

alias_request_reviews = Table(
    "alias_request_reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, ForeignKey("alias_requests.id", ondelete="CASCADE",
                                             name="fk_alias_request_reviews_request"),
           nullable=False),
    Column("user_name", String(256), nullable=False),
    # APPROVE, REJECT, CANCEL or COMMENT
    Column("decision", String(16), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_alias_request_reviews_request", "request_id"),
)

#: Alias, stage, tag and description history and the live event stream's source (revision
#: 0008_h10_history): one row per change, written in the change's transaction by a commit hook
#: (services/history.py). `id` orders the stream (SSE ids); `kind` is "alias", "stage", "tag"
#: or "description"; `subject` the alias name or tag key ("" for stages and descriptions);
#: `version` the model version a stage, tag or description belongs to (NULL: the model's own).
model_history = Table(
    "model_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry", String(16), nullable=False),
    Column("model_name", String(1024), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject", String(256), nullable=False, default="", server_default=""),
    Column("version", Integer, nullable=True),
    Column("action", String(64), nullable=False),
    Column("value", Text, nullable=True),
    Column("previous", Text, nullable=True),
    Column("actor", String(256), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("reason", Text, nullable=True),
    Index("ix_model_history_subject", "registry", "model_name", "kind", "subject", "id"),
)

# ---- trash and legal holds (issue 20, revision 0008_h14_trash) --------------------------------

#: A deleted model or version, kept until `expires_at` (services/trash.py). A trashed model's
#: own row stays, its `registry` set to `trash:<item id>` (and its schema to NULL): no query of
#: either registry sees it, and its name is free at once. A trashed version moves to a holder
#: row of that kind (`holder_id`), its tags, files and activities with it. `model_id` is the
#: model it belongs to; `aliases` (JSON [[alias, version]…]) what pointed at the version.
trash_items = Table(
    "trash_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry", String(16), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("version", Integer, nullable=True),
    Column("model_id", Integer, nullable=False),
    Column("holder_id", Integer, nullable=True),
    Column("schema_id", String(36), nullable=True),
    Column("owner", String(256), nullable=False, default=""),
    Column("aliases", Text, nullable=False, default="[]"),
    Column("deleted_by", String(256), nullable=False),
    Column("deleted_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_trash_items_name", "registry", "name", "version"),
    Index("ix_trash_items_expires", "expires_at"),
    Index("ix_trash_items_model", "model_id"),
)

#: Legal holds: while one exists, what it names (a model, `version` 0, or one version of it) can
#: be neither deleted nor purged, live or in the trash.
legal_holds = Table(
    "legal_holds",
    metadata,
    Column("registry", String(16), primary_key=True),
    Column("name", String(1024), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
