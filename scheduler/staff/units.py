"""The unit tree (BHXH tỉnh → BHXH cơ sở …) and its history: renames and merges from a date.

A renamed unit keeps its id and code, its old name kept as a :class:`UnitChange`; a merged
unit stays in the table (marked ``merged_into``) and its staff, channels, accounts and child
units move to the unit it joined. So a staff file written before the change — with the old
``don_vi`` — lands in today's unit, and a report over a period crossing the change counts
each share once, under today's unit (docs/vietnam.md, the 2025 reorganisation).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from scheduler.audit import record
from scheduler.errors import InputError, NotFound
from scheduler.i18n import msg
from scheduler.models import ChannelState, Staff, Unit, UnitChange, User, utcnow
from scheduler.staff.importing import unit_key
from scheduler.store import session_scope

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MAX_NAME = 200


def current(session: Session, unit: Unit) -> Unit:
    """The unit a merged unit lives on in (itself when never merged)."""
    seen: set[int] = set()
    while unit.merged_into_id is not None and unit.id not in seen:
        seen.add(unit.id or 0)
        nxt = session.get(Unit, unit.merged_into_id)
        if nxt is None:
            break
        unit = nxt
    return unit


def aliases(session: Session) -> dict[str, Unit]:
    """Every name a unit has had (and every merged unit's name) → the unit it is today."""
    units = list(session.exec(select(Unit).order_by(col(Unit.id))))
    by_id = {u.id: u for u in units}
    found: dict[str, Unit] = {}
    for unit in units:
        if unit.merged_into_id is None:
            found.setdefault(unit_key(unit.name), unit)
    for unit in units:
        if unit.merged_into_id is not None:
            found.setdefault(unit_key(unit.name), current(session, unit))
    for change in session.exec(select(UnitChange).order_by(col(UnitChange.id))):
        owner = by_id.get(change.unit_id)
        if owner is not None:
            found.setdefault(unit_key(change.old_name), current(session, owner))
    return found


def _by_code(session: Session, code: str) -> Unit:
    unit = session.exec(select(Unit).where(Unit.code == code.strip())).first()
    if unit is None:
        known = ", ".join(u.code for u in session.exec(select(Unit).order_by(col(Unit.code))))
        raise NotFound(
            msg("error.unknown_unit", unit=code), hint=msg("hint.known_units", known=known or "—"), field="unit"
        )
    return unit


def _name(name: str) -> str:
    clean = unicodedata.normalize("NFC", " ".join(name.split()))
    if not clean or len(clean) > MAX_NAME:
        raise InputError(msg("error.unit_name", limit=MAX_NAME), field="name")
    return clean


@dataclass
class UnitRow:
    code: str
    name: str
    parent: str | None
    merged_into: str | None
    merged_on: date | None
    staff: int
    channels: int
    history: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "parent": self.parent,
            "merged_into": self.merged_into,
            "merged_on": self.merged_on.isoformat() if self.merged_on else None,
            "staff": self.staff,
            "channels": self.channels,
            "history": self.history,
        }


def list_units(engine: Engine) -> list[UnitRow]:
    with session_scope(engine, read_only=True) as session:
        units = list(session.exec(select(Unit).order_by(col(Unit.code))))
        codes = {u.id: u.code for u in units}
        staff: dict[int, int] = {}
        for s in session.exec(select(Staff).where(col(Staff.active))):
            staff[s.unit_id] = staff.get(s.unit_id, 0) + 1
        channels: dict[int, int] = {}
        for c in session.exec(select(ChannelState).where(col(ChannelState.archived_at).is_(None))):
            if c.unit_id is not None:
                channels[c.unit_id] = channels.get(c.unit_id, 0) + 1
        history: dict[int, list[dict[str, Any]]] = {}
        for change in session.exec(select(UnitChange).order_by(col(UnitChange.effective_from), col(UnitChange.id))):
            history.setdefault(change.unit_id, []).append(
                {
                    "kind": change.kind,
                    "from": change.effective_from.isoformat(),
                    "old_name": change.old_name,
                    "new_name": change.new_name,
                    "into": codes.get(change.into_id) if change.into_id else None,
                }
            )
        return [
            UnitRow(
                code=u.code,
                name=u.name,
                parent=codes.get(u.parent_id) if u.parent_id else None,
                merged_into=codes.get(u.merged_into_id) if u.merged_into_id else None,
                merged_on=u.merged_on,
                staff=staff.get(u.id or 0, 0),
                channels=channels.get(u.id or 0, 0),
                history=history.get(u.id or 0, []),
            )
            for u in units
        ]


def add_unit(engine: Engine, code: str, name: str, *, parent: str | None = None, actor: str) -> None:
    code = code.strip()
    if not CODE_PATTERN.match(code):
        raise InputError(msg("error.unit_code", code=code), hint=msg("hint.unit_code"), field="code")
    clean = _name(name)
    with session_scope(engine) as session:
        if session.exec(select(Unit).where(Unit.code == code)).first() is not None:
            raise InputError(msg("error.unit_exists", unit=code), field="code")
        parent_id = current(session, _by_code(session, parent)).id if parent else None
        session.add(Unit(code=code, name=clean, parent_id=parent_id))
        record(
            session, actor=actor, action="unit.add", object=f"unit:{code}", details={"name": clean, "parent": parent}
        )


def rename_unit(engine: Engine, code: str, name: str, *, effective: date, actor: str) -> None:
    clean = _name(name)
    with session_scope(engine) as session:
        unit = _by_code(session, code)
        if unit.merged_into_id is not None:
            raise InputError(msg("error.unit_merged", unit=code), field="unit")
        old = unit.name
        if old == clean:
            return
        session.add(
            UnitChange(
                unit_id=unit.id or 0, kind="rename", old_name=old, new_name=clean, effective_from=effective,
                at=utcnow(), actor=actor,
            )
        )  # fmt: skip
        unit.name = clean
        session.add(unit)
        record(session, actor=actor, action="unit.rename", object=f"unit:{code}",
               details={"from": old, "to": clean, "since": effective.isoformat()})  # fmt: skip


def merge_unit(engine: Engine, code: str, into: str, *, effective: date, actor: str) -> dict[str, int]:
    """Merge ``code`` into ``into``: its people, channels, accounts and child units move."""
    with session_scope(engine) as session:
        unit = _by_code(session, code)
        target = current(session, _by_code(session, into))
        if unit.merged_into_id is not None:
            raise InputError(msg("error.unit_merged", unit=code), field="unit")
        if target.id == unit.id:
            raise InputError(msg("error.unit_into_itself", unit=code), field="into")
        ancestor: Unit | None = target
        while ancestor is not None and ancestor.parent_id is not None:
            if ancestor.parent_id == unit.id:
                raise InputError(msg("error.unit_into_child", unit=code, into=into), field="into")
            ancestor = session.get(Unit, ancestor.parent_id)
        assert unit.id is not None and target.id is not None
        moved = {"staff": 0, "channels": 0, "users": 0, "units": 0}
        for person in session.exec(select(Staff).where(Staff.unit_id == unit.id)):
            person.unit_id = target.id
            session.add(person)
            moved["staff"] += 1
        for channel in session.exec(select(ChannelState).where(ChannelState.unit_id == unit.id)):
            channel.unit_id = target.id
            session.add(channel)
            moved["channels"] += 1
        for account in session.exec(select(User).where(User.unit_id == unit.id)):
            account.unit_id = target.id
            session.add(account)
            moved["users"] += 1
        for child in session.exec(select(Unit).where(Unit.parent_id == unit.id)):
            child.parent_id = target.id
            session.add(child)
            moved["units"] += 1
        session.add(
            UnitChange(
                unit_id=unit.id, kind="merge", old_name=unit.name, into_id=target.id, effective_from=effective,
                at=utcnow(), actor=actor,
            )
        )  # fmt: skip
        unit.merged_into_id = target.id
        unit.merged_on = effective
        session.add(unit)
        record(session, actor=actor, action="unit.merge", object=f"unit:{code}",
               details={"into": target.code, "since": effective.isoformat(), **moved})  # fmt: skip
    return moved


def units_below(session: Session, unit_id: int) -> set[int]:
    """A unit and every unit under it (the scope of an account of that unit)."""
    found = {unit_id}
    frontier = [unit_id]
    while frontier:
        children = session.exec(select(Unit.id).where(col(Unit.parent_id).in_(frontier))).all()
        frontier = [c for c in children if c is not None and c not in found]
        found.update(frontier)
    return found
