"""The staff loop: what an admin sends each unit for a published post.

For every unit with active staff: a text ready to paste into the unit's Zalo group (the
post's first lines, how to share, each staff member named with their own share page), a
printable sheet of QR codes of those share pages, and the per-staff link table (CSV/XLSX,
as `loa share export` writes it). The units are the staff units Loa has kept since 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import segno
from sqlalchemy import Engine
from sqlmodel import col, select

from scheduler.config import Settings
from scheduler.errors import InputError, NotFound
from scheduler.i18n import msg, translate
from scheduler.models import Post, Publication, PublicationStatus, Staff, Unit
from scheduler.staff.importing import fold
from scheduler.store import session_scope

FIRST_LINES_CHARS = 300


@dataclass
class StaffEntry:
    full_name: str
    share_url: str


@dataclass
class UnitMessage:
    code: str
    name: str
    staff: list[StaffEntry] = field(default_factory=list)
    text: str = ""


def first_lines(text: str, limit: int = FIRST_LINES_CHARS) -> str:
    """The post's opening, whole lines while they fit, then cut on a word."""
    kept: list[str] = []
    for line in (text or "").strip().splitlines():
        if sum(len(k) + 1 for k in kept) + len(line) > limit:
            if not kept:
                kept.append(line[: limit - 1].rsplit(" ", 1)[0] + "…")
            else:
                kept.append("…")
            break
        kept.append(line)
    return "\n".join(kept).strip()


def unit_messages(settings: Settings, engine: Engine, post_id: int, *, lang: str = "vi") -> list[UnitMessage]:
    """One message per unit with active staff, for a post that is published somewhere."""
    base = settings.public_url
    with session_scope(engine, read_only=True) as session:
        post = session.get(Post, post_id)
        if post is None:
            raise NotFound(msg("error.no_post", post=post_id), hint=msg("hint.see_post_list"))
        published = session.exec(
            select(Publication).where(Publication.post_id == post_id, Publication.status == PublicationStatus.published)
        ).all()
        if not published:
            raise InputError(msg("error.staff_loop_unpublished", post=post_id), hint=msg("hint.staff_loop_published"))
        rows = session.exec(
            select(Staff, Unit).join(Unit, col(Unit.id) == col(Staff.unit_id)).where(col(Staff.active).is_(True))
        ).all()
        units: dict[str, UnitMessage] = {}
        for staff, unit_row in rows:
            entry = units.setdefault(unit_row.code, UnitMessage(code=unit_row.code, name=unit_row.name))
            entry.staff.append(StaffEntry(staff.full_name, f"{base}/s/{staff.share_token}"))
        opening = first_lines(post.text)
    result = sorted(units.values(), key=lambda u: fold(u.name).lower())
    for message in result:
        message.staff.sort(key=lambda s: fold(s.full_name).lower())
        lines = [
            translate(lang, "staff_loop.heading", unit=message.name),
            "",
            opening,
            "",
            translate(lang, "staff_loop.how"),
            *(f"• {s.full_name}: {s.share_url}" for s in message.staff),
            "",
            translate(lang, "staff_loop.thanks"),
        ]
        message.text = "\n".join(lines)
    return result


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as inline SVG (medium error correction: survives a smudged print)."""
    code = segno.make(url, error="m", micro=False)
    svg: str = code.svg_inline(scale=4, border=2, omitsize=True)
    return svg
