"""Metadata storage: SQLAlchemy Core tables, Alembic migrations, repositories, point reads.

All SQL lives here. The unit of work that binds repositories to one transaction is the
services' (services/unit_of_work.py); `Database.read()`/`write()` give it its transaction.
"""
