"""phone numbers encrypted at rest, found by blind indexes; the network prefix kept in clear

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22
"""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

from outreach.encryption import keys

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows rewritten per statement: the outbox may hold a million rows, never all in memory.
BATCH = 2000
# "+223" and the network's two digits, as costs.PREFIX_LENGTH.
PREFIX_LENGTH = 6


@dataclass(frozen=True)
class Number:
    table: str
    column: str
    length: int
    nullable: bool
    # The blind-index column and the index that replaces the plain column's, if any.
    index: str | None = None
    old_index: str | None = None


NUMBERS = (
    Number("phone", "e164", 20, False, index="e164_index"),
    Number(
        "outbound_message",
        "to_number",
        20,
        False,
        index="to_index",
        old_index="ix_outbound_message_to_number",
    ),
    Number(
        "inbound_message",
        "from_number",
        40,
        False,
        index="from_index",
        old_index="ix_inbound_message_from_number",
    ),
    Number(
        "optout_notice",
        "phone_number",
        40,
        False,
        index="phone_index",
        old_index="ix_optout_notice_phone_number",
    ),
    Number("ussd_session_event", "phone_number", 20, True, index="phone_index"),
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _unique_on_e164() -> str:
    found = sa.inspect(op.get_bind()).get_unique_constraints("phone")
    (name,) = [c["name"] for c in found if c["column_names"] == ["e164"]]
    # Unnamed on SQLite when made by the first migration: batch mode names it by convention.
    return name or "uq_phone_e164"


def _rewrite(number: Number, *, encrypting: bool) -> None:
    """Encrypt (or decrypt) every value of one column in batches, with its index and prefix."""
    conn = op.get_bind()
    extra = [number.index] if number.index else []
    if number.table == "phone":
        extra.append("prefix")
    table = sa.table(
        number.table, sa.column("id"), sa.column(number.column), *(sa.column(c) for c in extra)
    )
    value = table.c[number.column]
    written = [number.column, *extra] if encrypting else [number.column]
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("_id"))
        .values({c: sa.bindparam(f"_{c}") for c in written})
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, value)
            .where(table.c.id > last, value.is_not(None), value != "")
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        params = []
        for row_id, stored in rows:
            if not encrypting:
                params.append({"_id": row_id, f"_{number.column}": keys.decrypt(stored)})
                continue
            item = {"_id": row_id, f"_{number.column}": keys.encrypt(stored)}
            if number.index:
                item[f"_{number.index}"] = keys.blind_index(stored)
            if number.table == "phone":
                item["_prefix"] = stored[:PREFIX_LENGTH]
            params.append(item)
        conn.execute(statement, params)
        last = rows[-1][0]


def upgrade() -> None:
    if not _sqlite():
        # The plain prefix column has statistics of its own.
        op.execute("DROP STATISTICS IF EXISTS phone_network_prefix")
    # SQLite names the old unnamed unique constraint on e164 through this convention.
    unique_names = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
    for number in NUMBERS:
        with op.batch_alter_table(number.table, naming_convention=unique_names) as batch_op:
            if number.old_index:
                batch_op.drop_index(number.old_index)
            if number.table == "phone":
                batch_op.drop_constraint(_unique_on_e164(), type_="unique")
                batch_op.add_column(sa.Column("prefix", sa.String(length=PREFIX_LENGTH)))
            if number.index:
                batch_op.add_column(sa.Column(number.index, sa.String(length=32)))
            batch_op.alter_column(
                number.column,
                type_=sa.Text(),
                existing_type=sa.String(length=number.length),
                existing_nullable=number.nullable,
            )
        _rewrite(number, encrypting=True)
        if not number.index:
            continue
        with op.batch_alter_table(number.table) as batch_op:
            if number.table == "phone":
                batch_op.alter_column(
                    number.index, existing_type=sa.String(length=32), nullable=False
                )
                batch_op.create_unique_constraint("phone_e164_index_key", [number.index])
            else:
                batch_op.create_index(f"ix_{number.table}_{number.index}", [number.index])
    if not _sqlite():
        op.execute("ANALYZE phone")


def downgrade() -> None:
    for number in NUMBERS:
        _rewrite(number, encrypting=False)
        with op.batch_alter_table(number.table) as batch_op:
            if number.table == "phone":
                batch_op.drop_constraint("phone_e164_index_key", type_="unique")
                batch_op.drop_column("prefix")
            elif number.index:
                batch_op.drop_index(f"ix_{number.table}_{number.index}")
            if number.index:
                batch_op.drop_column(number.index)
            batch_op.alter_column(
                number.column,
                type_=sa.String(length=number.length),
                existing_type=sa.Text(),
                existing_nullable=number.nullable,
            )
            if number.old_index:
                batch_op.create_index(number.old_index, [number.column])
            if number.table == "phone":
                batch_op.create_unique_constraint("phone_e164_key", ["e164"])
    if not _sqlite():
        op.execute(
            "CREATE STATISTICS IF NOT EXISTS phone_network_prefix "
            "ON (substr(e164::text, 1, 6)) FROM phone"
        )
        op.execute("ANALYZE phone")
