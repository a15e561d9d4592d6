"""The explicit registry of platforms: one line per platform, name → publisher class.

Everything that differs between platforms is class data on the publisher (see
:class:`scheduler.channels.base.Publisher`); the rest of Loa reads it through here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scheduler.channels.base import CoverTarget, Publisher

if TYPE_CHECKING:
    from scheduler.sandbox.emulator import PlatformEmulator


def registry() -> dict[str, type[Publisher]]:
    # Imported here, not at module import, so loading the package costs nothing.
    from scheduler.channels.facebook.client import FacebookPublisher
    from scheduler.channels.zalo.client import ZaloPublisher

    classes: list[type[Publisher]] = [
        FacebookPublisher,
        ZaloPublisher,
    ]
    return {cls.platform: cls for cls in classes}


def emulators() -> list[type[PlatformEmulator]]:
    """Each registered platform's sandbox emulator, in registry order."""
    return [cls.emulator() for cls in registry().values()]


def publisher_class(platform: str) -> type[Publisher]:
    classes = registry()
    try:
        return classes[platform]
    except KeyError:
        from scheduler.errors import ConfigError
        from scheduler.i18n import msg

        raise ConfigError(
            msg("error.unknown_platform", platform=platform),
            hint=msg("hint.one_of", choices=", ".join(sorted(classes))),
        ) from None


def cover_targets() -> dict[str, tuple[CoverTarget, type[Publisher]]]:
    """Every cover canvas a registered platform declares, with its platform, in registry order."""
    found: dict[str, tuple[CoverTarget, type[Publisher]]] = {}
    for cls in registry().values():
        for target in cls.cover_targets:
            found.setdefault(target.name, (target, cls))
    return found


def titled_platform() -> type[Publisher] | None:
    """The first platform whose posts carry a title (its template output names a cover)."""
    return next((cls for cls in registry().values() if cls.max_title_length), None)
