"""An index for planning: a list's active subscriptions in id order.

Planning reads the audience in keyset pages (``list_id = ? AND status = 'active' AND id > ?
ORDER BY id LIMIT n``); without this index PostgreSQL answered each page with a bitmap scan of
the whole list and a sort, so planning a million subscribers took minutes.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ix_subscriptions_audience (list_id, status, id)."""
    op.create_index("ix_subscriptions_audience", "subscriptions", ["list_id", "status", "id"])


def downgrade() -> None:
    """Drop ix_subscriptions_audience."""
    op.drop_index("ix_subscriptions_audience", table_name="subscriptions")
