"""Migration 0013 encrypts the numbers already stored, and `outreach keys rotate` moves them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from alembic import command
from pydantic import SecretStr
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from outreach.config import get_settings
from outreach.db import get_engine
from outreach.encryption import keys
from outreach.encryption.cli import app as keys_app
from outreach.inbound.models import InboundMessage, OptOutNotice
from outreach.migrate import alembic_config, upgrade
from outreach.outbox.models import OutboundMessage
from outreach.registry.models import Phone, has_number
from outreach.ussd.models import UssdSessionEvent

NUMBER = "+22376543210"
OTHER = "+22366001122"
BEFORE = "0011"


def _wipe() -> None:
    engine = get_engine()
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(text(f"DELETE FROM {table.name}"))  # noqa: S608 - our own names


def _migrate(revision: str) -> None:
    # Pooled connections may hold plans prepared against the other column types.
    get_engine().dispose()
    if revision == "head":
        upgrade()
    else:
        command.downgrade(alembic_config(), revision)
    get_engine().dispose()


@pytest.fixture
def before_encryption(migrated: None) -> Iterator[None]:
    """The database at the last revision before numbers were encrypted, with plain numbers."""
    _wipe()
    _migrate(BEFORE)
    rows = [
        "INSERT INTO phone (id, e164, status, created_at) "
        "VALUES (1, :number, 'active', :at), (2, :other, 'opted_out', :at)",
        "INSERT INTO outbound_message (id, dedupe_key, kind, priority, to_number, body, status, "
        "due_at, attempt_count, created_at, updated_at) VALUES "
        "(1, 'a', 'reply', 0, :number, 'x', 'queued', :at, 0, :at, :at), "
        "(2, 'b', 'reply', 0, :other, 'y', 'sent', :at, 1, :at, :at)",
        "INSERT INTO inbound_message (id, gateway_id, from_number, text, received_at) "
        "VALUES (1, 'g1', :number, 'STOP', :at)",
        "INSERT INTO optout_notice (id, phone_number, received_at) VALUES (1, :number, :at)",
        "INSERT INTO ussd_session_event (id, session_id, phone_number, status, received_at) "
        "VALUES (1, 's1', :number, 'Success', :at), (2, 's2', NULL, 'Success', :at)",
    ]
    values = {"number": NUMBER, "other": OTHER, "at": datetime(2026, 1, 1)}
    with get_engine().begin() as conn:
        for statement in rows:
            conn.execute(text(statement), values)
    yield
    _migrate("head")
    _wipe()


def _cells() -> list[str]:
    tables = ["phone", "outbound_message", "inbound_message", "optout_notice", "ussd_session_event"]
    with get_engine().connect() as conn:
        return [
            str(value)
            for table in tables
            for row in conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
            for value in row
        ]


def _leaks(cells: list[str]) -> list[str]:
    forms = [NUMBER, NUMBER[1:], NUMBER[4:], OTHER, OTHER[1:], OTHER[4:]]
    return [c for c in cells if any(form in c for form in forms)]


def test_the_migration_encrypts_every_stored_number_and_the_downgrade_restores_them(
    before_encryption: None,
) -> None:
    # Given plain numbers stored before the migration
    assert _leaks(_cells())
    # When the migration runs
    _migrate("head")
    # Then no table holds a number in clear, and the application reads each one back
    assert _leaks(_cells()) == []
    with Session(get_engine()) as session:
        phone = session.exec(select(Phone).where(has_number(NUMBER))).one()
        assert (phone.id, phone.e164, phone.prefix) == (1, NUMBER, "+22376")
        assert session.get(Phone, 2).e164_index == keys.blind_index(OTHER)  # type: ignore[union-attr]
        assert [m.to_number for m in session.exec(select(OutboundMessage))] == [NUMBER, OTHER]
        assert session.get(OutboundMessage, 1).to_index == keys.blind_index(NUMBER)  # type: ignore[union-attr]
        inbound = session.get(InboundMessage, 1)
        assert inbound is not None and inbound.from_number == NUMBER
        assert inbound.from_index == keys.blind_index(NUMBER)
        notice = session.get(OptOutNotice, 1)
        assert notice is not None and notice.phone_index == keys.blind_index(NUMBER)
        events = session.exec(select(UssdSessionEvent).order_by(UssdSessionEvent.id)).all()
        assert [e.phone_number for e in events] == [NUMBER, None]
    # When it is undone
    _migrate(BEFORE)
    # Then the numbers are plain again where they were
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT e164 FROM phone ORDER BY id")).scalars().all() == [
            NUMBER,
            OTHER,
        ]
        assert conn.execute(text("SELECT phone_number FROM optout_notice")).scalar() == NUMBER


@pytest.fixture
def keyring() -> Iterator[list[list[str]]]:
    settings = get_settings()
    before = (settings.data_keys, settings.index_keys)
    yield [[keys.generate_data_key()], [keys.generate_index_key()]]
    settings.data_keys, settings.index_keys = before


def _apply(ring: list[list[str]]) -> None:
    settings = get_settings()
    settings.data_keys = [SecretStr(k) for k in ring[0]]
    settings.index_keys = [SecretStr(k) for k in ring[1]]


def test_keys_rotate_moves_the_migrated_numbers_to_the_new_keys(
    before_encryption: None, keyring: list[list[str]]
) -> None:
    # Given numbers migrated under one pair of keys
    _apply(keyring)
    _migrate("head")
    old_data, old_index = keyring[0][0], keyring[1][0]
    # When new keys are put first and `outreach keys rotate` runs
    keyring[0].insert(0, keys.generate_data_key())
    keyring[1].insert(0, keys.generate_index_key())
    _apply(keyring)
    result = CliRunner().invoke(keys_app, ["rotate"])
    assert result.exit_code == 0, result.output
    assert "phone: 2 ligne(s)" in result.output
    # and the old keys are then removed from the settings
    keyring[0].remove(old_data)
    keyring[1].remove(old_index)
    _apply(keyring)
    # Then every number reads back with the new keys alone and is found by its new index
    with Session(get_engine()) as session:
        assert session.exec(select(Phone.e164).where(has_number(OTHER))).one() == OTHER
        assert [m.to_number for m in session.exec(select(OutboundMessage))] == [NUMBER, OTHER]
        to_index = session.exec(select(OutboundMessage.to_index).where(OutboundMessage.id == 1))
        assert to_index.one() == keys.blind_index(NUMBER)
        numbers = select(UssdSessionEvent.phone_number).order_by(UssdSessionEvent.id)
        assert session.exec(numbers).all() == [NUMBER, None]
    assert _leaks(_cells()) == []
