"""Throw-away databases on the PostgreSQL server at 127.0.0.1:5432 (user postgres, trust)."""

from __future__ import annotations

import os
import uuid

import psycopg

ADMIN_DSN = os.environ.get("MODELYARD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def available() -> bool:
    try:
        with psycopg.connect(ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def required() -> bool:
    """CI sets this, so that a missing PostgreSQL fails the run instead of skipping."""
    return os.environ.get("MODELYARD_TEST_REQUIRE_POSTGRES") == "1"


def create_database() -> tuple[str, str]:
    """A new empty database; returns (its name, its SQLAlchemy URL)."""
    name = f"modelyard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return name, f"{base}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
