"""Alembic revisions of Loa's schema (run by `loa init` through :mod:`scheduler.schema`)."""
