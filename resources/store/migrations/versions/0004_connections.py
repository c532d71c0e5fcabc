"""connections, and sources that use one

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "credentials_invalid",
                "needs_reauth",
                name="connectionstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_tested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_connections_owner_id", "connections", ["owner_id"])
    op.create_index(
        "uq_connections_owner_name",
        "connections",
        ["owner_id", sa.text("coalesce(tenant_id, '')"), "name"],
        unique=True,
    )
    with op.batch_alter_table("sources") as batch_op:
        batch_op.add_column(sa.Column("connection_id", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            "fk_sources_connection_id",
            "connections",
            ["connection_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_index("ix_sources_connection_id", ["connection_id"])


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch_op:
        batch_op.drop_index("ix_sources_connection_id")
        batch_op.drop_constraint("fk_sources_connection_id", type_="foreignkey")
        batch_op.drop_column("connection_id")
    op.drop_table("connections")
