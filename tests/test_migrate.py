"""Migrations are the only way the schema is made, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from outreach.db import get_engine
from outreach.migrate import upgrade
from outreach.registry.models import Phone


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


def test_postgresql_knows_how_few_network_prefixes_there_are(db) -> None:
    # Given numbers on three networks (stored encrypted, their prefix in clear)
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        pytest.skip("column statistics are PostgreSQL's; SQLite plans without them")
    db.add_all(Phone(e164=f"+223{net}{n:06d}") for net in (70, 76, 66) for n in range(200))
    db.commit()
    # When the table is analysed, as autovacuum does
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE phone"))
        distinct = conn.execute(
            text("SELECT n_distinct FROM pg_stats WHERE tablename = 'phone' AND attname = 'prefix'")
        ).scalar_one()
    # Then the prefix the cost preflight groups on is known to have three values (a hash
    # of a dozen groups, not a sort of every woman)
    assert distinct == 3
