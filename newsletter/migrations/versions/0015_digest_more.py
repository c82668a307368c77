"""Digests remember the articles their caps left out, so the email can say "N more in Topic".

Revision ID: 0015
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add digests.more (topic -> article ids), empty for existing digests."""
    op.add_column("digests", sa.Column("more", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    """Drop digests.more."""
    with op.batch_alter_table("digests") as batch:
        batch.drop_column("more")
