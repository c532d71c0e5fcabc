"""a source's options (file size cap, chunk budget and overlap); connections' options checked

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing sources take every option from their connection or the deployment.
    op.add_column(
        "sources",
        sa.Column("options", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )
    # Connections' options were free-form and did nothing; from now on they are source
    # options that their sources inherit, validated on write, so none may linger unchecked.
    op.execute("UPDATE connections SET options = '{}'")


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch_op:
        batch_op.drop_column("options")
