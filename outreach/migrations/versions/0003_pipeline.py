"""delivery pipeline: message validity, claim index, attempt count default

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENDABLE = "status IN ('queued', 'deferred')"


def upgrade() -> None:
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.alter_column(
            "attempt_count", existing_type=sa.Integer(), server_default=sa.text("0")
        )
        batch_op.create_index(
            "ix_outbound_message_sendable",
            ["priority", "due_at", "id"],
            unique=False,
            postgresql_where=sa.text(SENDABLE),
            sqlite_where=sa.text(SENDABLE),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_message_sendable")
        batch_op.alter_column("attempt_count", existing_type=sa.Integer(), server_default=None)
        batch_op.drop_column("expires_at")
