"""inbound: what an incoming SMS was understood as

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("intent", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_inbound_message_intent"), ["intent"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_message_intent"))
        batch_op.drop_column("intent")
