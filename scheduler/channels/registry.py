"""The explicit registry of platform publishers: platform name → class."""

from __future__ import annotations

from scheduler.channels.base import Publisher


def registry() -> dict[str, type[Publisher]]:
    # Imported here, not at module import, so loading the package costs nothing.
    from scheduler.channels.facebook.client import FacebookPublisher
    from scheduler.channels.zalo.client import ZaloPublisher

    return {FacebookPublisher.platform: FacebookPublisher, ZaloPublisher.platform: ZaloPublisher}


def publisher_class(platform: str) -> type[Publisher]:
    classes = registry()
    try:
        return classes[platform]
    except KeyError:
        from scheduler.errors import ConfigError

        raise ConfigError(f"unknown platform {platform!r}", hint=f"use one of: {', '.join(sorted(classes))}") from None
