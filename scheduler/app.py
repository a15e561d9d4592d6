"""The objects one Loa process works with, built explicitly from settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine

from scheduler.config import Settings
from scheduler.posts import PostService
from scheduler.render.messages import MessageRenderer
from scheduler.secrets import DatabaseTokenVault, load_cipher
from scheduler.store import init_db, make_engine


@dataclass
class Loa:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def renderer(self) -> MessageRenderer:
        return MessageRenderer(self.settings.templates_path)

    @cached_property
    def posts(self) -> PostService:
        return PostService(self.settings, self.engine, self.renderer)

    @cached_property
    def vault(self) -> DatabaseTokenVault:
        return DatabaseTokenVault(self.engine, load_cipher(self.settings))

    def init(self) -> None:
        init_db(self.engine, self.settings)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
