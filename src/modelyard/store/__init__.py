"""Metadata storage: SQLAlchemy Core tables, Alembic migrations, repositories, unit of work."""
