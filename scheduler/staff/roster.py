"""The staff roster: import (all rows or none), list, find, deactivate and activate — audited."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from scheduler import audit
from scheduler.config import Settings
from scheduler.errors import NotFound
from scheduler.i18n import msg
from scheduler.models import Staff, Unit, utcnow
from scheduler.posts.tables import SheetBounds
from scheduler.staff.importing import (
    ImportProblems,
    ImportSummary,
    StaffRow,
    fold,
    free_code,
    normalise_phone,
    read_staff_file,
    unit_code,
    unit_key,
    unit_lookalike,
)
from scheduler.staff.units import aliases
from scheduler.store import session_scope

# 192 bits: the share token is the only key to a staff member's page.
SHARE_TOKEN_BYTES = 24


def new_share_token() -> str:
    return secrets.token_urlsafe(SHARE_TOKEN_BYTES)


class StaffRoster:
    """Units and staff members, as `loa staff …` and the console's staff page change them."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    def share_url(self, token: str) -> str:
        """A staff member's own share page."""
        return f"{self.settings.public_url}/s/{token}"

    def import_staff(self, path: Path, *, actor: str = "cli") -> ImportSummary:
        rows, label = read_staff_file(path, SheetBounds.from_limits(self.settings.limits))
        problems = ImportProblems(path.name)
        created = updated = unchanged = 0
        new_units: list[str] = []
        similar: list[tuple[str, str]] = []
        with session_scope(self.engine) as session:
            existing_units = list(session.exec(select(Unit).order_by(col(Unit.id))))
            # Matched on the name itself (NFC, case folded), never on a name without accents.
            # A name the unit had before a rename or merge finds the unit it is today.
            units: dict[str, Unit] = aliases(session)
            codes = {u.code for u in existing_units}
            staff = list(session.exec(select(Staff)))
            by_email = {s.email: s for s in staff if s.email}
            by_phone = {s.phone: s for s in staff if s.phone}
            matched: dict[int, int] = {}
            plan: list[tuple[StaffRow, Staff | None]] = []
            for row in rows:
                existing = (by_email.get(row.email) if row.email else None) or (
                    by_phone.get(row.phone) if row.phone else None
                )
                if existing is not None and existing.id is not None:
                    if existing.id in matched:
                        problems.add(row.line, label["email"], msg("error.staff_same_as_row", row=matched[existing.id]))
                    matched[existing.id] = row.line
                owner = by_email.get(row.email) if row.email else None
                if owner is not None and owner is not existing:
                    problems.add(row.line, label["email"], msg("error.staff_belongs_to", value=row.email, id=owner.id))
                owner = by_phone.get(row.phone) if row.phone else None
                if owner is not None and owner is not existing:
                    problems.add(row.line, label["phone"], msg("error.staff_belongs_to", value=row.phone, id=owner.id))
                plan.append((row, existing))
            problems.raise_if_any()
            now = utcnow()
            for row, existing in plan:
                key = unit_key(row.unit)
                unit = units.get(key)
                if unit is None:
                    alike = unit_lookalike(row.unit)
                    twin = next((u for u in units.values() if unit_lookalike(u.name) == alike), None)
                    if twin is not None:
                        similar.append((row.unit, twin.name))
                    unit = Unit(code=free_code(unit_code(row.unit), codes), name=row.unit)
                    session.add(unit)
                    session.flush()
                    units[key] = unit
                    codes.add(unit.code)
                    new_units.append(row.unit)
                assert unit.id is not None
                if existing is None:
                    session.add(
                        Staff(
                            unit_id=unit.id,
                            full_name=row.full_name,
                            phone=row.phone,
                            email=row.email,
                            share_token=new_share_token(),
                            created_at=now,
                        )
                    )
                    created += 1
                    continue
                before = (existing.full_name, existing.unit_id, existing.phone, existing.email)
                existing.full_name = row.full_name
                existing.unit_id = unit.id
                existing.phone = row.phone or existing.phone
                existing.email = row.email or existing.email
                if before == (existing.full_name, existing.unit_id, existing.phone, existing.email):
                    unchanged += 1
                else:
                    updated += 1
                    session.add(existing)
            audit.record(
                session,
                actor=actor,
                action="staff.import",
                object=path.name,
                details={"created": created, "updated": updated, "unchanged": unchanged, "units_created": new_units},
            )
        return ImportSummary(
            created=created, updated=updated, unchanged=unchanged, units_created=new_units, similar_units=similar
        )

    def outside(self, path: Path, within: frozenset[int]) -> list[str]:
        """What a staff file would touch beyond the units ``within`` (`loa --as`): new or other
        units by name, and people of other units it would move, by email or phone."""
        rows, _ = read_staff_file(path, SheetBounds.from_limits(self.settings.limits))
        found: list[str] = []
        with session_scope(self.engine, read_only=True) as session:
            units = aliases(session)
            staff = list(session.exec(select(Staff)))
            by_email = {s.email: s for s in staff if s.email}
            by_phone = {s.phone: s for s in staff if s.phone}
            for row in rows:
                unit = units.get(unit_key(row.unit))
                if unit is None or unit.id not in within:
                    found.append(row.unit)
                existing = (by_email.get(row.email) if row.email else None) or (
                    by_phone.get(row.phone) if row.phone else None
                )
                if existing is not None and existing.unit_id not in within:
                    found.append(row.email or row.phone or row.full_name)
        return sorted(set(found))

    def unit_of(self, ref: str) -> int:
        """The unit of the staff member STAFF (an id, an email or a phone)."""
        with session_scope(self.engine, read_only=True) as session:
            return self.find_staff(session, ref).unit_id

    def list_staff(
        self, *, include_inactive: bool = False, within: frozenset[int] | None = None
    ) -> list[dict[str, Any]]:
        with session_scope(self.engine, read_only=True) as session:
            query = select(Staff, Unit).join(Unit, col(Unit.id) == col(Staff.unit_id))
            if not include_inactive:
                query = query.where(col(Staff.active).is_(True))
            if within is not None:
                query = query.where(col(Staff.unit_id).in_(within))
            rows = list(session.exec(query))
        rows.sort(key=lambda pair: (fold(pair[1].name).lower(), fold(pair[0].full_name).lower(), pair[0].id or 0))
        return [
            {
                "id": s.id,
                "full_name": s.full_name,
                "unit": u.name,
                "phone": s.phone,
                "email": s.email,
                "share_url": self.share_url(s.share_token),
                "active": s.active,
            }
            for s, u in rows
        ]

    def find_staff(self, session: Session, ref: str) -> Staff:
        """STAFF as given on the command line: an id, an email or a phone number."""
        ref = ref.strip()
        found: Staff | None = None
        if ref.isdigit() and len(ref) < 9:
            found = session.get(Staff, int(ref))
        elif "@" in ref:
            found = session.exec(select(Staff).where(col(Staff.email) == ref.lower())).first()
        else:
            phone = normalise_phone(ref)
            if phone:
                found = session.exec(select(Staff).where(col(Staff.phone) == phone)).first()
        if found is None:
            raise NotFound(
                msg("error.no_staff_member", staff=ref), hint=msg("hint.staff_id_email_phone"), field="staff"
            )
        return found

    def set_active(self, ref: str, active: bool, *, actor: str = "cli") -> dict[str, Any]:
        with session_scope(self.engine) as session:
            staff = self.find_staff(session, ref)
            if staff.active != active:
                staff.active = active
                staff.deactivated_at = None if active else utcnow()
                session.add(staff)
                audit.record(
                    session,
                    actor=actor,
                    action="staff.activate" if active else "staff.deactivate",
                    object=f"staff:{staff.id}",
                )
            return {"id": staff.id, "full_name": staff.full_name, "active": staff.active}
