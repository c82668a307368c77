"""Lists get branding and a public-archive switch; editors' notes per issue get a table.

Revision ID: 0012
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import subscribers.dbtypes

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def _list_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("logo_url", sa.String(length=2000), nullable=True),
        sa.Column("accent_color", sa.String(length=7), server_default="#1d4ed8", nullable=False),
        sa.Column("footer_text", sa.Text(), server_default="", nullable=False),
        sa.Column("postal_address", sa.Text(), server_default="", nullable=False),
        sa.Column("archive_public", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("show_images", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def upgrade() -> None:
    """Add the branding columns (existing lists keep today's look, archive private)."""
    with op.batch_alter_table("lists") as batch:
        for column in _list_columns():
            batch.add_column(column)
    op.create_table(
        "issue_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("note_markdown", sa.Text(), nullable=False),
        sa.Column("lead_article_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", subscribers.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lead_article_id"], ["articles.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id"),
    )
    op.create_index("ix_issue_notes_list_id", "issue_notes", ["list_id"])


def downgrade() -> None:
    """Drop the notes and the branding columns."""
    op.drop_index("ix_issue_notes_list_id", table_name="issue_notes")
    op.drop_table("issue_notes")
    with op.batch_alter_table("lists") as batch:
        for column in reversed(_list_columns()):
            batch.drop_column(column.name)
