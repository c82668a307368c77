"""Subscriptions count their sign-up requests, so old confirmation links stop working.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add subscriptions.confirm_generation (0 for existing rows)."""
    # A plain ADD COLUMN on SQLite too: batch mode would rebuild the table without AUTOINCREMENT.
    op.add_column(
        "subscriptions",
        sa.Column("confirm_generation", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    """Drop subscriptions.confirm_generation."""
    with op.batch_alter_table(
        "subscriptions", recreate="auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.drop_column("confirm_generation")
