"""Field encryption: ciphertext at rest, blind indexes for look-ups, and key rotation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from outreach.config import get_settings
from outreach.encryption import keys, service
from outreach.encryption.types import EncryptedText

NUMBER = "+22370123456"


class Keyring:
    """The settings' data and index key lists, changed as an operator would change them."""

    def __init__(self) -> None:
        self.data = [keys.generate_data_key()]
        self.index = [keys.generate_index_key()]
        self.apply()

    def apply(self) -> None:
        settings = get_settings()
        settings.data_keys = [SecretStr(k) for k in self.data]
        settings.index_keys = [SecretStr(k) for k in self.index]


@pytest.fixture
def keyring() -> Iterator[Keyring]:
    settings = get_settings()
    before = (settings.data_keys, settings.index_keys)
    yield Keyring()
    settings.data_keys, settings.index_keys = before


@pytest.fixture
def people() -> tuple[Engine, Table]:
    metadata = MetaData()
    table = Table(
        "person",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("phone", EncryptedText),
        Column("phone_index", String(64), info={service.BLIND_INDEX_OF: "phone"}),
    )
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    return engine, table


def test_a_value_is_stored_as_ciphertext_and_read_back(keyring, people) -> None:
    # Given a number written through the encrypted column type
    engine, table = people
    with engine.begin() as conn:
        conn.execute(insert(table), [{"phone": NUMBER, "phone_index": keys.blind_index(NUMBER)}])
    # When the raw table is read, and when the column is read through its type
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT phone, phone_index FROM person")).one()
        read = conn.execute(select(table.c.phone)).scalar_one()
    # Then the database holds no trace of the number, and the application gets it back
    assert NUMBER not in raw.phone and "70123456" not in raw.phone
    assert NUMBER[1:] not in raw.phone_index
    assert read == NUMBER


def test_equal_values_encrypt_differently_but_share_a_blind_index(keyring) -> None:
    # Given the same number encrypted twice
    # When the ciphertexts and the indexes are compared
    # Then the ciphertexts differ (no frequency analysis) while the index finds both
    assert keys.encrypt(NUMBER) != keys.encrypt(NUMBER)
    assert keys.blind_index(NUMBER) == keys.blind_index(NUMBER)
    assert keys.blind_index(NUMBER) != keys.blind_index("+22370123457")


def test_the_encrypted_column_refuses_comparisons(people) -> None:
    # Given an encrypted column
    _, table = people
    # When a query compares it with a value, as one would with a plain column
    # Then it is refused at once rather than silently matching nothing
    with pytest.raises(TypeError, match="blind index"):
        select(table).where(table.c.phone == NUMBER)
    with pytest.raises(TypeError, match="blind index"):
        select(table).where(table.c.phone.like("%456"))
    # and testing for NULL still works
    select(table).where(table.c.phone.is_(None))


def test_empty_stays_empty_so_a_purge_can_blank_with_plain_sql(keyring) -> None:
    # Given the column type
    column_type = EncryptedText()
    # When an empty value is written and read
    # Then it is stored and read back empty (a blanked body reads as blanked)
    assert column_type.process_bind_param("", None) == ""
    assert column_type.process_result_value("", None) == ""


def test_a_rotation_moves_every_row_to_the_new_keys(keyring, people) -> None:
    # Given rows written under an old data key and an old index key
    engine, table = people
    numbers = [f"+2237012{i:04d}" for i in range(25)]
    with engine.begin() as conn:
        conn.execute(
            insert(table), [{"phone": n, "phone_index": keys.blind_index(n)} for n in numbers]
        )
    old_data, old_index = keyring.data[0], keyring.index[0]
    # When new keys are put first, the old ones kept for reading
    keyring.data.insert(0, keys.generate_data_key())
    keyring.index.insert(0, keys.generate_index_key())
    keyring.apply()
    # Then a look-up still finds a row by any configured index key during the rotation
    with engine.connect() as conn:
        found = conn.execute(
            select(table.c.id).where(table.c.phone_index.in_(keys.blind_indexes(numbers[3])))
        ).all()
    assert len(found) == 1
    # When the rotation runs (in small batches) and the old keys are then removed
    with Session(engine) as session:
        report = service.rotate(session=session, batch=10, tables=[table])
        session.commit()
    keyring.data.remove(old_data)
    keyring.index.remove(old_index)
    keyring.apply()
    # Then every row reads back and is found under the new keys alone
    assert report.rows == {"person": 25}
    with engine.connect() as conn:
        read = conn.execute(select(table.c.phone).order_by(table.c.id)).scalars().all()
        indexed = conn.execute(select(table.c.phone_index).order_by(table.c.id)).scalars().all()
    assert read == numbers
    assert indexed == [keys.blind_index(n) for n in numbers]


def test_a_value_under_a_removed_key_is_reported_clearly(keyring) -> None:
    # Given a value written under a key that is then removed from the settings
    token = keys.encrypt(NUMBER)
    keyring.data = [keys.generate_data_key()]
    keyring.apply()
    # When it is read
    # Then the error names the setting to look at, not the value
    with pytest.raises(keys.UndecryptableValue, match="OUTREACH_DATA_KEYS"):
        keys.decrypt(token)


def test_development_derives_stable_keys_from_the_secret_key() -> None:
    # Given no data or index key configured (the test settings set none)
    assert not get_settings().data_keys
    # When a value is encrypted and indexed
    token = keys.encrypt(NUMBER)
    # Then it reads back, and the index is the same on every call (derived, not random)
    assert keys.decrypt(token) == NUMBER
    assert keys.blind_index(NUMBER) == keys.blind_index(NUMBER)
