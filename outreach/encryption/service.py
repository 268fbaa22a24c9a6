"""Key rotation: rewrite every encrypted value and blind index under the current keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    Table,
    Text,
    bindparam,
    event,
    inspect,
    select,
    type_coerce,
    update,
)
from sqlmodel import Session, SQLModel

from outreach.encryption import keys
from outreach.encryption.types import EncryptedJSON, EncryptedText

# A blind-index column says which encrypted column of its row it hashes, in its `info`:
# `Column(..., info={BLIND_INDEX_OF: "e164"})`.
BLIND_INDEX_OF = "blind_index_of"

# A plain column computed from an encrypted one of its row (the network prefix of a
# number, say): `info={DERIVED_FROM: ("e164", function)}`. Rotation leaves it alone.
DERIVED_FROM = "derived_from"

# Indexes kept outside the encrypted column's own row (a table of name tokens, say)
# register a function here that rewrites them and returns the rows it touched.
EXTRA_REINDEXERS: list[Callable[[Session], int]] = []


@dataclass
class RotationReport:
    """Rows rewritten per table."""

    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def encrypted_columns(table: Table) -> list[Column[str]]:
    """The columns of `table` stored encrypted."""
    return [c for c in table.columns if isinstance(c.type, (EncryptedText, EncryptedJSON))]


def index_columns(table: Table) -> list[tuple[Column[str], Column[str]]]:
    """(blind index, encrypted column it hashes) pairs of `table`."""
    pairs = [c for c in table.columns if BLIND_INDEX_OF in c.info]
    return [(c, table.columns[c.info[BLIND_INDEX_OF]]) for c in pairs]


def _rotate_table(session: Session, table: Table, *, batch: int) -> int:
    secret = encrypted_columns(table)
    indexes = index_columns(table)
    (pk,) = table.primary_key.columns
    raw = [type_coerce(c, Text).label(c.name) for c in secret]
    written = [*secret, *(index for index, _ in indexes)]
    stmt = (
        update(table)
        .where(pk == bindparam("_pk"))
        .values({c.name: bindparam(f"_{c.name}", type_=Text) for c in written})
    )
    done, last = 0, None
    while True:
        page = select(pk, *raw).order_by(pk).limit(batch)
        if last is not None:
            page = page.where(pk > last)
        rows = session.execute(page).all()
        if not rows:
            return done
        params = []
        for row in rows:
            values = row._mapping
            item = {"_pk": values[pk.name]}
            for c in secret:
                token = values[c.name]
                item[f"_{c.name}"] = keys.reencrypt(token) if token else token
            for index, source in indexes:
                token = values[source.name]
                item[f"_{index.name}"] = keys.blind_index(keys.decrypt(token)) if token else None
            params.append(item)
        session.execute(stmt, params, execution_options={"synchronize_session": False})
        done += len(rows)
        last = rows[-1][0]


def rotate(
    *, session: Session, batch: int = 1000, tables: list[Table] | None = None
) -> RotationReport:
    """Re-encrypt every value under the first data key and rehash under the first index key."""
    report = RotationReport()
    for table in tables if tables is not None else SQLModel.metadata.sorted_tables:
        if encrypted_columns(table):
            report.rows[table.name] = _rotate_table(session, table, batch=batch)
    for reindex in EXTRA_REINDEXERS if tables is None else []:
        report.rows[reindex.__name__] = reindex(session)
    return report


@lru_cache(maxsize=64)
def _derivations(table: Table) -> tuple[tuple[str, str, Callable[[str], str]], ...]:
    found = [(index.key, source.key, keys.blind_index) for index, source in index_columns(table)]
    for c in table.columns:
        if DERIVED_FROM in c.info:
            source, function = c.info[DERIVED_FROM]
            found.append((c.key, table.columns[source].key, function))
    return tuple(found)


def derive(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """`values` for a row of `table` with its blind indexes and derived columns set."""
    for target, source, function in _derivations(table):
        if source in values:
            plain = values[source]
            values[target] = function(plain) if plain else None
    return values


def fill(row: SQLModel, *, changed_only: bool = False) -> None:
    """Set the blind indexes and derived columns of a model instance from its plain values."""
    table: Any = type(row).__table__  # type: ignore[attr-defined]
    state = inspect(row) if changed_only else None
    for target, source, function in _derivations(table):
        if state is not None and not state.attrs[source].history.has_changes():
            continue
        plain = getattr(row, source)
        setattr(row, target, function(plain) if plain else None)


def keep_derived(model: type[SQLModel]) -> None:
    """Recompute `model`'s blind indexes and derived columns whenever the ORM writes a row."""

    def before_insert(_mapper: Any, _connection: Any, target: SQLModel) -> None:
        fill(target)

    def before_update(_mapper: Any, _connection: Any, target: SQLModel) -> None:
        # Only when the number itself changed: a status change neither decrypts nor rehashes.
        fill(target, changed_only=True)

    event.listen(model, "before_insert", before_insert)
    event.listen(model, "before_update", before_update)
