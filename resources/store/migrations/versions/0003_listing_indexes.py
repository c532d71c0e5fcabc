"""indexes for listing a user's sources and a source's finished jobs

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_sources_owner_tenant_created", "sources", ["owner_id", "tenant_id", "created_at"]
    )
    op.create_index(
        "ix_sync_jobs_source_status_completed",
        "sync_jobs",
        ["source_id", "status", "completed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_sync_jobs_source_status_completed", table_name="sync_jobs")
    op.drop_index("ix_sources_owner_tenant_created", table_name="sources")
