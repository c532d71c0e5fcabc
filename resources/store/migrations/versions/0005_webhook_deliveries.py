"""webhook deliveries and rejections; a webhook secret and repository key per source

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_number", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "provider", "delivery_id", name="uq_webhook_deliveries_provider_delivery"
        ),
    )
    op.create_table(
        "webhook_rejections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("delivery_id", sa.String(length=128), nullable=True),
        sa.Column("event", sa.String(length=64), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_rejections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_rejections_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "webhook_delivery_sources",
        sa.Column("webhook_delivery_id", sa.String(length=36), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column(
            "status",
            sa.Enum("queued", "ignored", name="deliverystatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["sync_jobs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["webhook_delivery_id"], ["webhook_deliveries.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("webhook_delivery_id", "source_id"),
    )
    with op.batch_alter_table("webhook_delivery_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_delivery_sources_source_id"), ["source_id"], unique=False
        )

    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_secret", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("repository_key", sa.String(length=300), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_sources_repository_key"), ["repository_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sources_repository_key"))
        batch_op.drop_column("repository_key")
        batch_op.drop_column("webhook_secret")

    with op.batch_alter_table("webhook_delivery_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_delivery_sources_source_id"))

    op.drop_table("webhook_delivery_sources")
    with op.batch_alter_table("webhook_rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_rejections_received_at"))

    op.drop_table("webhook_rejections")
    op.drop_table("webhook_deliveries")
