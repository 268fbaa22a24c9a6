"""ussd: consent, transfers, self-registrations, last screen of a session

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("chw_id", sa.Integer(), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("text_key", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("text_version", sa.Integer(), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["beneficiary_id"], ["beneficiary.id"]),
        sa.ForeignKeyConstraint(["chw_id"], ["chw.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_beneficiary_id"), ["beneficiary_id"], unique=False
        )

    op.create_table(
        "beneficiary_transfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("from_chw_id", sa.Integer(), nullable=True),
        sa.Column("to_chw_id", sa.Integer(), nullable=False),
        sa.Column("from_village_id", sa.Integer(), nullable=True),
        sa.Column("to_village_id", sa.Integer(), nullable=True),
        sa.Column("moved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["beneficiary_id"], ["beneficiary.id"]),
        sa.ForeignKeyConstraint(["from_chw_id"], ["chw.id"]),
        sa.ForeignKeyConstraint(["to_chw_id"], ["chw.id"]),
        sa.ForeignKeyConstraint(["from_village_id"], ["site.id"]),
        sa.ForeignKeyConstraint(["to_village_id"], ["site.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("beneficiary_transfer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_beneficiary_transfer_beneficiary_id"), ["beneficiary_id"], unique=False
        )

    op.create_table(
        "self_registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("stated_weeks", sa.Integer(), nullable=True),
        sa.Column("stated_child_months", sa.Integer(), nullable=True),
        sa.Column("estimated_anchor", sa.Date(), nullable=False),
        sa.Column("village_text", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("confirmed_by_chw_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["beneficiary_id"], ["beneficiary.id"]),
        sa.ForeignKeyConstraint(["confirmed_by_chw_id"], ["chw.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("beneficiary_id"),
    )

    with op.batch_alter_table("ussd_session_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_screen", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_ussd_session_event_last_screen"), ["last_screen"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ussd_session_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ussd_session_event_last_screen"))
        batch_op.drop_column("last_screen")
    op.drop_table("self_registration")
    with op.batch_alter_table("beneficiary_transfer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_beneficiary_transfer_beneficiary_id"))
    op.drop_table("beneficiary_transfer")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_beneficiary_id"))
    op.drop_table("consent")
