"""Exactly once, nothing lost: an audience change counter and each subscription's offer cursor.

``change_counters`` holds one row per counter; triggers bump ``audience`` whenever a
subscription or subscriber changes status, a subscriber is erased or an address is suppressed,
so a sender can notice with one cheap read that the people it holds rows for may have left.
``subscriptions.offered_until`` is the planning time of the last digest that reached the
subscription: every article that arrived or was published after it is still to be offered.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import subscribers.dbtypes

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_BUMP = "UPDATE change_counters SET value = value + 1 WHERE name = 'audience'"

# (trigger name, event clause)
_SQLITE_TRIGGERS = (
    ("audience_subscription_status", "AFTER UPDATE OF status ON subscriptions"),
    ("audience_subscription_delete", "AFTER DELETE ON subscriptions"),
    ("audience_subscriber_status", "AFTER UPDATE OF status ON subscribers"),
    ("audience_subscriber_delete", "AFTER DELETE ON subscribers"),
    ("audience_suppression_insert", "AFTER INSERT ON suppressions"),
)
_POSTGRES_TRIGGERS = (
    ("audience_subscription_change", "AFTER UPDATE OF status OR DELETE ON subscriptions"),
    ("audience_subscriber_change", "AFTER UPDATE OF status OR DELETE ON subscribers"),
    ("audience_suppression_insert", "AFTER INSERT ON suppressions"),
)


def upgrade() -> None:
    """Create the counter table and its triggers; add subscriptions.offered_until."""
    op.create_table(
        "change_counters",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO change_counters (name, value) VALUES ('audience', 0)")
    # A plain ADD COLUMN on SQLite too: batch mode would rebuild the table without AUTOINCREMENT.
    op.add_column(
        "subscriptions",
        sa.Column("offered_until", subscribers.dbtypes.UTCDateTime(timezone=True), nullable=True),
    )
    op.execute("UPDATE subscriptions SET offered_until = last_sent_at")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_audience() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {_BUMP}; RETURN NULL; END $$"
        )
        for name, clause in _POSTGRES_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} {clause} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_audience()"
            )
    else:
        for name, clause in _SQLITE_TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} {clause} BEGIN {_BUMP}; END")


def downgrade() -> None:
    """Drop the triggers, the counter table and subscriptions.offered_until."""
    if op.get_bind().dialect.name == "postgresql":
        for name, clause in _POSTGRES_TRIGGERS:
            table = clause.rsplit(" ", 1)[1]
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_audience()")
    else:
        for name, _ in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table(
        "subscriptions", recreate="auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.drop_column("offered_until")
    op.drop_table("change_counters")
