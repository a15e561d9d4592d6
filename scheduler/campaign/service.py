"""The current campaign, and who has put its frame or cover on their profile."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select

from scheduler.config import Settings
from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.models import Campaign, CampaignUpdate, Staff, Unit, utcnow
from scheduler.store import session_scope

KINDS = ("avatar", "cover")


@dataclass(frozen=True)
class KitCounts:
    mine: frozenset[str]  # the kinds this staff member has reported
    everyone: int  # staff who reported at least one kind
    unit: int  # … of this staff member's unit
    unit_staff: int  # active staff of the unit


def current_campaign(settings: Settings, engine: Engine, today: date | None = None) -> Campaign | None:
    """The campaign running today (the latest to start, if several); else the newest declared."""
    today = today or utcnow().astimezone(settings.tz).date()
    with session_scope(engine, read_only=True) as session:
        running = session.exec(
            select(Campaign)
            .where(
                or_(col(Campaign.starts_on).is_(None), col(Campaign.starts_on) <= today),
                or_(col(Campaign.ends_on).is_(None), col(Campaign.ends_on) >= today),
            )
            .order_by(col(Campaign.starts_on).desc(), col(Campaign.id).desc())
        ).first()
        return running


def record_update(engine: Engine, *, staff_id: int, campaign_id: int, kind: str, now: datetime | None = None) -> bool:
    """Count "Tôi đã cập nhật" once per staff member, campaign and kind; True when new."""
    if kind not in KINDS:
        raise InputError(msg("error.kit_kind", kind=kind), field="kind")
    try:
        with session_scope(engine) as session:
            exists = session.exec(
                select(CampaignUpdate.id).where(
                    CampaignUpdate.staff_id == staff_id,
                    CampaignUpdate.campaign_id == campaign_id,
                    CampaignUpdate.kind == kind,
                )
            ).first()
            if exists is not None:
                return False
            session.add(CampaignUpdate(staff_id=staff_id, campaign_id=campaign_id, kind=kind, at=now or utcnow()))
    except IntegrityError:
        return False  # the same tap twice at once: one row
    return True


def kit_counts(engine: Engine, *, staff: Staff, campaign_id: int) -> KitCounts:
    with session_scope(engine, read_only=True) as session:
        mine = frozenset(
            session.exec(
                select(CampaignUpdate.kind).where(
                    CampaignUpdate.staff_id == staff.id, CampaignUpdate.campaign_id == campaign_id
                )
            )
        )
        everyone = session.exec(
            select(func.count(func.distinct(CampaignUpdate.staff_id))).where(CampaignUpdate.campaign_id == campaign_id)
        ).one()
        unit = session.exec(
            select(func.count(func.distinct(CampaignUpdate.staff_id)))
            .join(Staff, col(Staff.id) == col(CampaignUpdate.staff_id))
            .where(CampaignUpdate.campaign_id == campaign_id, Staff.unit_id == staff.unit_id)
        ).one()
        unit_staff = session.exec(
            select(func.count()).select_from(Staff).where(Staff.unit_id == staff.unit_id, col(Staff.active).is_(True))
        ).one()
    return KitCounts(mine, int(everyone), int(unit), int(unit_staff))


def updates_by_unit(
    engine: Engine,
    campaign_id: int,
    *,
    until: datetime | None = None,
    unit_id: int | None = None,
    within: Collection[int] | None = None,
) -> list[dict[str, object]]:
    """Per unit: active staff, and those who put the avatar frame, the cover, either on (reports).

    ``until`` counts only what was reported before it (a month's report as of its last day);
    ``unit_id`` keeps that unit alone; ``within`` the units a unit-scoped account may see."""
    # Three grouped queries whatever the number of units (the monthly report runs this at
    # national size): head counts, then distinct staff per unit and kind, then per unit.
    with session_scope(engine, read_only=True) as session:
        heads = (
            select(Unit.id, Unit.name, func.count(col(Staff.id)))
            .join(Staff, col(Staff.unit_id) == col(Unit.id))
            .where(col(Staff.active).is_(True))
            .group_by(col(Unit.id), col(Unit.name))
        )
        done = (
            select(Staff.unit_id, CampaignUpdate.kind, func.count(func.distinct(CampaignUpdate.staff_id)))
            .join(Staff, col(Staff.id) == col(CampaignUpdate.staff_id))
            .where(CampaignUpdate.campaign_id == campaign_id, col(Staff.active).is_(True))
            .group_by(col(Staff.unit_id), col(CampaignUpdate.kind))
        )
        either = (
            select(Staff.unit_id, func.count(func.distinct(CampaignUpdate.staff_id)))
            .join(Staff, col(Staff.id) == col(CampaignUpdate.staff_id))
            .where(CampaignUpdate.campaign_id == campaign_id, col(Staff.active).is_(True))
            .group_by(col(Staff.unit_id))
        )
        if until is not None:
            done = done.where(col(CampaignUpdate.at) < until)
            either = either.where(col(CampaignUpdate.at) < until)
        if unit_id is not None:
            heads = heads.where(Unit.id == unit_id)
            done = done.where(Staff.unit_id == unit_id)
            either = either.where(Staff.unit_id == unit_id)
        if within is not None:
            heads = heads.where(col(Unit.id).in_(within))
            done = done.where(col(Staff.unit_id).in_(within))
            either = either.where(col(Staff.unit_id).in_(within))
        units = sorted(session.exec(heads).all(), key=lambda row: (row[1], row[0] or 0))
        by_kind: dict[tuple[int | None, str], int] = {(u, kind): int(n) for u, kind, n in session.exec(done)}
        by_unit: dict[int | None, int] = {u: int(n) for u, n in session.exec(either)}
    return [
        {
            "unit": name,
            "staff": int(staff),
            "avatar": by_kind.get((uid, "avatar"), 0),
            "cover": by_kind.get((uid, "cover"), 0),
            "any": by_unit.get(uid, 0),
        }
        for uid, name, staff in units
    ]


def updates_by_staff(engine: Engine, campaign_id: int) -> list[dict[str, object]]:
    """Per active staff member: their unit and whether they put the frame and the cover on."""
    with session_scope(engine, read_only=True) as session:
        rows = session.exec(
            select(Staff, Unit).join(Unit, col(Unit.id) == col(Staff.unit_id)).where(col(Staff.active).is_(True))
        ).all()
        done: dict[int, set[str]] = {}
        for staff_id, kind in session.exec(
            select(CampaignUpdate.staff_id, CampaignUpdate.kind).where(CampaignUpdate.campaign_id == campaign_id)
        ):
            done.setdefault(staff_id, set()).add(kind)
    result: list[dict[str, object]] = [
        {
            "staff": staff.full_name,
            "unit": unit.name,
            "avatar": int("avatar" in done.get(staff.id or 0, set())),
            "cover": int("cover" in done.get(staff.id or 0, set())),
            "any": int(bool(done.get(staff.id or 0))),
        }
        for staff, unit in rows
    ]
    result.sort(key=lambda r: (str(r["unit"]), str(r["staff"])))
    return result
