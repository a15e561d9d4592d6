"""Queueing posts and reading them back: the service behind `loa post …` and the console.

Everything a post needs is checked before anything is written; a post and all its
publications are stored in one transaction, so bad input never leaves half a row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from scheduler.alerts.events import publication_alert
from scheduler.audit import record
from scheduler.channels.base import Publisher
from scheduler.channels.registry import publisher_class, titled_platform
from scheduler.config import ChannelSettings, Settings
from scheduler.errors import InputError, NotFound
from scheduler.i18n import Message, Number, msg, process_lang, render_stored, stored
from scheduler.models import (
    Campaign,
    MediaItem,
    MediaKind,
    MetricSnapshot,
    Post,
    PostMedia,
    Publication,
    PublicationStatus,
    utcnow,
)
from scheduler.posts.requests import (
    PlatformText,
    PostRequest,
    PreparedPost,
    check_time,
    parse_when,
    refuse_unused_variables,
)
from scheduler.posts.status import post_status
from scheduler.posts.tables import SheetBounds, read_table
from scheduler.publishing.outcomes import Event, may, queued, rescheduled, status_after, transition
from scheduler.render.messages import MessageRenderer, PlatformLimits, RenderedMessage, nfc
from scheduler.store import session_scope

if TYPE_CHECKING:
    from scheduler.render.covers import CoverRenderer

IMPORT_RESERVED_COLUMNS = {"template", "channels", "at", "campaign", "cover", "link"}


def platform_limits(platform: str) -> PlatformLimits:
    cls = publisher_class(platform)
    return PlatformLimits(
        label=cls.label,
        max_text_length=cls.max_text_length,
        max_title_length=cls.max_title_length,
        max_description_length=cls.max_description_length,
    )


class PostService:
    """Queue, list, show and cancel posts. Constructed explicitly from settings and an engine."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        renderer: MessageRenderer | None = None,
        *,
        on_queue_change: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.renderer = renderer or MessageRenderer(settings.templates_path)
        # Told when something may have become due sooner (the engine re-arms its alarm).
        self.on_queue_change = on_queue_change or (lambda: None)

    @cached_property
    def covers(self) -> CoverRenderer:
        from scheduler.render.covers import CoverRenderer

        return CoverRenderer(self.settings.templates_path, self.settings.assets_path)

    def variables_used(self, template: str, cover: str | None = None) -> set[str]:
        """What the template reads and, with a cover, what its layout reads (and its title)."""
        used = set(self.renderer.variables(template))
        if cover:
            used |= set(self.covers.variables(cover)) | {"title", "description"}
        return used

    def check_variables(self, template: str, variables: Mapping[str, str], cover: str | None = None) -> None:
        refuse_unused_variables(variables, self.variables_used(template, cover), template=template)

    # -- queueing -------------------------------------------------------------------------

    def prepare(self, request: PostRequest, *, now: datetime | None = None) -> PreparedPost:
        """Check and render everything; raises InputError naming the problem. Writes nothing."""
        now = now or utcnow()
        if not request.channels:
            known = ", ".join(c.id for c in self.settings.channels)
            raise InputError(msg("error.no_channel_given"), hint=msg("hint.add_channel", known=known), field="channels")
        channels: list[ChannelSettings] = []
        for channel_id in request.channels:
            channel = self.settings.channel(channel_id)
            if channel.archived:
                live = ", ".join(c.id for c in self.settings.channels if not c.archived)
                raise InputError(
                    msg("error.channel_archived", channel=channel_id), hint=msg("hint.known_channels", known=live),
                    field="channels",
                )  # fmt: skip
            if channel not in channels:
                channels.append(channel)
        scheduled_at = now if request.at is None else request.at
        if scheduled_at.tzinfo is None:
            raise InputError(msg("error.time_without_zone"), field="at")
        check_time(scheduled_at, now, self.settings)
        campaign_row = self._campaign(request.campaign)
        if request.link is not None and not re.match(r"^https?://\S+$", request.link):
            raise InputError(msg("error.link_not_http", link=request.link), field="link")
        variables = {str(k): nfc(str(v)) for k, v in request.variables.items()}
        campaign_vars = (
            {"slug": campaign_row.slug, "name": campaign_row.name, "theme": campaign_row.theme} if campaign_row else {}
        )
        self._check_words(request)
        media = self._check_media(request.media, channels, scheduled_at)
        if request.reel:
            self._check_reel(media, channels)
        messages: dict[str, RenderedMessage] = {}
        for channel in channels:
            messages[channel.id] = self._words(request, channel, variables, campaign_vars, scheduled_at)
            platform = publisher_class(channel.platform)
            has_photo = any(item.kind == MediaKind.photo for item in media)
            if platform.needs_cover and not request.cover and not channel.default_cover and not has_photo:
                raise InputError(
                    msg("error.channel_needs_cover", channel=channel.id, platform=platform.label),
                    hint=msg("hint.set_default_cover"),
                    field="cover",
                )
            if not request.cover:
                check_default_cover(self.settings, channel)
        covers: dict[str, bytes] = {}
        if request.cover:
            covers = self._render_covers(
                request.cover, variables, messages, channels, campaign_vars, template=request.template
            )
        return PreparedPost(
            request=request,
            scheduled_at=scheduled_at,
            campaign_id=campaign_row.id if campaign_row else None,
            messages=messages,
            covers=covers,
            media=tuple(request.media),
            warnings=tuple(self._repeated_text(messages, scheduled_at)),
        )

    def _check_media(
        self, ids: Sequence[int], channels: Sequence[ChannelSettings], at: datetime | None = None
    ) -> list[MediaItem]:
        """The library items a post shows, refused where a channel's platform cannot carry them."""
        from scheduler.media.library import MediaLibrary, as_file

        if len(set(ids)) != len(ids):
            raise InputError(msg("error.media_twice"), field="media")
        items = MediaLibrary(self.settings, self.engine).items(ids)
        videos = [item for item in items if item.kind == MediaKind.video]
        photos = [item for item in items if item.kind == MediaKind.photo]
        if videos and (photos or len(videos) > 1):
            raise InputError(msg("error.media_video_alone"), hint=msg("hint.media_video_alone"), field="media")
        for channel in channels:
            platform = publisher_class(channel.platform)
            if len(photos) > platform.max_photos:
                raise InputError(
                    msg("error.too_many_photos", channel=channel.id, count=len(photos), limit=platform.max_photos),
                    hint=msg("hint.too_many_photos", limit=platform.max_photos),
                    field="media",
                )
            for video in videos:
                if not platform.supports_video:
                    raise InputError(msg("error.video_not_supported", channel=channel.id), field="media")
                if video.bytes > platform.max_video_bytes:
                    raise InputError(
                        msg(
                            "error.video_too_big_for",
                            channel=channel.id,
                            size=Number(video.bytes / 1e6, 1),
                            limit=Number(platform.max_video_bytes / 1e6, 0),
                        ),
                        field="media",
                    )
                if (
                    at is not None
                    and platform.short_video_daily_cap
                    and platform.is_short_video(as_file(video, self.settings))
                ):
                    self._check_short_video_cap(channel, platform, at)
        return items

    def _check_reel(self, media: Sequence[MediaItem], channels: Sequence[ChannelSettings]) -> None:
        """Asked for as a Reel: the video must fit every chosen platform's short-form rule."""
        from scheduler.media.library import as_file

        video = next((item for item in media if item.kind == MediaKind.video), None)
        if video is None:
            raise InputError(msg("error.reel_needs_video"), hint=msg("hint.reel_needs_video"), field="media")
        for channel in channels:
            platform = publisher_class(channel.platform)
            if platform.short_video_seconds is None or platform.short_video_aspect is None:
                continue
            if not platform.is_short_video(as_file(video, self.settings)):
                low, high = platform.short_video_seconds
                wide, tall = platform.short_video_aspect
                raise InputError(
                    msg(
                        "error.not_a_reel",
                        file=video.original_name,
                        seconds=Number(video.duration_s or 0, 1),
                        width=video.width,
                        height=video.height,
                        low=Number(low, 0),
                        high=Number(high, 0),
                        aspect=f"{wide}:{tall}",
                        platform=platform.label,
                    ),
                    hint=msg("hint.not_a_reel"),
                    field="media",
                )

    def _check_short_video_cap(self, channel: ChannelSettings, platform: type[Publisher], at: datetime) -> None:
        """A platform's daily cap on short-form videos (Facebook: 30 Reels per Page in any 24 h),
        counted in Loa's own queue so the post that would pass it is refused at queue time."""
        from scheduler.media.library import as_file

        window = timedelta(hours=24)
        gone = (PublicationStatus.cancelled, PublicationStatus.failed, PublicationStatus.draft)
        with session_scope(self.engine, read_only=True) as session:
            rows = session.exec(
                select(Publication.id, MediaItem)
                .join(PostMedia, col(PostMedia.post_id) == col(Publication.post_id))
                .join(MediaItem, col(MediaItem.id) == col(PostMedia.media_id))
                .where(Publication.channel_id == channel.id)
                .where(MediaItem.kind == MediaKind.video)
                .where(col(Publication.due_at) > at - window)
                .where(col(Publication.due_at) < at + window)
                .where(col(Publication.status).not_in(gone))
            )
            short = {pid for pid, item in rows if platform.is_short_video(as_file(item, self.settings))}
        if len(short) >= platform.short_video_daily_cap:
            raise InputError(
                msg("error.short_video_cap", channel=channel.id, cap=platform.short_video_daily_cap),
                hint=msg("hint.short_video_cap"),
                field="at",
            )

    def _repeated_text(self, messages: Mapping[str, RenderedMessage], at: datetime) -> list[Message]:
        """The same text already queued or published on a channel within the window (Facebook
        refuses an identical text as a duplicate): a warning naming the other post."""
        hours = self.settings.media.duplicate_text_hours
        if not hours:
            return []
        window = timedelta(hours=hours)
        warnings: list[Message] = []
        gone = (PublicationStatus.cancelled, PublicationStatus.failed, PublicationStatus.draft)
        with session_scope(self.engine, read_only=True) as session:
            for channel_id, message in messages.items():
                other = session.exec(
                    select(Publication)
                    .where(Publication.channel_id == channel_id)
                    .where(col(Publication.due_at) >= at - window)
                    .where(col(Publication.due_at) <= at + window)
                    .where(col(Publication.status).not_in(gone))
                    .where(Publication.text == message.text)
                    .limit(1)
                ).first()
                if other is not None:
                    warnings.append(msg("warning.same_text", channel=channel_id, post=other.post_id, hours=hours))
        return warnings

    @staticmethod
    def _check_words(request: PostRequest) -> None:
        """A post's words come from a template or from the person, exactly one of the two."""
        written = request.text is not None
        if written == bool(request.template):
            raise InputError(msg("error.text_or_template"), hint=msg("hint.text_or_template"), field="text")
        if written and request.variables and not request.cover:  # a cover layout may read them
            name = sorted(request.variables)[0]
            raise InputError(msg("error.variables_without_template", variable=name), field=name)
        for platform in request.overrides:
            publisher_class(platform)  # an unknown name → ConfigError naming the registered ones

    def _words(
        self,
        request: PostRequest,
        channel: ChannelSettings,
        variables: Mapping[str, str],
        campaign: Mapping[str, str],
        scheduled_at: datetime,
    ) -> RenderedMessage:
        """The text (and title) one channel publishes: the template's or the person's, then
        what they wrote for that platform alone."""
        limits = platform_limits(channel.platform)
        own = request.overrides.get(channel.platform, PlatformText())
        if request.text is None and own.text is None:
            rendered = self.renderer.render(
                request.template,
                variables,
                platform=channel.platform,
                limits=limits,
                campaign=campaign,
                now=scheduled_at.astimezone(self.settings.tz),
            )
            if not (own.title or own.description or request.title or request.description):
                return rendered
            base_text, base_title, base_description = rendered.text, rendered.title, rendered.description
        else:
            base_text = own.text if own.text is not None else (request.text or "")
            base_title = base_description = None
        return self.renderer.free_text(
            base_text,
            platform=channel.platform,
            limits=limits,
            title=own.title or request.title or base_title,
            description=own.description or request.description or base_description,
        )

    def _render_covers(
        self,
        layout: str,
        variables: Mapping[str, str],
        messages: Mapping[str, RenderedMessage],
        channels: Sequence[ChannelSettings],
        campaign: Mapping[str, str],
        template: str | None = None,
    ) -> dict[str, bytes]:
        """One cover per channel, at its platform's size and byte limit; refused if it cannot fit."""
        from scheduler.render.covers import max_bytes_for

        # The layout reads the post's variables; the message's Zalo title and description
        # fill `title` and `description` when the person did not give them.
        exported = next((m for m in messages.values() if m.title), None)
        titled = titled_platform()
        if exported is None and template and titled is not None:
            try:  # no channel's posts have titles: the template's title still names the cover
                exported = self.renderer.render(
                    template,
                    variables,
                    platform=titled.platform,
                    limits=platform_limits(titled.platform),
                    campaign=campaign,
                )
            except InputError:
                exported = None
        cover_vars = dict(variables)
        if exported is not None:
            cover_vars.setdefault("title", exported.title or "")
            cover_vars.setdefault("description", exported.description or "")
        targets = {channel.id: publisher_class(channel.platform).cover_targets[0].name for channel in channels}
        self.covers.check(layout, cover_vars, targets=sorted(set(targets.values())), campaign=campaign)

        def render(target: str) -> bytes:
            limit = max_bytes_for(target)
            return self.covers.render(layout, cover_vars, target=target, campaign=campaign, max_bytes=limit)

        wanted = sorted(set(targets.values()))
        if len(wanted) == 1:
            by_target = {wanted[0]: render(wanted[0])}
        else:
            # Pillow lets go of the interpreter while it encodes: two platforms' covers (a
            # compose preview, a post queued on a Page and an OA) are encoded side by side.
            with ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="loa-cover") as pool:
                by_target = dict(zip(wanted, pool.map(render, wanted), strict=True))
        return {channel_id: by_target[target] for channel_id, target in targets.items()}

    def _save_cover(self, image: bytes) -> str:
        """Write a cover under media_dir, named by its content (the same cover is stored once)."""
        name = hashlib.sha256(image).hexdigest()[:32] + ".jpg"
        folder = self.settings.media_path
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # covers of unpublished posts: not for others
        path = folder / name
        if not path.exists():
            temporary = path.with_suffix(".part")
            temporary.write_bytes(image)
            temporary.replace(path)  # never a half-written file at a served name
        return name

    def add(self, request: PostRequest, *, now: datetime | None = None) -> int:
        return self.store([self.prepare(request, now=now)])[0]

    def update_draft(
        self, post_id: int, request: PostRequest, *, actor: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """Replace a draft's content, channels and time, checked like a new post; it stays a draft."""
        prepared = self.prepare(dataclasses.replace(request, draft=True), now=now)
        with session_scope(self.engine) as session:
            post, publications = self._load(session, post_id)
            if not publications or any(p.status != PublicationStatus.draft for p in publications):
                raise InputError(msg("error.post_not_draft", post=post_id), hint=msg("hint.only_drafts_edited_cli"))
            self._fill_post(post, prepared)
            # Drafts were never claimed, shared or measured: nothing refers to these rows yet.
            for publication in publications:
                session.delete(publication)
            session.flush()
            self._add_publications(session, post_id, prepared)
            self._set_media(session, post_id, prepared.media)
            session.add(post)
            record(session, actor=actor, action="post.edit", object=f"post:{post_id}")
        return self.show(post_id)

    def request_of(self, post_id: int) -> PostRequest:
        """A stored post as the request that would make it again (edit and duplicate start here)."""
        with session_scope(self.engine, read_only=True) as session:
            post, publications = self._load(session, post_id)
            campaign = session.get(Campaign, post.campaign_id) if post.campaign_id else None
            media = [m["id"] for m in post_media(session, post_id)]
        words = json.loads(post.words_json) if post.words_json else {}
        overrides = {
            platform: PlatformText(**{k: v for k, v in own.items() if k in ("text", "title", "description")})
            for platform, own in words.get("overrides", {}).items()
        }
        return PostRequest(
            template=post.template,
            channels=[p.channel_id for p in sorted(publications, key=lambda p: p.id or 0)],
            variables=json.loads(post.variables_json),
            at=post.scheduled_at,
            campaign=campaign.slug if campaign else None,
            link=post.link,
            cover=post.cover_layout,
            created_by=post.created_by,
            text=words.get("text"),
            title=words.get("title"),
            description=words.get("description"),
            overrides=overrides,
            media=media,
        )

    def edit(
        self, post_id: int, changes: Mapping[str, Any], *, actor: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """Change a post whose publications have not been claimed: its words, media, channels
        and time. Scheduled ones stay queued (or wait for approval again where the channel
        needs it); failed, missed and blocked ones are queued again; drafts stay drafts.
        Published and cancelled ones are left as they are. One that is being published, or
        whose outcome is unknown, refuses the whole edit."""
        now = now or utcnow()
        request = dataclasses.replace(self.request_of(post_id), **changes)
        with session_scope(self.engine, read_only=True) as session:
            _post, publications = self._load(session, post_id)
        self._editable(post_id, publications)
        drafts = all(p.status == PublicationStatus.draft for p in publications if may(p.status, Event.edited))
        if "at" not in changes and request.at is not None and request.at < now:
            request.at = None  # a failed post edited without a new time goes out now
        prepared = self.prepare(dataclasses.replace(request, draft=drafts), now=now)
        with session_scope(self.engine) as session:
            post = session.get(Post, post_id)
            assert post is not None
            # Locked against the claim (PostgreSQL; SQLite writers are serialised already).
            locked = list(session.exec(select(Publication).where(Publication.post_id == post_id).with_for_update()))
            self._editable(post_id, locked)
            self._fill_post(post, prepared)
            kept = {p.channel_id: p for p in locked}
            for channel_id, publication in kept.items():
                if not may(publication.status, Event.edited):
                    continue
                if channel_id not in prepared.messages:
                    self._move(publication, Event.cancelled, note=stored(msg("reason.cancelled", actor=actor)))
                    session.add(publication)
                    continue
                message = prepared.messages[channel_id]
                approval = self.settings.channel(channel_id).approval
                self._move(publication, Event.edited_for_approval if approval else Event.edited)
                publication.text = message.text
                publication.title = message.title
                publication.description = message.description
                cover = prepared.covers.get(channel_id)
                publication.cover_file = self._save_cover(cover) if cover is not None else None
                publication.due_at = prepared.scheduled_at
                publication.next_attempt_at = None
                session.add(publication)
            added = {c: m for c, m in prepared.messages.items() if c not in kept}
            if added:
                self._add_publications(session, post_id, dataclasses.replace(prepared, messages=added))
            self._set_media(session, post_id, prepared.media)
            session.add(post)
            record(
                session,
                actor=actor,
                action="post.edit",
                object=f"post:{post_id}",
                details={"changed": sorted(changes)},
            )
        self.on_queue_change()
        return self.show(post_id)

    @staticmethod
    def _editable(post_id: int, publications: Sequence[Publication]) -> None:
        busy = [p for p in publications if p.status in (PublicationStatus.publishing, PublicationStatus.unknown)]
        if busy or not any(may(p.status, Event.edited) for p in publications):
            states = [
                msg("error.channel_status", channel=p.channel_id, status=msg(f"status.{p.status.value}"))
                for p in (busy or publications)
            ]
            raise InputError(
                msg("error.post_not_editable", post=post_id, states=states), hint=msg("hint.post_not_editable")
            )

    def duplicate(self, post_id: int, *, actor: str, at: datetime | None = None) -> int:
        """A new post copied from ``post_id`` ("Nhân bản"): a draft, or queued at ``at``."""
        source = self.request_of(post_id)
        copy = dataclasses.replace(source, at=at, draft=at is None, created_by=actor)
        prepared = self.prepare(copy)
        (new_id,) = self.store([prepared])
        with session_scope(self.engine) as session:
            record(session, actor=actor, action="post.duplicate", object=f"post:{new_id}", details={"from": post_id})
        return new_id

    def store(self, prepared: Iterable[PreparedPost]) -> list[int]:
        """Write prepared posts with their publications in one transaction."""
        ids: list[int] = []
        with session_scope(self.engine) as session:
            for item in prepared:
                post = Post(
                    template=item.request.template,
                    text="",
                    scheduled_at=item.scheduled_at,
                    created_at=utcnow(),
                    created_by=item.request.created_by,
                )
                self._fill_post(post, item)
                session.add(post)
                session.flush()
                assert post.id is not None
                self._add_publications(session, post.id, item)
                self._set_media(session, post.id, item.media)
                ids.append(post.id)
        self.on_queue_change()
        return ids

    @staticmethod
    def _fill_post(post: Post, prepared: PreparedPost) -> None:
        """The post's own fields from what was prepared (new posts and edited drafts alike)."""
        request = prepared.request
        post.campaign_id = prepared.campaign_id
        post.template = request.template
        post.variables_json = json.dumps(dict(request.variables), ensure_ascii=False, sort_keys=True)
        post.text = next(iter(prepared.messages.values())).text
        post.link = request.link
        post.cover_layout = request.cover
        post.scheduled_at = prepared.scheduled_at
        words: dict[str, Any] = {}
        if request.text is not None:
            words["text"] = request.text
        for name in ("title", "description"):
            if getattr(request, name):
                words[name] = getattr(request, name)
        if request.overrides:
            words["overrides"] = {
                platform: {k: v for k, v in dataclasses.asdict(own).items() if v is not None}
                for platform, own in request.overrides.items()
            }
        post.words_json = json.dumps(words, ensure_ascii=False, sort_keys=True) if words else None

    @staticmethod
    def _set_media(session: Any, post_id: int, media: Sequence[int]) -> None:
        for old in session.exec(select(PostMedia).where(PostMedia.post_id == post_id)):
            session.delete(old)
        session.flush()
        for position, media_id in enumerate(media):
            session.add(PostMedia(post_id=post_id, media_id=media_id, position=position))

    def _add_publications(self, session: Any, post_id: int, prepared: PreparedPost) -> None:
        """One publication per channel with the text (and cover) rendered for its platform."""
        for channel_id, message in prepared.messages.items():
            cover = prepared.covers.get(channel_id)
            event = self._queued(channel_id)
            status = PublicationStatus.draft if prepared.request.draft else status_after(event)
            publication = Publication(
                post_id=post_id,
                channel_id=channel_id,
                platform=self.settings.channel(channel_id).platform,
                status=status,
                text=message.text,
                title=message.title,
                description=message.description,
                cover_file=self._save_cover(cover) if cover is not None else None,
                due_at=prepared.scheduled_at,
                updated_at=utcnow(),
            )
            session.add(publication)
            if not prepared.request.draft:
                publication_alert(session, publication, event, actor=prepared.request.created_by)

    def import_file(
        self,
        path: Path,
        *,
        now: datetime | None = None,
        created_by: str = "cli",
        before_store: Callable[[list[PreparedPost]], None] | None = None,
    ) -> list[int]:
        """Queue every row of a CSV/XLSX file, or none: all rows are checked before any is stored.

        ``before_store`` sees every checked row first and may still refuse the whole file
        (`loa --as`: a row for another unit's channel).
        """
        rows = read_table(path, SheetBounds.from_limits(self.settings.limits))
        if not rows:
            raise InputError(msg("error.csv_no_rows", file=path.name), hint=msg("hint.one_post_per_row"))
        header = {k for k in rows[0][1]}
        missing = {"template", "channels", "at"} - header
        if missing:
            raise InputError(
                msg("error.import_lacks_columns", file=path.name, columns=", ".join(sorted(missing))),
                hint=msg("hint.import_header"),
            )
        prepared: list[PreparedPost] = []
        problems: list[Message] = []
        uses: dict[tuple[str, str | None], set[str]] = {}
        for line, row in rows:
            try:
                variables = {k: v for k, v in row.items() if k not in IMPORT_RESERVED_COLUMNS and v != ""}
                template = row.get("template", "").strip()
                if template:
                    key = (template, row.get("cover") or None)
                    if key not in uses:  # parsed once per template and cover, not once per row
                        uses[key] = self.variables_used(*key)
                    refuse_unused_variables(variables, uses[key], template=template)
                if not row.get("at"):
                    raise InputError(msg("error.time_empty"), field="at")
                request = PostRequest(
                    template=row.get("template", "").strip(),
                    channels=row.get("channels", "").split(),
                    variables=variables,
                    at=parse_when(row["at"], self.settings),
                    campaign=row.get("campaign") or None,
                    link=row.get("link") or None,
                    cover=row.get("cover") or None,
                    created_by=created_by,
                )
                prepared.append(self.prepare(request, now=now))
            except InputError as exc:
                column = exc.field if exc.field in header else ("template" if exc.field == "template" else exc.field)
                problem = msg(exc.msgid, **exc.params)
                problems.append(msg("error.import_row_problem", row=line, column=column or "?", problem=problem))
                if len(problems) >= 20:
                    break
        if problems:
            raise InputError(
                msg("error.import_rows_refused", file=path.name, count=len(problems), problems=problems),
                hint=msg("hint.fix_rows_import_again"),
            )
        if before_store is not None:
            before_store(prepared)
        return self.store(prepared)

    def _queued(self, channel_id: str) -> Event:
        return queued(self.settings.channel(channel_id).approval)

    # -- decisions on queued posts (each one audited) -------------------------------------

    def submit(self, post_id: int, *, actor: str) -> dict[str, Any]:
        """Queue a draft: channels that need approval wait for it, the others are scheduled."""
        with session_scope(self.engine) as session:
            post, publications = self._load(session, post_id)
            drafts = [p for p in publications if p.status == PublicationStatus.draft]
            if not drafts:
                raise InputError(msg("error.post_not_draft", post=post_id), hint=msg("hint.only_drafts_submitted"))
            check_time(post.scheduled_at, utcnow(), self.settings)
            for publication in drafts:
                self._move(publication, self._queued(publication.channel_id))
            session.add_all(drafts)
            record(session, actor=actor, action="post.submit", object=f"post:{post_id}")
        self.on_queue_change()
        return self.show(post_id)

    def approve(self, post_id: int, *, actor: str, channels: Sequence[str] | None = None) -> dict[str, Any]:
        """Approve what waits for approval; nobody approves their own post."""
        with session_scope(self.engine) as session:
            post, publications = self._load(session, post_id)
            if actor == post.created_by:
                raise InputError(
                    msg("error.own_post_approval", post=post_id, actor=actor),
                    hint=msg("hint.ask_another_approver"),
                    field="approver",
                )
            waiting = [
                p for p in publications if may(p.status, Event.approved) and (not channels or p.channel_id in channels)
            ]
            if not waiting:
                raise InputError(msg("error.nothing_awaits_approval", post=post_id), hint=msg("hint.see_post_show"))
            for publication in waiting:
                self._move(publication, Event.approved, actor=actor)
            post.approved_by = actor
            session.add_all([post, *waiting])
            record(
                session,
                actor=actor,
                action="post.approve",
                object=f"post:{post_id}",
                details={"channels": [p.channel_id for p in waiting]},
            )
        self.on_queue_change()
        return self.show(post_id)

    def send_back(self, post_id: int, *, actor: str, reason: str) -> dict[str, Any]:
        """Return a post waiting for approval to its author as a draft, with the reason."""
        if not reason.strip():
            raise InputError(msg("error.send_back_reason"), hint=msg("hint.short_reason"), field="reason")
        with session_scope(self.engine) as session:
            _post, publications = self._load(session, post_id)
            waiting = [p for p in publications if may(p.status, Event.sent_back)]
            if not waiting:
                raise InputError(msg("error.nothing_awaits_approval", post=post_id), hint=msg("hint.see_post_show"))
            for publication in waiting:
                note = stored(msg("reason.sent_back", actor=actor, reason=nfc(reason.strip())))
                self._move(publication, Event.sent_back, note=note, actor=actor)
            session.add_all(waiting)
            record(session, actor=actor, action="post.send_back", object=f"post:{post_id}", details={"reason": reason})
        return self.show(post_id)

    def reschedule(self, post_id: int, at: datetime, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
        """Move what has not gone out yet to a new time (missed ones are queued again)."""
        now = now or utcnow()
        check_time(at, now, self.settings)
        with session_scope(self.engine) as session:
            post, publications = self._load(session, post_id)
            moving = [p for p in publications if may(p.status, Event.rescheduled)]
            if not moving:
                raise InputError(msg("error.nothing_to_reschedule", post=post_id), hint=msg("hint.see_post_show"))
            for publication in moving:
                event = rescheduled(self.settings.channel(publication.channel_id).approval)
                # A missed one is queued again (a fresh start); the others keep their place.
                if transition(publication.status, event) != publication.status:
                    self._move(publication, event)
                publication.due_at = at
                publication.next_attempt_at = None
            previous = post.scheduled_at
            post.scheduled_at = at
            session.add_all([post, *moving])
            record(
                session,
                actor=actor,
                action="post.reschedule",
                object=f"post:{post_id}",
                details={"from": previous.isoformat(), "to": at.isoformat()},
            )
        self.on_queue_change()
        return self.show(post_id)

    def retry(self, publication_id: int, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
        """Queue a failed, missed or blocked publication again, for now."""
        now = now or utcnow()
        with session_scope(self.engine) as session:
            publication = self._publication(session, publication_id)
            if not may(publication.status, Event.retried):
                raise InputError(
                    msg(
                        "error.publication_not_retryable",
                        publication=publication_id,
                        status=msg(f"status.{publication.status.value}"),
                    ),
                    hint=msg("hint.confirm_unknown_first"),
                )
            self._move(publication, Event.retried)
            publication.due_at = now
            publication.next_attempt_at = None
            session.add(publication)
            record(session, actor=actor, action="publication.retry", object=f"publication:{publication_id}")
            post_id = publication.post_id
        self.on_queue_change()
        return self.show(post_id)

    def confirm(
        self, publication_id: int, *, actor: str, published: bool, permalink: str | None = None
    ) -> dict[str, Any]:
        """A person settles an unknown outcome: it is on the page, or it is not (publish again)."""
        if permalink is not None and not re.match(r"^https://\S+$", permalink):
            raise InputError(msg("error.permalink_not_https"), field="permalink")
        with session_scope(self.engine) as session:
            publication = self._publication(session, publication_id)
            if not may(publication.status, Event.confirmed_published):
                raise InputError(
                    msg(
                        "error.publication_not_unknown",
                        publication=publication_id,
                        status=msg(f"status.{publication.status.value}"),
                    ),
                    hint=msg("hint.only_unknown_confirmed"),
                )
            if published:
                self._move(publication, Event.confirmed_published)
                publication.permalink = permalink or publication.permalink
                publication.published_at = publication.published_at or utcnow()
            else:
                self._move(publication, Event.confirmed_absent)
                publication.due_at = utcnow()
                publication.next_attempt_at = None
            session.add(publication)
            record(
                session,
                actor=actor,
                action="publication.confirm",
                object=f"publication:{publication_id}",
                details={"published": published, "permalink": permalink},
            )
            post_id = publication.post_id
        self.on_queue_change()
        return self.show(post_id)

    @staticmethod
    def _move(publication: Publication, event: Event, *, note: str | None = None, actor: str | None = None) -> None:
        publication.status = transition(publication.status, event)
        publication.last_error = note
        publication.lease_owner = None
        publication.lease_until = None
        publication.updated_at = utcnow()
        session = Session.object_session(publication)
        if isinstance(session, Session):  # the alert it raises, if any, commits with the decision
            publication_alert(session, publication, event, actor=actor)

    @staticmethod
    def _load(session: Any, post_id: int) -> tuple[Post, list[Publication]]:
        post = session.get(Post, post_id)
        if post is None:
            raise NotFound(msg("error.no_post", post=post_id), hint=msg("hint.see_post_list"))
        publications = list(session.exec(select(Publication).where(Publication.post_id == post_id)))
        return post, publications

    @staticmethod
    def _publication(session: Any, publication_id: int) -> Publication:
        publication = session.get(Publication, publication_id)
        if publication is None:
            raise NotFound(
                msg("error.no_publication", publication=publication_id),
                hint=msg("hint.post_show_lists_publications"),
            )
        return publication

    def _campaign(self, slug: str | None) -> Campaign | None:
        if not slug:
            return None
        with session_scope(self.engine, read_only=True) as session:
            row = session.exec(select(Campaign).where(Campaign.slug == slug)).first()
            if row is None:
                known = ", ".join(c.slug for c in session.exec(select(Campaign))) or "—"
                raise NotFound(
                    msg("error.unknown_campaign", campaign=slug),
                    hint=msg("hint.known_campaigns", known=known),
                    field="campaign",
                )
            return row

    # -- reading --------------------------------------------------------------------------

    def list(
        self,
        *,
        status: str | None = None,
        campaign: str | None = None,
        limit: int = 200,
        channel: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        ascending: bool = False,
        lang: str | None = None,
        within: Collection[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Posts newest first (or in time order); ``since``/``until`` bound the scheduled time [since, until).

        ``within``: only posts with a publication on one of these channels (an account's unit)."""
        if status is not None and status not in PublicationStatus.__members__:
            raise InputError(
                msg("error.unknown_status", status=status),
                hint=msg("hint.one_of", choices=", ".join(PublicationStatus.__members__)),
                field="status",
            )
        with session_scope(self.engine, read_only=True) as session:
            order = (
                (col(Post.scheduled_at), col(Post.id))
                if ascending
                else (col(Post.scheduled_at).desc(), col(Post.id).desc())
            )
            query = select(Post).order_by(*order).limit(limit)
            if since is not None:
                query = query.where(col(Post.scheduled_at) >= since)
            if until is not None:
                query = query.where(col(Post.scheduled_at) < until)
            if channel:
                self.settings.channel(channel)  # unknown ids → NotFound listing the known ones
                on_channel = select(Publication.post_id).where(Publication.channel_id == channel)
                query = query.where(col(Post.id).in_(on_channel))
            if within is not None:
                in_scope = select(Publication.post_id).where(col(Publication.channel_id).in_(list(within)))
                query = query.where(col(Post.id).in_(in_scope))
            if campaign:
                campaign_row = self._campaign(campaign)
                assert campaign_row is not None
                query = query.where(Post.campaign_id == campaign_row.id)
            if status:
                query = query.where(col(Post.id).in_(select(Publication.post_id).where(Publication.status == status)))
            posts = list(session.exec(query))
            return [self._describe(session, post, lang) for post in posts]

    def show(self, post_id: int, *, lang: str | None = None) -> dict[str, Any]:
        """The post and its publications; stored reasons worded in ``lang`` (the process's by default)."""
        with session_scope(self.engine, read_only=True) as session:
            post = session.get(Post, post_id)
            if post is None:
                raise NotFound(msg("error.no_post", post=post_id), hint=msg("hint.see_post_list"))
            return self._describe(session, post, lang)

    def cancel(self, post_id: int, *, actor: str = "cli") -> dict[str, Any]:
        """Cancel what has not gone out yet; what is published or publishing stays as it is."""
        with session_scope(self.engine) as session:
            _post, publications = self._load(session, post_id)
            if not any(may(p.status, Event.cancelled) for p in publications):
                states = [
                    msg("error.channel_status", channel=p.channel_id, status=msg(f"status.{p.status.value}"))
                    for p in publications
                ]
                raise InputError(
                    msg("error.nothing_to_cancel", post=post_id, states=states),
                    hint=msg("hint.remove_on_platform"),
                )
            cancelled = [p for p in publications if may(p.status, Event.cancelled)]
            for publication in cancelled:
                self._move(publication, Event.cancelled, note=stored(msg("reason.cancelled", actor=actor)))
            session.add_all(cancelled)
            record(session, actor=actor, action="post.cancel", object=f"post:{post_id}")
        return self.show(post_id)

    def _describe(self, session: Any, post: Post, lang: str | None = None) -> dict[str, Any]:
        reader = lang or process_lang()
        publications = list(
            session.exec(select(Publication).where(Publication.post_id == post.id).order_by(col(Publication.id)))
        )
        campaign = session.get(Campaign, post.campaign_id) if post.campaign_id else None
        return {
            "id": post.id,
            "status": post_status([p.status for p in publications]).value,
            "scheduled_at": post.scheduled_at.isoformat(),
            "text": post.text,
            "template": post.template,
            "variables": json.loads(post.variables_json),
            "campaign": campaign.slug if campaign else None,
            "link": post.link,
            "cover_layout": post.cover_layout,
            "created_by": post.created_by,
            "words": json.loads(post.words_json) if post.words_json else {},
            "media": post_media(session, post.id),
            "publications": [
                {
                    "id": p.id,
                    "channel": p.channel_id,
                    "platform": p.platform,
                    "status": p.status.value,
                    "text": p.text,
                    "title": p.title,
                    "description": p.description,
                    "cover": p.cover_file,
                    "attempts": p.attempts,
                    "remote_id": p.remote_id,
                    "permalink": p.permalink,
                    "published_at": p.published_at.isoformat() if p.published_at else None,
                    "error": render_stored(reader, p.last_error) if p.status != PublicationStatus.published else None,
                    "metrics": latest_metrics(session, p.id),
                }
                for p in publications
            ],
        }


METRIC_NAMES = ("views", "reach", "reactions", "comments", "shares")


def post_media(session: Any, post_id: int | None) -> list[dict[str, Any]]:
    """The library items a post shows, in order (`loa media list --json` entries)."""
    from scheduler.media.library import describe

    rows = session.exec(
        select(MediaItem, PostMedia)
        .where(PostMedia.post_id == post_id)
        .where(PostMedia.media_id == MediaItem.id)
        .order_by(col(PostMedia.position))
    )
    return [describe(item) for item, _link in rows]


def latest_metrics(session: Any, publication_id: int | None) -> dict[str, int]:
    """The newest snapshot's counters; zeros before the first collection."""
    snapshot = session.exec(
        select(MetricSnapshot)
        .where(MetricSnapshot.publication_id == publication_id)
        .order_by(col(MetricSnapshot.at).desc())
        .limit(1)
    ).first()
    return {name: int(getattr(snapshot, name) or 0) if snapshot else 0 for name in METRIC_NAMES}


# What the /assets route serves (the platform fetches a default cover from there).
_SERVED_COVER_SUFFIXES = (".jpg", ".jpeg", ".png")
# Default covers already found sound, by (path, mtime, size): a changed file is checked again.
_COVERS_CHECKED: set[tuple[str, int, int]] = set()


def check_default_cover(settings: Settings, channel: ChannelSettings) -> None:
    """Refuse a channel's ``default_cover`` as layout images are refused: missing, outside
    ``assets/``, not an image (or a disguised one), a bomb, or too large for the platform.

    Checked when Loa starts and when a post that will use it is queued, so a broken file is
    found by a person, not by the platform fetching it at publishing time.
    """
    name = channel.default_cover
    if not name or re.match(r"^https?://", name):
        return
    # Pillow only when a cover is checked: most commands never open an image.
    from scheduler.render.fonts import asset_path
    from scheduler.render.images import open_image

    where = msg("where.default_cover", channel=channel.id)
    path = asset_path(settings.assets_path, name, where=where, what="image")
    if path.suffix.lower() not in _SERVED_COVER_SUFFIXES:
        raise InputError(
            msg("error.default_cover_kind", where=where, file=path.name),
            hint=msg("hint.export_again_kind"),
            field="default_cover",
        )
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key in _COVERS_CHECKED:  # a bulk import queues hundreds of posts with the same cover
        return
    open_image(path, where=where)
    target = publisher_class(channel.platform).cover_targets[0]
    limit = target.max_bytes("png" if path.suffix.lower() == ".png" else "jpeg")
    size = stat.st_size
    if size > limit:
        raise InputError(
            msg("error.image_too_big", where=where, file=path.name, size=Number(size / 1e6, 1),
                limit=Number(limit / 1e6, 0)),
            hint=msg("hint.smaller_copy"),
            field="default_cover",
        )  # fmt: skip
    _COVERS_CHECKED.add(key)


def check_default_covers(settings: Settings) -> None:
    """Every configured channel's default cover, before `loa run` or `loa worker` starts."""
    for channel in settings.channels:
        check_default_cover(settings, channel)


def cover_url(settings: Settings, channel: ChannelSettings, cover_file: str | None = None) -> str | None:
    """The public URL of the cover a Zalo article shows (percent-encoded, as Zalo requires)."""
    if cover_file:
        return f"{settings.public_url}/media/{quote(cover_file)}"
    if not channel.default_cover:
        return None
    if re.match(r"^https?://", channel.default_cover):
        return channel.default_cover
    return f"{settings.public_url}/assets/{quote(channel.default_cover)}"
