"""Webhooks: alerts as signed JSON posted to an address the office configured.

A webhook URL is refused when it points at loopback or a private network unless the
configuration says ``allow_private = true``: otherwise anyone who may edit the settings
could make Loa call the machines behind its firewall. The check is made on the literal
address when the settings are read, and again on every resolved address before each call
(a name may resolve elsewhere later). Redirects are never followed: a URL that redirects is
a wrong URL, said so in the delivery log.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import urlsplit

import requests

from scheduler.errors import DeliveryError
from scheduler.i18n import Message, msg

SIGNATURE_HEADER = "X-Loa-Signature"
DELIVERY_HEADER = "X-Loa-Delivery"
EVENT_HEADER = "X-Loa-Event"


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def url_problem(url: str, *, allow_private: bool, resolve: bool) -> Message | None:
    """Why ``url`` may not receive webhooks, or None."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return msg("config.webhook_url", url=url)
    if allow_private:
        return None
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        return msg("config.webhook_private", url=url)
    try:
        if _private(host):
            return msg("config.webhook_private", url=url)
        return None
    except ValueError:
        pass  # a name, not an address
    if not resolve:
        return None
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError:
        return msg("delivery.webhook_unresolved", host=host)
    for info in infos:
        if _private(str(info[4][0])):
            return msg("config.webhook_private", url=url)
    return None


def signature(body: bytes, secret: str) -> str:
    """HMAC-SHA256 of the exact body bytes, in hex: what a receiver recomputes to trust a call."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post_webhook(
    url: str,
    body: bytes,
    *,
    key: str,
    event: str,
    secret: str | None,
    timeout: float,
    allow_private: bool,
) -> None:
    """Hand one body to a webhook; :class:`DeliveryError` unless it answered 2xx."""
    problem = url_problem(url, allow_private=allow_private, resolve=True)
    if problem is not None:
        raise DeliveryError(problem, hint=msg("hint.webhook_allow_private"))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        DELIVERY_HEADER: key,
        EVENT_HEADER: event,
        "User-Agent": "Loa-webhook",
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature(body, secret)
    try:
        reply = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        raise DeliveryError(msg("delivery.webhook_timeout", seconds=timeout)) from None
    except requests.RequestException as exc:
        raise DeliveryError(msg("delivery.webhook_unreachable", reason=type(exc).__name__)) from None
    if 300 <= reply.status_code < 400:
        raise DeliveryError(
            msg("delivery.webhook_redirect", status=reply.status_code, location=reply.headers.get("Location", "")),
            hint=msg("hint.webhook_final_url"),
        )
    if not 200 <= reply.status_code < 300:
        raise DeliveryError(msg("delivery.webhook_status", status=reply.status_code))
