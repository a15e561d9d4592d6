"""Alembic's entry point: Loa always hands it an open connection (see scheduler.schema)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from scheduler import models  # noqa: F401  (registers the tables on the metadata)


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("Loa's migrations run through `loa init`, which passes the connection")
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        # SQLite alters tables by copying them: batch mode does that for every revision.
        render_as_batch=True,
        compare_type=True,
        transaction_per_migration=False,
    )
    context.run_migrations()


_run()
