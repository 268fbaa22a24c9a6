"""inbox follow-up and content approvals

Revision ID: 0007a
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007a"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "content_approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("text_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("approved_by_user_id", sa.Integer(), nullable=False),
        sa.Column("approved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_user_id"],
            ["staff_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "language", "text_sha256", name="uq_content_approval"),
    )
    with op.batch_alter_table("content_approval", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_content_approval_key"), ["key"], unique=False)

    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("handled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("handled_by_user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_inbound_message_handled_by_user_id", "staff_user", ["handled_by_user_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_inbound_message_assigned_user_id", "staff_user", ["assigned_user_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_constraint("fk_inbound_message_handled_by_user_id", type_="foreignkey")
        batch_op.drop_constraint("fk_inbound_message_assigned_user_id", type_="foreignkey")
        batch_op.drop_column("handled_by_user_id")
        batch_op.drop_column("handled_at")
        batch_op.drop_column("assigned_user_id")

    with op.batch_alter_table("content_approval", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_content_approval_key"))

    op.drop_table("content_approval")
