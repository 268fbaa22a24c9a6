"""names and free text encrypted, name tokens for search, outbox bodies without names

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22

Encrypts with the application's keys as configured when the migration runs
(OUTREACH_DATA_KEYS / OUTREACH_INDEX_KEYS, or the keys derived outside production).
Outbox bodies already written with a name in them get the name's marker instead, and
the name moves to the row's encrypted `addressee`.
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from outreach.encryption import keys
from outreach.outbox import bodies
from outreach.registry import names
from outreach.registry.models import NameKind

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

# (table, column, type before): every column that becomes ciphertext.
NARROWED: list[tuple[str, str, Any]] = [
    ("beneficiary", "name", sa.String(120)),
    ("child", "name", sa.String(120)),
    ("chw", "name", sa.String(120)),
    ("enrollment", "addressee", sa.String(24)),
    ("appointment", "addressee", sa.String(24)),
    ("beneficiary_import", "problems", sa.JSON()),
    ("beneficiary_import", "rows", sa.JSON()),
]
NULLABLE = {("child", "name"), ("enrollment", "addressee"), ("appointment", "addressee")}
ALREADY_TEXT = [
    ("inbound_message", "text"),
    ("self_registration", "village_text"),
    ("ussd_session_event", "input"),
    ("ussd_session_event", "last_app_response"),
]


def _rewrite(table: str, column: str, change: Callable[[str], str]) -> None:
    """Apply `change` to every non-empty value of a column, a batch of rows at a time."""
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                f"SELECT id, CAST({column} AS TEXT) FROM {table} "  # noqa: S608 - our names
                f"WHERE id > :last AND {column} IS NOT NULL ORDER BY id LIMIT {BATCH}"
            ),
            {"last": last},
        ).all()
        if not rows:
            return
        params = [{"i": i, "v": change(v)} for i, v in rows if v]
        if params:
            conn.execute(
                sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :i"),  # noqa: S608
                params,
            )
        last = rows[-1][0]


def _alter(table: str, column: str, type_: Any, existing: Any) -> None:
    dialect = op.get_bind().dialect
    if dialect.name == "postgresql":
        using = f"{column}::{type_.compile(dialect=dialect)}"
        op.alter_column(table, column, type_=type_, existing_type=existing, postgresql_using=using)
        return
    # SQLite would rebuild the whole table, and other tables' foreign keys point at most of
    # these: the column is swapped in place instead (a new column, a copy, the old dropped).
    nullable = (table, column) in NULLABLE
    default = (
        ""
        if nullable
        else (" NOT NULL DEFAULT '[]'" if "import" in table else " NOT NULL DEFAULT ''")
    )
    new = f"{column}__new"
    op.execute(f"ALTER TABLE {table} ADD COLUMN {new} {type_.compile(dialect=dialect)}{default}")
    op.execute(f"UPDATE {table} SET {new} = {column}")  # noqa: S608 - our own names
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {new} TO {column}")


def _first_word(expr: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"split_part({expr}, ' ', 1)"
    return f"(CASE WHEN instr({expr}, ' ') > 0 THEN substr({expr}, 1, instr({expr}, ' ') - 1) ELSE {expr} END)"


def _unname_bodies() -> None:
    """Bodies written before: each name becomes its marker, the name goes to `addressee`."""
    full = "(SELECT b.name FROM beneficiary b WHERE b.id = outbound_message.beneficiary_id)"
    short = (
        "(SELECT MAX(e.addressee) FROM enrollment e"
        " WHERE e.beneficiary_id = outbound_message.beneficiary_id)"
    )
    marks = {"name": bodies.NAME, "first": bodies.FIRST_NAME}
    # Longest first: a welcome carries her full name, a prefix the short one.
    for name in (full, short):
        op.get_bind().execute(
            sa.text(
                f"UPDATE outbound_message SET body = REPLACE(body, {name}, CAST(:name AS TEXT)), "  # noqa: S608
                f"addressee = {name} WHERE addressee IS NULL AND beneficiary_id IS NOT NULL "
                f"AND {name} <> '' AND body LIKE '%' || {name} || '%'"
            ),
            marks,
        )
    # A campaign's {prenom}: the first word of the short name.
    first = _first_word(short)
    op.get_bind().execute(
        sa.text(
            f"UPDATE outbound_message SET body = REPLACE(body, {first}, CAST(:first AS TEXT)), "  # noqa: S608
            f"addressee = COALESCE(addressee, {short}) WHERE campaign_id IS NOT NULL "
            f"AND beneficiary_id IS NOT NULL AND {first} <> '' "
            f"AND body LIKE '%' || {first} || '%'"
        ),
        marks,
    )


def upgrade() -> None:
    op.add_column("outbound_message", sa.Column("addressee", sa.Text(), nullable=True))
    op.create_table(
        "name_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_name_token_kind_token", "name_token", ["kind", "token"])
    op.create_index("ix_name_token_owner_id", "name_token", ["owner_id"])
    # While names are still plain: take them out of the bodies, then index their words.
    _unname_bodies()
    conn = op.get_bind()
    for kind, table in ((NameKind.BENEFICIARY, "beneficiary"), (NameKind.CHW, "chw")):
        last = 0
        while True:
            rows = conn.execute(
                sa.text(
                    f"SELECT id, name FROM {table} WHERE id > :last "  # noqa: S608
                    f"ORDER BY id LIMIT {BATCH}"
                ),
                {"last": last},
            ).all()
            if not rows:
                break
            tokens = [
                {"k": kind.value, "o": i, "t": t}
                for i, name in rows
                for t in names.tokens(name or "")
            ]
            if tokens:
                conn.execute(
                    sa.text("INSERT INTO name_token (kind, owner_id, token) VALUES (:k, :o, :t)"),
                    tokens,
                )
            last = rows[-1][0]
    for table, column, existing in NARROWED:
        _alter(table, column, sa.Text(), existing)
    for table, column, _existing in NARROWED:
        _rewrite(table, column, keys.encrypt)
    for table, column in [*ALREADY_TEXT, ("outbound_message", "addressee")]:
        _rewrite(table, column, keys.encrypt)


def downgrade() -> None:
    for table, column in [*ALREADY_TEXT, ("outbound_message", "addressee")]:
        _rewrite(table, column, keys.decrypt)
    for table, column, _existing in NARROWED:
        _rewrite(table, column, keys.decrypt)
    for table, column, existing in NARROWED:
        _alter(table, column, existing, sa.Text())
    first = _first_word("addressee")
    op.get_bind().execute(
        sa.text(
            "UPDATE outbound_message SET body = REPLACE(REPLACE(body, CAST(:name AS TEXT), "  # noqa: S608
            f"COALESCE(addressee, '')), CAST(:first AS TEXT), COALESCE({first}, '')) "
            "WHERE addressee IS NOT NULL OR body LIKE '%' || CAST(:name AS TEXT) || '%' "
            "OR body LIKE '%' || CAST(:first AS TEXT) || '%'"
        ),
        {"name": bodies.NAME, "first": bodies.FIRST_NAME},
    )
    op.drop_index("ix_name_token_owner_id", table_name="name_token")
    op.drop_index("ix_name_token_kind_token", table_name="name_token")
    op.drop_table("name_token")
    with op.batch_alter_table("outbound_message") as batch:
        batch.drop_column("addressee")
