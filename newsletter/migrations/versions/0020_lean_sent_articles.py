"""sent_articles without a surrogate id and without foreign-key checks on insert.

Recording a sent digest writes one row per article it offered (about 36 in the benchmark), and
on PostgreSQL the three foreign-key checks per row cost about twice the insert itself. The pair
(subscriber_id, article_id) becomes the primary key, and triggers do what ON DELETE did: a
deleted subscriber or article takes its rows along, a deleted delivery leaves ``delivery_id``
NULL. The table is rebuilt with its rows copied; nothing references it.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import subscribers.dbtypes

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | None = None
depends_on: str | None = None

# (trigger name, table deleted from, what happens to sent_articles)
_CASCADES = (
    (
        "sent_articles_subscriber_gone",
        "subscribers",
        "DELETE FROM sent_articles WHERE subscriber_id = OLD.id",
    ),
    (
        "sent_articles_article_gone",
        "articles",
        "DELETE FROM sent_articles WHERE article_id = OLD.id",
    ),
    (
        "sent_articles_delivery_gone",
        "deliveries",
        "UPDATE sent_articles SET delivery_id = NULL WHERE delivery_id = OLD.id",
    ),
)


def _create_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, action in _CASCADES:
        if postgres:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {action}; RETURN OLD; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(f"CREATE TRIGGER {name} AFTER DELETE ON {table} BEGIN {action}; END")


def _drop_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, _ in _CASCADES:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    """Copy the rows into the lean table, swap it in, add the triggers."""
    op.create_table(
        "sent_articles_lean",
        sa.Column("subscriber_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("article_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", subscribers.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subscriber_id", "article_id", name="pk_sent_articles"),
    )
    op.execute(
        "INSERT INTO sent_articles_lean (subscriber_id, article_id, delivery_id, sent_at) "
        "SELECT subscriber_id, article_id, delivery_id, sent_at FROM sent_articles"
    )
    op.drop_index("ix_sent_articles_article_id", table_name="sent_articles")
    op.drop_table("sent_articles")
    op.rename_table("sent_articles_lean", "sent_articles")
    op.create_index("ix_sent_articles_article_id", "sent_articles", ["article_id"])
    _create_triggers()


def downgrade() -> None:
    """Back to a surrogate id and foreign keys (rows whose parent is gone are dropped)."""
    _drop_triggers()
    op.create_table(
        "sent_articles_old",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", subscribers.dbtypes.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscriber_id", "article_id"),
    )
    op.execute(
        "INSERT INTO sent_articles_old (subscriber_id, article_id, delivery_id, sent_at) "
        "SELECT s.subscriber_id, s.article_id, d.id, s.sent_at FROM sent_articles s "
        "JOIN subscribers p ON p.id = s.subscriber_id JOIN articles a ON a.id = s.article_id "
        "LEFT JOIN deliveries d ON d.id = s.delivery_id"
    )
    op.drop_index("ix_sent_articles_article_id", table_name="sent_articles")
    op.drop_table("sent_articles")
    op.rename_table("sent_articles_old", "sent_articles")
    op.create_index("ix_sent_articles_article_id", "sent_articles", ["article_id"])
