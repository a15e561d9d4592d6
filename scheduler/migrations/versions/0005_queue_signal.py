"""PostgreSQL tells listening workers when the queue changes: a trigger on ``publication``.

Revision ID: 0005_queue_signal
Revises: 0004_click_address
Created: 2026-12-01

Every transaction that makes a publication ``scheduled`` (queued, approved, rescheduled,
retried, released by a reconnect, handed back) or gives an ``unknown`` one a time to be
checked sends ``NOTIFY loa_queue`` — from whichever process or program wrote it, delivered
on commit. Workers ``LISTEN`` and look at the queue only then
(``scheduler/publishing/signals.py``). SQLite has no triggers that reach other processes:
there the workers read ``PRAGMA data_version`` once a second instead, so nothing changes in
a SQLite file.
"""

from __future__ import annotations

from alembic import op

revision = "0005_queue_signal"
down_revision = "0004_click_address"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The same channel and payload are sent once per transaction, however many rows it touched.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION loa_queue_signal() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('loa_queue', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER publication_queue_signal
        AFTER INSERT OR UPDATE OF status, due_at, next_attempt_at ON publication
        FOR EACH ROW
        WHEN (NEW.status = 'scheduled' OR (NEW.status = 'unknown' AND NEW.next_attempt_at IS NOT NULL))
        EXECUTE FUNCTION loa_queue_signal()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS publication_queue_signal ON publication")
    op.execute("DROP FUNCTION IF EXISTS loa_queue_signal()")
