"""Migrations are the only way the schema is made, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from outreach.db import get_engine
from outreach.migrate import upgrade


def test_migrations_match_the_models(migrated) -> None:
    # Given a database built only by `outreach db upgrade`
    engine = get_engine()
    # When Alembic compares it with the SQLModel tables
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # Then there is nothing a new migration would have to add
    assert diff == []


def test_upgrade_twice_is_a_no_op(migrated) -> None:
    # Given an up-to-date database
    # When the upgrade runs again (as `make run` does at every start)
    upgrade()
    # Then it succeeds and the schema still matches
    with get_engine().connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []


def test_postgresql_knows_how_few_network_prefixes_there_are(migrated) -> None:
    # Given a database built by the migrations
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        pytest.skip("extended statistics are PostgreSQL's; SQLite plans without them")
    # When its extended statistics are listed
    with engine.connect() as conn:
        names = conn.execute(text("SELECT stxname FROM pg_statistic_ext")).scalars().all()
    # Then the prefix the cost preflight groups on has its own (a hash of a dozen groups,
    # not a sort of every woman)
    assert "phone_network_prefix" in names
