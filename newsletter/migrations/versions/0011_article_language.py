"""Articles record the language of their text (an ISO 639-1 code, or NULL when unknown).

Revision ID: 0011
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add articles.language (NULL for existing rows: not yet detected)."""
    # A plain ADD COLUMN on SQLite too: batch mode would rebuild the table without AUTOINCREMENT.
    op.add_column("articles", sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    """Drop articles.language."""
    with op.batch_alter_table(
        "articles", recreate="auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.drop_column("language")
