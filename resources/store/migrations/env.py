"""Alembic environment: runs on the connection handed over by `engine.migrate`."""

from alembic import context
from sqlalchemy import create_engine

from resources.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    # `alembic revision --autogenerate` from the command line: use the URL it was given.
    connection = create_engine(context.config.get_main_option("sqlalchemy.url", "")).connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
