"""The metadata schema, as SQLAlchemy Core tables.

Alembic migrations (store/migrations) create and evolve it; this module is what queries use.
Timestamps are integer milliseconds since the epoch, as every API speaks them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

#: `registry` tells the workspace registry (flat names) from Unity Catalog (three-level names):
#: the two namespaces never collide, and both share versions, tags and aliases.
registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry", String(16), nullable=False),
    Column("name", String(512), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("user_id", String(256), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # The last version number handed out; never decreases, so numbers are never reused.
    Column("last_version", Integer, nullable=False, default=0),
    UniqueConstraint("registry", "name", name="uq_registered_models_registry_name"),
    Index("ix_registered_models_updated", "registry", "updated_at", "name"),
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
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
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
    Index("ix_registered_model_tags_key", "key", "model_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False, default=""),
    Index("ix_model_version_tags_key", "key", "version_id"),
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
