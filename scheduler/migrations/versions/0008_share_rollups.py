"""Daily rollups of shares and counted clicks (staff × publication × day, staff × month,
publication × day), built from the rows already stored, so that reports stop reading every
event.

Revision ID: 0008_share_rollups
Revises: 0007_channels_units
Created: 2026-12-01

The days are local days of Asia/Ho_Chi_Minh (no DST since 1975: a fixed +07:00), the zone
Loa ships with; `loa init` builds them again right after the upgrade when the configured
zone is another one. The fill is plain SQL over the raw rows, the same aggregate the
reports ran until now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_share_rollups"
down_revision = "0007_channels_units"
branch_labels = None
depends_on = None

_FIGURES = ("button", "self_report", "clicks")


def _figures() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in _FIGURES]


def upgrade() -> None:
    op.create_table(
        "rollupday",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        *_figures(),
        sa.PrimaryKeyConstraint("day", "staff_id", "publication_id"),
    )
    op.create_index("ix_rollupday_publication_day", "rollupday", ["publication_id", "day"], unique=False)
    op.create_table(
        "rollupstaffmonth",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        *_figures(),
        sa.PrimaryKeyConstraint("month", "staff_id"),
    )
    op.create_index(
        "ix_rollupstaffmonth_cover", "rollupstaffmonth", ["month", "staff_id", *_FIGURES], unique=False
    )
    op.create_table(
        "rolluppublicationday",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        *_figures(),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("day", "publication_id"),
    )
    op.create_index(
        "ix_rolluppublicationday_cover",
        "rolluppublicationday",
        ["day", "channel_id", "campaign_id", *_FIGURES],
        unique=False,
    )
    op.create_table(
        "rollupstate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"

    def day(column: str) -> str:
        if postgres:
            return f"CAST(timezone('Asia/Ho_Chi_Minh', timezone('UTC', {column})) AS date)"
        return f"date({column}, '+420 minutes')"

    op.execute(
        sa.text(
            "INSERT INTO rollupday (day, staff_id, publication_id, button, self_report, clicks) "
            "SELECT d, staff_id, publication_id, sum(b), sum(sr), sum(c) FROM ("
            f" SELECT {day('s.at')} AS d, l.staff_id, l.publication_id,"
            "  sum(CASE WHEN s.kind = 'button' THEN 1 ELSE 0 END) AS b,"
            "  sum(CASE WHEN s.kind = 'self_report' THEN 1 ELSE 0 END) AS sr, 0 AS c"
            "  FROM share AS s JOIN sharelink AS l ON l.id = s.share_link_id"
            f"  GROUP BY {day('s.at')}, l.staff_id, l.publication_id"
            " UNION ALL"
            f" SELECT {day('c.at')} AS d, l.staff_id, l.publication_id, 0, 0, count(*)"
            "  FROM click AS c JOIN sharelink AS l ON l.id = c.share_link_id WHERE c.counted = :yes"
            f"  GROUP BY {day('c.at')}, l.staff_id, l.publication_id"
            ") AS events GROUP BY d, staff_id, publication_id"
        ).bindparams(sa.bindparam("yes", value=True, type_=sa.Boolean()))
    )
    month = "CAST(date_trunc('month', day) AS date)" if postgres else "date(day, 'start of month')"
    op.execute(
        "INSERT INTO rollupstaffmonth (month, staff_id, button, self_report, clicks) "
        f"SELECT {month}, staff_id, sum(button), sum(self_report), sum(clicks) FROM rollupday "
        f"GROUP BY {month}, staff_id"
    )
    op.execute(
        "INSERT INTO rolluppublicationday (day, publication_id, channel_id, campaign_id, button, self_report, clicks) "
        "SELECT r.day, r.publication_id, p.channel_id, po.campaign_id, r.button, r.self_report, r.clicks FROM ("
        " SELECT day, publication_id, sum(button) AS button, sum(self_report) AS self_report, sum(clicks) AS clicks"
        " FROM rollupday GROUP BY day, publication_id"
        ") AS r JOIN publication AS p ON p.id = r.publication_id JOIN post AS po ON po.id = p.post_id"
    )
    op.execute(
        sa.text("INSERT INTO rollupstate (id, zone, built_at) VALUES (1, 'Asia/Ho_Chi_Minh', NULL)")
    )


def downgrade() -> None:
    op.drop_table("rollupstate")
    op.drop_index("ix_rolluppublicationday_cover", table_name="rolluppublicationday")
    op.drop_table("rolluppublicationday")
    op.drop_index("ix_rollupstaffmonth_cover", table_name="rollupstaffmonth")
    op.drop_table("rollupstaffmonth")
    op.drop_index("ix_rollupday_publication_day", table_name="rollupday")
    op.drop_table("rollupday")
