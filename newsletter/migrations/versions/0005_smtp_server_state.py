"""smtp server state: rate-limit buckets and health that survive restarts

Revision ID: 0005
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import subscribers.dbtypes

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "smtp_servers",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tokens_sec", sa.Float(), nullable=False),
        sa.Column("tokens_hour", sa.Float(), nullable=False),
        sa.Column("updated_at", subscribers.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("down_until", subscribers.dbtypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.create_index("ix_deliveries_lease", ["status", "lease_until"])
        batch.create_index("ix_deliveries_queue", ["run_id", "status", "id"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_queue")
        batch.drop_index("ix_deliveries_lease")
    op.drop_table("smtp_servers")
