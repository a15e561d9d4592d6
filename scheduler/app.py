"""The objects one Loa process works with, built explicitly from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from scheduler.bounds import HeavyWork
from scheduler.config import Settings
from scheduler.media.library import MediaLibrary
from scheduler.posts.service import PostService
from scheduler.render.messages import MessageRenderer
from scheduler.secrets import DatabaseTokenVault, load_cipher
from scheduler.store import init_db, make_engine, open_db

if TYPE_CHECKING:
    from scheduler.engine import PublishingEngine
    from scheduler.schema import Upgrade


@dataclass
class Loa:
    settings: Settings
    # Called when the queue changed so that something may be due sooner (`loa run` wakes
    # its engine); nothing by default, e.g. for one-shot commands.
    queue_listeners: list[Callable[[], None]] = field(default_factory=list)
    # The publishing engine running in this process, if any: `/healthz` reports its ticks only.
    publishing_engine: PublishingEngine | None = None

    def queue_changed(self) -> None:
        for listener in self.queue_listeners:
            listener()

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def renderer(self) -> MessageRenderer:
        return MessageRenderer(self.settings.templates_path)

    @cached_property
    def posts(self) -> PostService:
        return PostService(self.settings, self.engine, self.renderer, on_queue_change=self.queue_changed)

    @cached_property
    def media(self) -> MediaLibrary:
        return MediaLibrary(self.settings, self.engine)

    @cached_property
    def vault(self) -> DatabaseTokenVault:
        return DatabaseTokenVault(self.engine, load_cipher(self.settings))

    @cached_property
    def heavy(self) -> HeavyWork:
        """The process's slots for heavy renders (charts, spreadsheets, big reports)."""
        limits = self.settings.limits
        return HeavyWork(limits.heavy_renders, limits.heavy_wait_seconds)

    def init(self) -> Upgrade:
        """Create or upgrade the database (`loa init`): the only call that changes the schema.

        Also makes the Web Push key pair once (kept encrypted), so share pages can offer push."""
        from scheduler.alerts.push import ensure_vapid

        upgrade = init_db(self.engine, self.settings)
        ensure_vapid(self.engine, load_cipher(self.settings))
        return upgrade

    def open(self) -> None:
        """Use the database as it is: refused when its schema is behind or ahead of this code."""
        open_db(self.engine, self.settings)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
