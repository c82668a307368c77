"""Drop digests.archive_html: the archive renders issues from their digests' sections, and no
code has written or read the stored copy since.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Remove the column in place. Not with a batch table copy: on SQLite that drops and
    recreates ``digests``, and the drop would set every ``deliveries.digest_id`` to NULL
    (ON DELETE SET NULL). SQLite has ALTER TABLE ... DROP COLUMN since 3.35."""
    op.execute("ALTER TABLE digests DROP COLUMN archive_html")


def downgrade() -> None:
    """Bring the (empty) column back."""
    op.add_column("digests", sa.Column("archive_html", sa.Text(), nullable=True))
