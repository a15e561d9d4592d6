"""Staff amplification: share pages, tracked links, shares (taps and offline reports).

What counts as a share or a click is decided in :mod:`scheduler.sharing.counting`.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from scheduler import audit
from scheduler.channels.registry import registry
from scheduler.config import ChannelSettings, Settings
from scheduler.errors import InputError, NotFound, StoreError
from scheduler.i18n import msg
from scheduler.models import (
    Click,
    Post,
    Publication,
    PublicationStatus,
    Share,
    ShareKind,
    ShareLink,
    Staff,
    Unit,
    ascii_url,
    utcnow,
)
from scheduler.posts.service import cover_url
from scheduler.sharing import rollups
from scheduler.sharing.crawlers import CrawlerDetector
from scheduler.sharing.exports import write_table
from scheduler.sharing.visitors import SharingKeys, load_keys
from scheduler.staff.importing import (
    clean_text,
    fold,
)
from scheduler.staff.roster import StaffRoster
from scheduler.store import session_scope

log = logging.getLogger("loa.sharing")

# 48 bits in 8 characters: short enough to paste, far too many to guess one that exists.
LINK_CODE_BYTES = 6
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,16}$")
MAX_NOTE = 500
# Share buttons and offline reports name a registered platform, or one of these.
# How long the part every share page has in common is reused: a post published, or a tap on
# another unit's page, shows on the others' pages at most this much later.
PAGE_SHARED_SECONDS = 2.0
COPY_BUTTON = "copy"
OTHER_PLATFORM = "other"


def share_platforms() -> tuple[str, ...]:
    """The share buttons: every platform with a share dialog, then copying the link."""
    return (*(name for name, cls in registry().items() if cls.share_dialog), COPY_BUTTON)


def report_platforms() -> tuple[str, ...]:
    """Where a share reported offline may have been made."""
    return (*registry(), OTHER_PLATFORM)


def safe_destination(url: str | None, hosts: Sequence[str]) -> str | None:
    """The stored permalink if it is an https URL on an allowed host, else None.

    The permalink comes from the platform, never from the request; this is defence in depth
    against a bad row (ASVS 3.7.2): no credentials, no odd characters, no other host. The
    answer is ASCII (:func:`scheduler.models.ascii_url`), fit for a ``Location`` header."""
    if not url or any(ch in url for ch in "\\\r\n\t ") or not url.isprintable():
        return None
    try:
        url = ascii_url(url)
        parts = urlsplit(url)
    except ValueError:
        return None
    if not url.isascii():
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or parts.username or parts.password or "@" in parts.netloc:
        return None
    if not any(host == allowed or host.endswith("." + allowed) for allowed in (h.lower() for h in hosts)):
        return None
    return url


# -- the service ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkTarget:
    """What a tracked link needs to answer a request, read once and cached."""

    share_link_id: int
    code: str
    staff_id: int
    publication_id: int
    destination: str | None  # a safe permalink of a published publication, else None
    title: str
    description: str
    image: str | None
    site_name: str


@dataclass(frozen=True)
class OfferedPost:
    post_id: int
    text: str
    cover: str | None
    published_at: datetime
    channels: list[str]
    # platform button → publication id whose tracked link it shares
    buttons: dict[str, int]


@cache
def _own_counts() -> Any:
    """One staff member's share taps and counted clicks since a time, as one prepared statement.

    Built once (the share page's per-visitor query): ORM statements built per page cost more
    than running them.
    """
    from sqlalchemy import Integer, bindparam
    from sqlalchemy import select as core_select

    share = Share.__table__  # type: ignore[attr-defined]
    link = ShareLink.__table__  # type: ignore[attr-defined]
    click = Click.__table__  # type: ignore[attr-defined]
    start = bindparam("start", type_=share.c.at.type)
    staff = bindparam("staff", type_=Integer())
    taps = (
        core_select(func.count())
        .select_from(share.join(link, link.c.id == share.c.share_link_id))
        .where(link.c.staff_id == staff, share.c.at >= start, share.c.kind == ShareKind.button)
        .scalar_subquery()
    )
    counted = (
        core_select(func.count())
        .select_from(click.join(link, link.c.id == click.c.share_link_id))
        .where(link.c.staff_id == staff, click.c.counted.is_(True), click.c.at >= start)
        .scalar_subquery()
    )
    return core_select(taps, counted)


@dataclass(frozen=True)
class _PageShared:
    """What every staff member's share page of the moment has in common."""

    month_start: datetime
    units: dict[int, str]
    per_unit: dict[int, int]  # the month's share taps per unit, for the ranks
    posts: list[OfferedPost]


@dataclass(frozen=True)
class SharePageData:
    staff_id: int
    full_name: str
    unit: str
    posts: list[OfferedPost]
    shares_this_month: int  # button taps ("lượt bấm chia sẻ"): what the page can vouch for
    clicks_this_month: int
    unit_rank: int
    unit_count: int
    days: int


class TapLimiter:
    """At most ``per_minute`` share-button taps per staff member in any 60 seconds, in this
    process. Called from the event loop only (one thread), so counting and checking are one
    step: concurrent taps cannot slip past it together."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._taps: dict[int, deque[float]] = {}

    def wait(self, staff_id: int) -> int:
        """0 and the tap is counted against the limit; else the seconds until one is allowed."""
        now = self.clock()
        taps = self._taps.get(staff_id)
        if taps is None:
            if len(self._taps) >= 10_000:  # bounded: the staff who tapped in the last minute matter
                self._taps = {k: v for k, v in self._taps.items() if v and now - v[-1] < 60}
            taps = self._taps[staff_id] = deque()
        while taps and now - taps[0] >= 60:
            taps.popleft()
        if len(taps) >= self.per_minute:
            return max(1, math.ceil(60 - (now - taps[0])))
        taps.append(now)
        return 0


def _new_code() -> str:
    return secrets.token_urlsafe(LINK_CODE_BYTES)


def month_start(settings: Settings, now: datetime) -> datetime:
    local = now.astimezone(settings.tz)
    return datetime(local.year, local.month, 1, tzinfo=settings.tz).astimezone(UTC)


def _first_line(text: str, limit: int) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _channel_name(settings: Settings, channel_id: str) -> str:
    for channel in settings.channels:
        if channel.id == channel_id:
            return channel.name
    return channel_id


def _summary(text: str, limit: int) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class SharingService(StaffRoster):
    """Everything behind `loa staff …` (the roster it extends), `loa share …`, the share page
    and tracked links."""

    def __init__(self, settings: Settings, engine: Engine, keys: SharingKeys | None = None) -> None:
        super().__init__(settings, engine)
        self._keys = keys
        self.is_crawler = CrawlerDetector.from_settings(settings)
        self._page_guard = threading.Lock()
        self._page_cache: tuple[float, _PageShared] | None = None

    @property
    def keys(self) -> SharingKeys:
        if self._keys is None:
            self._keys = load_keys(self.settings)
        return self._keys

    # -- addresses ----------------------------------------------------------------------

    def link_url(self, code: str) -> str:
        return f"{self.settings.public_url}/l/{code}"

    def cover_for(self, publication: Publication) -> str | None:
        """The cover shown with a publication (and its og:image): the one rendered for it when
        the post was queued, else its channel's default cover, else any channel's."""
        channels: list[ChannelSettings] = [c for c in self.settings.channels if c.id == publication.channel_id]
        channels += [c for c in self.settings.channels if c.id != publication.channel_id]
        for index, channel in enumerate(channels):
            url = cover_url(self.settings, channel, publication.cover_file if index == 0 else None)
            if url:
                return url
        return None

    # -- links --------------------------------------------------------------------------

    def link_for(self, session: Session, *, publication_id: int, staff_id: int) -> ShareLink:
        """The tracked link of a staff member × publication, made on first use."""
        query = select(ShareLink).where(
            col(ShareLink.publication_id) == publication_id, col(ShareLink.staff_id) == staff_id
        )
        link = session.exec(query).first()
        if link is not None:
            return link
        for _ in range(5):
            candidate = ShareLink(
                code=_new_code(), publication_id=publication_id, staff_id=staff_id, created_at=utcnow()
            )
            try:
                with session.begin_nested():
                    session.add(candidate)
            except IntegrityError:
                # Either the same pair was made meanwhile (take it) or the code collided (retry).
                link = session.exec(query).first()
                if link is not None:
                    return link
                continue
            return candidate
        raise StoreError(msg("error.link_code_collision"), hint=msg("hint.try_again"))

    def _post_publications(self, session: Session, post_id: int, channel: str | None) -> list[Publication]:
        if session.get(Post, post_id) is None:
            raise NotFound(msg("error.no_post", post=post_id), hint=msg("hint.see_post_list"), field="post")
        query = select(Publication).where(col(Publication.post_id) == post_id).order_by(col(Publication.id))
        publications = [
            p for p in session.exec(query) if p.status not in {PublicationStatus.cancelled, PublicationStatus.draft}
        ]
        if channel is not None:
            self.settings.channel(channel)  # an unknown id is a NotFound naming the known ones
            publications = [p for p in publications if p.channel_id == channel]
            if not publications:
                raise NotFound(msg("error.no_publication_on_channel", post=post_id, channel=channel), field="channel")
        if not publications:
            raise InputError(
                msg("error.nothing_to_share", post=post_id), hint=msg("hint.post_was_cancelled"), field="post"
            )
        return publications

    def links(self, *, post_id: int, staff_ref: str, channel: str | None = None) -> list[dict[str, Any]]:
        """`loa share link`: the staff member's tracked link(s) to a post (one per channel)."""
        with session_scope(self.engine) as session:
            staff = self.find_staff(session, staff_ref)
            assert staff.id is not None
            out = []
            for publication in self._post_publications(session, post_id, channel):
                assert publication.id is not None
                link = self.link_for(session, publication_id=publication.id, staff_id=staff.id)
                out.append(
                    {
                        "channel": publication.channel_id,
                        "publication": publication.id,
                        "status": publication.status.value,
                        "code": link.code,
                        "url": self.link_url(link.code),
                    }
                )
        return out

    def export_links(
        self,
        *,
        post_id: int,
        path: Path,
        channel: str | None = None,
        actor: str = "cli",
        unit_code: str | None = None,
        within: frozenset[int] | None = None,
    ) -> dict[str, Any]:
        """Every active staff member's tracked link(s) to a post (of one unit's code, if given;
        of the units ``within``, for a unit's account)."""
        rows: list[list[str]] = []
        with session_scope(self.engine) as session:
            publications = self._post_publications(session, post_id, channel)
            query = (
                select(Staff, Unit).join(Unit, col(Unit.id) == col(Staff.unit_id)).where(col(Staff.active).is_(True))
            )
            if unit_code is not None:
                query = query.where(Unit.code == unit_code)
            if within is not None:
                query = query.where(col(Staff.unit_id).in_(within))
            staff_rows = list(session.exec(query))
            staff_rows.sort(key=lambda pair: (fold(pair[1].name).lower(), fold(pair[0].full_name).lower()))
            for staff, unit in staff_rows:
                for publication in publications:
                    assert staff.id is not None and publication.id is not None
                    link = self.link_for(session, publication_id=publication.id, staff_id=staff.id)
                    rows.append(
                        [
                            staff.full_name,
                            unit.name,
                            staff.phone or "",
                            staff.email or "",
                            publication.channel_id,
                            self.link_url(link.code),
                            self.share_url(staff.share_token),
                        ]
                    )
            header = ["ho_ten", "don_vi", "so_dien_thoai", "email", "kenh", "lien_ket", "trang_chia_se"]
            path.parent.mkdir(parents=True, exist_ok=True)
            write_table(path, header, rows)
            audit.record(
                session,
                actor=actor,
                action="share.export",
                object=f"post:{post_id}",
                details={"file": str(path), "rows": len(rows)},
            )
        return {"file": str(path), "rows": len(rows), "staff": len(staff_rows), "publications": len(publications)}

    # -- shares -------------------------------------------------------------------------

    def record_offline(
        self,
        *,
        post_id: int,
        staff_ref: str,
        platform: str,
        note: str | None = None,
        channel: str | None = None,
        actor: str = "cli",
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """`loa share record`: a share reported by phone or seen in a Zalo group (kind self_report)."""
        known = report_platforms()
        if platform not in known:
            raise InputError(
                msg("error.unknown_platform", platform=platform),
                hint=msg("hint.one_of", choices=", ".join(known)),
                field="platform",
            )
        note = clean_text(note) if note else None
        if note and len(note) > MAX_NOTE:
            raise InputError(msg("error.note_too_long", limit=MAX_NOTE), field="note")
        with session_scope(self.engine) as session:
            staff = self.find_staff(session, staff_ref)
            if not staff.active:
                raise InputError(
                    msg("error.staff_deactivated", name=staff.full_name, id=staff.id),
                    hint=msg("hint.staff_activate_first", id=staff.id),
                    field="staff",
                )
            publications = [
                p for p in self._post_publications(session, post_id, channel) if p.status == PublicationStatus.published
            ]
            if not publications:
                raise InputError(
                    msg("error.post_not_published", post=post_id),
                    hint=msg("hint.record_published_shares"),
                    field="post",
                )
            chosen = next((p for p in publications if p.platform == platform), publications[0])
            assert chosen.id is not None and staff.id is not None
            link = self.link_for(session, publication_id=chosen.id, staff_id=staff.id)
            assert link.id is not None
            share = Share(
                share_link_id=link.id, platform=platform, kind=ShareKind.self_report, at=at or utcnow(), note=note
            )
            session.add(share)
            session.flush()
            rollups.add_share(session, share.at, staff.id, chosen.id, ShareKind.self_report.value)
            audit.record(
                session,
                actor=actor,
                action="share.record",
                object=f"share:{share.id}",
                details={"staff": staff.id, "publication": chosen.id, "platform": platform},
            )
            return {
                "id": share.id,
                "staff": staff.id,
                "publication": chosen.id,
                "channel": chosen.channel_id,
                "platform": platform,
                "kind": ShareKind.self_report.value,
                "note": note,
                "at": share.at.isoformat(),
            }

    def record_tap(self, *, staff_id: int, publication_id: int, platform: str) -> tuple[str, bool]:
        """A tap on a share button: (the tracked link's code, whether a new share was stored).

        One button share per staff member × publication × button within ``sharing.dedupe_hours``:
        a tap says the dialog was opened, not that anything was shared, so tapping again only
        opens it again. Refuses (NotFound) a publication that is not published on a configured
        channel."""
        if platform not in share_platforms():
            raise InputError(msg("error.unknown_platform", platform=platform), field="platform")
        channels = {c.id for c in self.settings.channels}
        with session_scope(self.engine) as session:
            publication = session.get(Publication, publication_id)
            if (
                publication is None
                or publication.status != PublicationStatus.published
                or publication.channel_id not in channels
            ):
                raise NotFound(msg("error.no_published_post"), field="publication")
            link = self.link_for(session, publication_id=publication_id, staff_id=staff_id)
            assert link.id is not None
            # The link's row locked (PostgreSQL; SQLite's writers are serialised already), so two
            # taps at once cannot both find no share and both store one.
            session.exec(select(ShareLink.id).where(col(ShareLink.id) == link.id).with_for_update()).one()
            now = utcnow()
            window = timedelta(hours=self.settings.sharing.dedupe_hours)
            recent = session.exec(
                select(Share.id).where(
                    col(Share.share_link_id) == link.id,
                    col(Share.platform) == platform,
                    col(Share.kind) == ShareKind.button,
                    col(Share.at) > now - window,
                )
            ).first()
            if recent is not None:
                return link.code, False
            session.add(Share(share_link_id=link.id, platform=platform, kind=ShareKind.button, at=now))
            rollups.add_share(session, now, staff_id, publication_id, ShareKind.button.value)
            return link.code, True

    # -- the share page -----------------------------------------------------------------

    def staff_by_token(self, token: str) -> Staff | None:
        """The active staff member a share token belongs to; None for anything else."""
        if not TOKEN_PATTERN.match(token):
            return None
        with session_scope(self.engine, read_only=True) as session:
            staff = session.exec(select(Staff).where(col(Staff.share_token) == token)).first()
        if staff is None or not staff.active or not hmac.compare_digest(staff.share_token, token):
            return None
        return staff

    def share_page(self, staff: Staff, *, now: datetime | None = None) -> SharePageData:
        """What one staff member's share page shows.

        The part every page of the moment shares (the posts on offer, the month's shares per
        unit, the units) is read once per ``PAGE_SHARED_SECONDS`` when no ``now`` is given:
        when a unit gets the link at once, 500 pages cost a few reads of it, and each page only
        its owner's two counts.
        """
        fixed = now is not None
        now = now or utcnow()
        days = self.settings.sharing.page_days
        assert staff.id is not None
        shared = self._page_shared(now) if fixed else self._page_shared_recent(now)
        with session_scope(self.engine, read_only=True) as session:
            mine, clicks = session.execute(_own_counts(), {"staff": staff.id, "start": shared.month_start}).one()
        own = shared.per_unit.get(staff.unit_id, 0)
        rank = 1 + sum(1 for count in shared.per_unit.values() if count > own)
        return SharePageData(
            staff_id=staff.id,
            full_name=staff.full_name,
            unit=shared.units.get(staff.unit_id, ""),
            posts=shared.posts,
            shares_this_month=int(mine),
            clicks_this_month=int(clicks),
            unit_rank=rank,
            unit_count=max(len(shared.units), rank),
            days=days,
        )

    def _page_shared_recent(self, now: datetime) -> _PageShared:
        with self._page_guard:
            cached = self._page_cache
            if cached is not None and time.monotonic() - cached[0] < PAGE_SHARED_SECONDS:
                return cached[1]
            shared = self._page_shared(now)
            self._page_cache = (time.monotonic(), shared)
            return shared

    def _page_shared(self, now: datetime) -> _PageShared:
        days = self.settings.sharing.page_days
        channels = {c.id: c for c in self.settings.channels}
        start = month_start(self.settings, now)
        with session_scope(self.engine, read_only=True) as session:
            named = session.exec(select(col(Unit.id), col(Unit.name))).all()
            units = {int(unit_id or 0): name for unit_id, name in named}
            publications = list(
                session.exec(
                    select(Publication)
                    .where(
                        col(Publication.status) == PublicationStatus.published,
                        col(Publication.published_at) >= now - timedelta(days=days),
                        col(Publication.channel_id).in_(list(channels)),
                    )
                    .order_by(col(Publication.published_at).desc(), col(Publication.id))
                    .limit(200)
                )
            )
            per_unit = dict(
                session.exec(
                    select(col(Staff.unit_id), func.count())
                    .select_from(Share)
                    .join(ShareLink, col(ShareLink.id) == col(Share.share_link_id))
                    .join(Staff, col(Staff.id) == col(ShareLink.staff_id))
                    .where(col(Share.at) >= start)
                    .group_by(col(Staff.unit_id))
                ).all()
            )
        order = list(registry())
        buttons_offered = share_platforms()
        grouped: dict[int, list[Publication]] = {}
        for publication in publications:
            grouped.setdefault(publication.post_id, []).append(publication)
        posts: list[OfferedPost] = []
        for post_id, group in grouped.items():
            by_platform = {p.platform: p for p in reversed(group)}
            # The post as the first registered platform published it (the full text, no title).
            text_source = next((by_platform[name] for name in order if name in by_platform), group[0])
            buttons: dict[str, int] = {}
            for platform in buttons_offered:
                chosen = by_platform.get(platform) or text_source
                assert chosen.id is not None
                buttons[platform] = chosen.id
            posts.append(
                OfferedPost(
                    post_id=post_id,
                    text=text_source.text,
                    cover=self.cover_for(text_source),
                    published_at=max(p.published_at or now for p in group),
                    channels=[channels[p.channel_id].name for p in group],
                    buttons=buttons,
                )
            )
        return _PageShared(month_start=start, units=units, per_unit=per_unit, posts=posts[:30])

    # -- tracked links ------------------------------------------------------------------

    def resolve(self, code: str) -> LinkTarget | None:
        """What /l/{code} needs; None for a code that does not exist."""
        if not CODE_PATTERN.match(code):
            return None
        with session_scope(self.engine, read_only=True) as session:
            found = session.exec(
                select(ShareLink, Publication)
                .join(Publication, col(Publication.id) == col(ShareLink.publication_id))
                .where(col(ShareLink.code) == code)
            ).first()
            if found is None:
                return None
            link, publication = found
            # A Facebook post has no title of its own; its Zalo twin's title previews better.
            titled = (
                publication.title
                or session.exec(
                    select(Publication.title).where(
                        col(Publication.post_id) == publication.post_id, col(Publication.title).is_not(None)
                    )
                ).first()
            )
        assert link.id is not None
        published = publication.status == PublicationStatus.published
        hosts = self.settings.sharing.redirect_hosts
        destination = safe_destination(publication.permalink, hosts) if published else None
        if published and destination is None:
            log.warning("publication %s has no permalink to redirect to: %r", publication.id, publication.permalink)
        return LinkTarget(
            share_link_id=link.id,
            code=link.code,
            staff_id=link.staff_id,
            publication_id=publication.id or 0,
            destination=destination,
            title=titled or _first_line(publication.text, 90),
            description=publication.description or _summary(publication.text, 200),
            image=self.cover_for(publication),
            site_name=_channel_name(self.settings, publication.channel_id),
        )
