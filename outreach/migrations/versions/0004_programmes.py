"""programmes: enrollment start date and addressee, indexes for the daily fan-out

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("start_date", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("addressee", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True)
        )
    bind = op.get_bind()
    # Existing enrollments started the day they were created.
    if bind.dialect.name == "postgresql":
        op.execute("UPDATE enrollment SET start_date = CAST(created_at AS date)")
    else:
        op.execute("UPDATE enrollment SET start_date = date(created_at)")
    _backfill_addressees(bind)
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.alter_column("start_date", existing_type=sa.Date(), nullable=False)
        batch_op.create_index(batch_op.f("ix_enrollment_start_date"), ["start_date"], unique=False)
        batch_op.create_index(
            "ix_enrollment_programme_anchor", ["programme", "anchor_date"], unique=False
        )


def _backfill_addressees(bind: sa.engine.Connection) -> None:
    from messages.texts import addressee

    rows = bind.execute(
        sa.text(
            "SELECT e.id, b.name, b.language FROM enrollment e "
            "JOIN beneficiary b ON b.id = e.beneficiary_id"
        )
    ).all()
    for enrollment_id, name, language in rows:
        bind.execute(
            sa.text("UPDATE enrollment SET addressee = :a WHERE id = :i"),
            {"a": addressee(name, language or "fr"), "i": enrollment_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_programme_anchor")
        batch_op.drop_index(batch_op.f("ix_enrollment_start_date"))
        batch_op.drop_column("addressee")
        batch_op.drop_column("start_date")
