"""Forwarded headers from a peer that is not a trusted proxy: noticed, said once, shown to admins.

Behind a reverse proxy that is not listed in ``web.trusted_proxies`` every visitor has the
proxy's address: one person's bad logins throttle everyone, and tracked-link clicks of a whole
office collapse into one visitor. Loa cannot tell a proxy from a client that sends the same
headers, so it does not believe them; it says so, once in the log and on the admins' dashboard.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from scheduler.config import Settings
from scheduler.i18n import Message, msg

log = logging.getLogger("loa.web")

FORWARDED_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")
STATE_KEY = "untrusted_forwarding"


@dataclass(frozen=True)
class Sighting:
    """The first request that carried a forwarded header from an untrusted peer."""

    peer: str
    header: str


class ProxyWatch:
    """ASGI middleware: the first forwarded header from an untrusted peer is logged; every
    request then carries that sighting in ``request.state.untrusted_forwarding``."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.trusted = tuple(ipaddress.ip_network(item, strict=False) for item in settings.web.trusted_proxies)
        self.sighting: Sighting | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.notice(scope)
            scope.setdefault("state", {})[STATE_KEY] = self.sighting
        await self.app(scope, receive, send)

    def notice(self, scope: Scope) -> None:
        """Look at one request's headers until the first untrusted forwarding is seen."""
        if self.sighting is None:
            self._look(scope)

    def _look(self, scope: Scope) -> None:
        names = {name.lower() for name, _ in scope.get("headers", ())}
        header = next((h.decode() for h in FORWARDED_HEADERS if h in names), None)
        if header is None:
            return
        client = scope.get("client")
        peer = str(client[0]) if client else "?"
        if self._trusted(peer):
            return
        self.sighting = Sighting(peer=peer, header=header)
        log.warning("%s", warning(self.sighting))

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)


def warning(sighting: Sighting) -> Message:
    """The message (rendered in the reader's language) that says what was seen and what to set."""
    return msg("warning.untrusted_forwarding", peer=sighting.peer, header=sighting.header)
