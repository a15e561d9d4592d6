"""Real receivers on loopback for the alert tests: an SMTP server (aiosmtpd) and a webhook endpoint."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import free_port


@dataclass
class Inbox:
    """What the SMTP server accepted; ``refuse`` replies are given to the next DATA commands first."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)
    on_data: Callable[[], None] | None = None
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        if self.on_data is not None:
            self.on_data()
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for _, m in self.messages]

    def distinct(self) -> dict[str, EmailMessage]:
        """The messages as a receiver deduplicating on Message-ID keeps them."""
        return {str(m["Message-ID"]): m for _, m in self.messages}


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with cryptography (no file shipped)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextmanager
def smtp_server(
    inbox: Inbox,
    *,
    port: int | None = None,
    starttls: tuple[Path, Path] | None = None,
    password: str | None = None,
) -> Iterator[int]:
    """aiosmtpd on loopback; with ``starttls`` it requires STARTTLS, with ``password`` a login."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    kwargs: dict[str, Any] = {}
    if starttls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(starttls[0]), str(starttls[1]))
        kwargs.update(tls_context=context, require_starttls=True)
    if password is not None:

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.password.decode() == password
            if ok:
                inbox.logins.append(data.login.decode())
            return AuthResult(success=ok)

        kwargs.update(authenticator=authenticate, auth_require_tls=starttls is not None)
    controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port(), **kwargs)
    controller.start()
    try:
        yield int(controller.port)
    finally:
        controller.stop()


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    calls: list[Call] = field(default_factory=list)
    # Replies for the next calls: (status, headers); afterwards 200.
    replies: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    url: str = ""


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.calls.append(Call(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status, headers = receiver.replies.pop(0) if receiver.replies else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/loa"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def mail_config(port: int, *, security: str = "none", extra: str = "", ca_file: Path | None = None) -> str:
    ca = f'ca_file = "{ca_file}"\n' if ca_file else ""
    return f"""
[mail]
host = "127.0.0.1"
port = {port}
security = "{security}"
from = "Loa BHXH Nghệ An <loa@bhxh-nghean.example.vn>"
timeout_seconds = 2
{ca}{extra}

[alerts]
retry_base_seconds = 1
retry_cap_seconds = 5
digest = false
"""
