"""Digests remember the articles their caps left out ("N more in Topic"); lists get the text
of an optional welcome email.

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
    """Add digests.more (topic -> article ids, empty for existing digests), lists.welcome_text."""
    op.add_column("digests", sa.Column("more", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("lists", sa.Column("welcome_text", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop digests.more and lists.welcome_text."""
    with op.batch_alter_table("digests") as batch:
        batch.drop_column("more")
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("welcome_text")
