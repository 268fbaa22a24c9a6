"""Migration 0014 on a database that already holds names: encrypted forward, plain back."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from outreach.config import get_settings
from outreach.encryption import keys
from outreach.migrate import alembic_config, upgrade
from outreach.outbox import bodies
from outreach.registry import names

NAME = "Aïssata Traoré"
BODY = f"Pour {NAME}: Semaine 20, dormez sous moustiquaire."


@pytest.fixture
def database(tmp_path) -> Iterator[tuple[str, Engine]]:
    """A database of its own, at the revision before names were encrypted."""
    main = get_settings().database_url
    if main.startswith("postgresql"):
        admin = create_engine(main, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS names_migration"))
            conn.execute(text("CREATE DATABASE names_migration"))
        url = main.rsplit("/", 1)[0] + "/names_migration"
    else:
        url = f"sqlite:///{tmp_path / 'names.db'}"
    upgrade(url, "0011")
    engine = create_engine(url)
    yield url, engine
    engine.dispose()
    if main.startswith("postgresql"):
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS names_migration"))
        admin.dispose()


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO phone (id, e164, status, created_at)"
                " VALUES (1, '+22370111222', 'active', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO beneficiary (id, code, name, phone_id, phone_kind, language,"
                " displaced, status, created_at) VALUES (1, '000001', :n, 1, 'shared', 'fr',"
                " false, 'active', CURRENT_TIMESTAMP)"
            ),
            {"n": NAME},
        )
        conn.execute(
            text(
                "INSERT INTO enrollment (id, beneficiary_id, programme, anchor_date, status,"
                " start_date, addressee, created_at) VALUES (1, 1, 'pregnancy', '2027-03-01',"
                " 'active', '2026-11-01', :n, CURRENT_TIMESTAMP)"
            ),
            {"n": NAME},
        )
        conn.execute(
            text(
                "INSERT INTO outbound_message (dedupe_key, kind, priority, to_number, body,"
                " beneficiary_id, status, due_at, created_at, updated_at, attempt_count)"
                " VALUES ('prog:1:w20', 'programme', 2, '+22370111222', :b, 1, 'delivered',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
            ),
            {"b": BODY},
        )
        conn.execute(
            text(
                "INSERT INTO beneficiary_import (filename, status, total_lines, valid_lines,"
                " done, imported, skipped, problems, rows, created_at) VALUES ('f.csv',"
                " 'checked', 1, 1, 0, 0, 0, '[]', :rows, CURRENT_TIMESTAMP)"
            ),
            {"rows": json.dumps([{"line": 2, "name": NAME}])},
        )


def _raw(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            "name": conn.execute(text("SELECT name FROM beneficiary")).scalar_one(),
            "addressee": conn.execute(text("SELECT addressee FROM enrollment")).scalar_one(),
            "body": conn.execute(text("SELECT body FROM outbound_message")).scalar_one(),
            "message_addressee": conn.execute(
                text("SELECT addressee FROM outbound_message")
            ).scalar_one(),
            "rows": conn.execute(
                text("SELECT CAST(rows AS TEXT) FROM beneficiary_import")
            ).scalar_one(),
        }


def test_names_are_encrypted_forward_and_come_back_plain(database) -> None:
    # Given a database with a woman's name in her record, her enrollment, a sent body
    # and a pending import
    url, engine = database
    _seed(engine)
    # When the migration runs
    upgrade(url, "0014")
    # Then no column holds her name; each decrypts back; the body holds the marker
    raw = _raw(engine)
    assert not any("Traor" in value for value in raw.values() if value)
    assert keys.decrypt(raw["name"]) == NAME and keys.decrypt(raw["addressee"]) == NAME
    assert raw["body"] == BODY.replace(NAME, bodies.NAME)
    assert bodies.render(raw["body"], keys.decrypt(raw["message_addressee"])) == BODY
    assert json.loads(keys.decrypt(raw["rows"])) == [{"line": 2, "name": NAME}]
    # And her words are indexed for search
    with engine.connect() as conn:
        tokens = set(conn.execute(text("SELECT token FROM name_token")).scalars())
    assert tokens == set(names.tokens(NAME))
    # When it is undone
    command.downgrade(alembic_config(url), "0011")
    # Then everything is as it was
    raw = _raw_before(engine)
    assert raw == {"name": NAME, "addressee": NAME, "body": BODY}


def _raw_before(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            "name": conn.execute(text("SELECT name FROM beneficiary")).scalar_one(),
            "addressee": conn.execute(text("SELECT addressee FROM enrollment")).scalar_one(),
            "body": conn.execute(text("SELECT body FROM outbound_message")).scalar_one(),
        }
