"""phone: statistics on the network prefix, so audience counts are planned as a few groups

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must match the expression the cost preflight groups on (costs.PREFIX_LENGTH).
PREFIX = "substr(e164::text, 1, 6)"


def upgrade() -> None:
    # Without it PostgreSQL guesses one group per woman when counting an audience per
    # network, and sorts 100,000 rows on disk instead of hashing a dozen groups.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE STATISTICS IF NOT EXISTS phone_network_prefix ON ({PREFIX}) FROM phone")
        op.execute("ANALYZE phone")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS phone_network_prefix")
