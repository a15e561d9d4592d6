"""Keys and visitors: the sharing keys, client addresses behind trusted proxies, the keyed visitor
and address hashes (no address is stored), the signed "self" cookie and the share-page form tokens."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.config import Settings
from scheduler.models import (
    utcnow,
)
from scheduler.secrets import load_cipher

# A form on a share page is accepted this long after the page was shown.
FORM_TOKEN_TTL = timedelta(days=2)


SELF_COOKIE = "loa_self"


@dataclass(frozen=True)
class SharingKeys:
    """Keys derived from Loa's secret key, so none of them lives in the database."""

    visitor: bytes
    cookie: bytes
    form: bytes
    address: bytes = b""

    @classmethod
    def from_secret(cls, secret: bytes) -> SharingKeys:
        def derive(label: str) -> bytes:
            return hmac.new(secret, f"loa/sharing/{label}/v1".encode(), hashlib.sha256).digest()

        return cls(
            visitor=derive("visitor"),
            cookie=derive("self-cookie"),
            form=derive("share-form"),
            address=derive("address"),
        )


def load_keys(settings: Settings) -> SharingKeys:
    # load_cipher validates the key and creates the key file on first use; the raw key is
    # then read from the same place.
    load_cipher(settings)
    raw = os.environ.get(settings.secrets.key_env)
    if raw is None:
        raw = settings.path(settings.secrets.key_file).read_text(encoding="ascii").strip()
    return SharingKeys.from_secret(raw.encode("ascii"))


def _mac(key: bytes, message: str, length: int = 32) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:length]


def trusted_networks(settings: Settings) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in settings.web.trusted_proxies)


def client_address(
    peer: str | None,
    forwarded_for: str | None,
    trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str:
    """The visitor's address: the TCP peer, or — only when the peer is a trusted proxy — the
    right-most address in X-Forwarded-For that is not itself a trusted proxy (the left part
    of the header is whatever the client chose to send)."""
    peer = peer or ""

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not forwarded_for or not trusted or not is_trusted(peer):
        return peer
    for candidate in reversed([part.strip() for part in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            return peer  # a malformed hop: believe nothing further left
        if not is_trusted(candidate):
            return candidate
    return peer


def network_of(address: str) -> str:
    """What one device is, as far as its address tells: an IPv4 address, or an IPv6 /64 (one
    device rotates addresses inside it; an IPv4-mapped IPv6 address is its IPv4 address).
    Anything that is not an address is returned as it is."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address.partition("%")[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)).network_address)


def visitor_hash(keys: SharingKeys, address: str, user_agent: str) -> str:
    """A keyed hash (BLAKE2b with the server's key, 128 bits) of address + User-Agent; no
    address is ever stored. IPv6 counts per /64 (:func:`network_of`)."""
    data = f"{network_of(address)}\n{user_agent}".encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, key=keys.visitor, digest_size=16).hexdigest()


def address_hash(keys: SharingKeys, address: str) -> str:
    """A keyed hash of the address alone (IPv6: its /64), under its own key: what bounds the
    clicks one device can make count, whatever User-Agents it sends."""
    data = network_of(address).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, key=keys.address, digest_size=16).hexdigest()


def visitor_hashes(keys: SharingKeys, address: str, user_agent: str) -> tuple[str, str]:
    """(visitor hash, address hash) of one request, the address parsed once."""
    network = network_of(address).encode("utf-8", "surrogateescape")
    visitor = hashlib.blake2b(
        network + b"\n" + user_agent.encode("utf-8", "surrogateescape"), key=keys.visitor, digest_size=16
    )
    return visitor.hexdigest(), hashlib.blake2b(network, key=keys.address, digest_size=16).hexdigest()


def self_cookie_value(keys: SharingKeys, staff_id: int) -> str:
    return f"{staff_id}.{_mac(keys.cookie, f'self:{staff_id}')}"


def self_cookie_staff(keys: SharingKeys, value: str | None) -> int | None:
    """The staff id a valid "self" cookie names, else None."""
    if not value:
        return None
    staff, _, mac = value.partition(".")
    if not staff.isdigit() or not hmac.compare_digest(mac, _mac(keys.cookie, f"self:{staff}")):
        return None
    return int(staff)


def form_token(keys: SharingKeys, staff_id: int, *, now: datetime | None = None) -> str:
    issued = int((now or utcnow()).timestamp())
    return f"{issued}.{_mac(keys.form, f'{staff_id}:{issued}')}"


def form_token_ok(keys: SharingKeys, staff_id: int, token: str | None, *, now: datetime | None = None) -> bool:
    if not token:
        return False
    issued, _, mac = token.partition(".")
    if not issued.isdigit() or not hmac.compare_digest(mac, _mac(keys.form, f"{staff_id}:{issued}")):
        return False
    age = (now or utcnow()).timestamp() - int(issued)
    return -300 <= age <= FORM_TOKEN_TTL.total_seconds()
