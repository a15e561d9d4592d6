"""`loa doctor`: every check an operator needs before users find a problem, each with its fix.

A check answers ``ok``, ``problem`` (with what to do) or ``skipped`` (it does not apply, or
an earlier problem hides it). The checks read; none of them changes the database, creates
the key file or starts anything. ``loa doctor`` exits 1 when any check found a problem.
"""

from __future__ import annotations

import os
import re
import shutil
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine
from sqlmodel import col, select

from scheduler.config import Settings, load_settings
from scheduler.errors import AuthError, LoaError
from scheduler.i18n import Message, Number, msg, translate

Status = Literal["ok", "problem", "skipped"]
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class Finding:
    """One check's verdict: what was found and, for a problem, the fix."""

    check: str
    status: Status
    message: Message | str
    fix: Message | None = None

    def as_json(self, lang: str) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "message": worded(lang, self.message),
            "fix": worded(lang, self.fix) if self.fix is not None else None,
        }


def worded(lang: str, text: Message | str) -> str:
    return translate(lang, text.id, **text.params) if isinstance(text, Message) else text


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.status != "problem" for f in self.findings)

    def as_json(self, lang: str) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [f.as_json(lang) for f in self.findings]}


def ok(check: str, message: Message) -> Finding:
    return Finding(check, "ok", message)


def problem(check: str, message: Message | str, fix: Message) -> Finding:
    return Finding(check, "problem", message, fix)


def skipped(check: str, message: Message) -> Finding:
    return Finding(check, "skipped", message)


# The checks, in the order they are shown: later ones are skipped when what they need failed.
CHECKS = ("config", "database", "migrations", "key", "channels", "public_url", "https", "mail", "disk", "backups")


def diagnose(config: str | Path | None, *, environ: Mapping[str, str] | None = None, lang: str = "vi") -> Report:
    """Run every check against the configuration at ``config`` (else $LOA_CONFIG, ./config.toml)."""
    environ = dict(os.environ) if environ is None else dict(environ)
    report = Report()
    try:
        settings = load_settings(config, environ=environ)
    except LoaError as exc:
        report.findings.append(problem("config", said(exc), msg("hint.doctor.config")))
        report.findings.extend(skipped(name, msg("doctor.skipped_config")) for name in CHECKS[1:])
        return report
    report.findings.append(ok("config", msg("doctor.config_ok", path=str(settings.base_dir))))
    from sqlalchemy.engine import make_url

    from scheduler.store import make_engine, sqlite_file

    url = settings.database_url
    missing = sqlite_file(make_url(url).database) if url.startswith("sqlite") else None
    if missing is not None and not missing.exists():
        # Opening it would create an empty file: the doctor changes nothing.
        report.findings.append(problem("database", msg("doctor.database_no_file", file=str(missing)),
                                       msg("hint.doctor.database_no_file")))  # fmt: skip
        report.findings.extend(
            skipped(name, msg("doctor.skipped_database")) for name in ("migrations", "key", "channels")
        )
        _the_rest(report, settings, None, environ)
        return report
    engine = make_engine(url)
    try:
        reachable, current = _database(report, settings, engine)
        if reachable and current:
            key, cipher = _key(settings, engine, environ)
            report.findings.append(key)
            report.findings.extend(_channels(settings, engine, environ, cipher))
        else:
            for name in ("key", "channels"):
                report.findings.append(skipped(name, msg("doctor.skipped_database")))
        _the_rest(report, settings, engine, environ)
    finally:
        engine.dispose()
    return report


def _the_rest(report: Report, settings: Settings, engine: Engine | None, environ: Mapping[str, str]) -> None:
    """The checks that need no usable database."""
    report.findings.append(_public_url(settings))
    report.findings.extend(_https(settings))
    report.findings.append(_mail(settings, environ))
    report.findings.extend(_webhooks(settings, environ))
    report.findings.append(_disk(settings, engine))
    report.findings.append(_backups(settings))


def _database(report: Report, settings: Settings, engine: Engine) -> tuple[bool, bool]:
    from scheduler.dbfaults import where
    from scheduler.schema import schema_state

    try:
        state = schema_state(engine)
    except LoaError as exc:
        report.findings.append(problem("database", said(exc), msg("hint.doctor.database")))
        report.findings.append(skipped("migrations", msg("doctor.skipped_database")))
        return False, False
    report.findings.append(ok("database", msg("doctor.database_ok", where=where(engine))))
    if state.up_to_date:
        report.findings.append(ok("migrations", msg("doctor.migrations_ok", revision=state.head)))
        return True, True
    if state.ahead:
        found = problem(
            "migrations",
            msg("doctor.migrations_ahead", current=state.current, head=state.head),
            msg("hint.doctor.migrations_ahead"),
        )
    elif not state.has_tables:
        found = problem("migrations", msg("doctor.migrations_empty"), msg("hint.doctor.migrations_behind"))
    else:
        found = problem(
            "migrations",
            msg("doctor.migrations_behind", current=state.current or "0.1", head=state.head),
            msg("hint.doctor.migrations_behind"),
        )
    report.findings.append(found)
    return True, False


def without_key(finding: Finding) -> tuple[Finding, None]:
    return finding, None


def _key(settings: Settings, engine: Engine, environ: Mapping[str, str]) -> tuple[Finding, Fernet | None]:
    """The key's verdict, and the key itself when it is usable (never made here: that is `loa run`'s)."""
    from scheduler.models import ChannelState
    from scheduler.store import session_scope

    raw = environ.get(settings.secrets.key_env)
    key_file = settings.path(settings.secrets.key_file)
    source = f"${settings.secrets.key_env}"
    with session_scope(engine, read_only=True) as session:
        stored = session.exec(
            select(ChannelState.id, ChannelState.credentials_encrypted).where(
                col(ChannelState.credentials_encrypted).is_not(None)
            )
        ).all()
    if raw is None:
        if not key_file.exists():
            if stored:
                return without_key(
                    problem(
                        "key",
                        msg("doctor.key_missing", variable=settings.secrets.key_env, file=str(key_file)),
                        msg("hint.key_missing"),
                    )
                )
            # No key to check tokens with: a renewal saved under a made-up key would be lost.
            return without_key(ok("key", msg("doctor.key_will_be_made", file=str(key_file))))
        try:
            raw = key_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            unreadable_key = msg("doctor.key_unreadable", source=str(key_file), reason=str(exc))
            return without_key(problem("key", unreadable_key, msg("hint.generate_fernet_key")))
        source = str(key_file)
    try:
        cipher = Fernet(raw.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        not_a_key = msg("error.not_a_fernet_key", source=source)
        return without_key(problem("key", not_a_key, msg("hint.generate_fernet_key")))
    unreadable = []
    for channel_id, blob in stored:
        try:
            cipher.decrypt(str(blob).encode("ascii"))
        except (InvalidToken, ValueError, UnicodeEncodeError):
            unreadable.append(channel_id)
    if unreadable:
        wrong = msg("doctor.key_wrong", source=source, channels=", ".join(unreadable))
        return problem("key", wrong, msg("hint.doctor.key_wrong")), None
    return ok("key", msg("doctor.key_ok", source=source, count=len(stored))), cipher


def _channels(settings: Settings, engine: Engine, environ: Mapping[str, str], cipher: Fernet | None) -> list[Finding]:
    from scheduler.channels.catalog import load_channels
    from scheduler.channels.factory import PublisherFactory
    from scheduler.models import ChannelState, ChannelStatus
    from scheduler.secrets import DatabaseTokenVault
    from scheduler.store import session_scope

    load_channels(engine, settings)  # the connected ones too, as `loa run` sees them (a read)
    channels = [c for c in settings.channels if not c.archived]
    if not channels:
        return [skipped("channels", msg("doctor.no_channels"))]
    if cipher is None:
        return [skipped("channels", msg("doctor.skipped_key"))]
    with session_scope(engine, read_only=True) as session:
        states = {s.id: s.status for s in session.exec(select(ChannelState))}
    vault = DatabaseTokenVault(engine, cipher)
    factory = PublisherFactory(settings, vault, environ=environ)
    findings = []
    try:
        for channel in channels:
            check = f"channels.{channel.id}"
            reconnect = msg("hint.doctor.reconnect", command=f"loa channels reconnect {channel.id}")
            if states.get(channel.id) is ChannelStatus.needs_reauth:
                findings.append(problem(check, msg("doctor.channel_needs_reauth", channel=channel.id), reconnect))
                continue
            try:
                publisher = factory.build(channel)
                publisher.check()
            except AuthError as exc:
                refused = msg("doctor.channel_token_refused", channel=channel.id, reason=said(exc))
                findings.append(problem(check, refused, reconnect))
            except LoaError as exc:
                unreachable = msg("doctor.channel_unreachable", channel=channel.id, reason=said(exc))
                findings.append(problem(check, unreachable, msg("hint.doctor.channel_unreachable")))
            else:
                findings.append(_lapsing(settings, channel.id, channel.mode, publisher, reconnect))
    finally:
        factory.close()
    return findings


def _lapsing(settings: Settings, channel: str, mode: str, publisher: Any, reconnect: Message) -> Finding:
    """A token that works today but lapses within ``doctor.token_warn_days`` is a problem now."""
    check = f"channels.{channel}"
    try:
        expires = publisher.token_expires_at()
    except LoaError:
        expires = None  # the token works; when it ends is only a bonus
    if expires is None:
        return ok(check, msg("doctor.channel_ok", channel=channel, mode=mode))
    when = expires.astimezone(settings.tz).strftime("%d/%m/%Y %H:%M")
    if expires - datetime.now(UTC) <= timedelta(days=settings.doctor.token_warn_days):
        return problem(check, msg("doctor.channel_token_lapsing", channel=channel, when=when), reconnect)
    return ok(check, msg("doctor.channel_ok_until", channel=channel, mode=mode, when=when))


def _get(settings: Settings, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(settings.public_url + path, timeout=settings.doctor.timeout_seconds, allow_redirects=False,
                        **kwargs)  # fmt: skip


def _public_url(settings: Settings) -> Finding:
    """Zalo fetches covers from ``public_url`` and tracked links are handed out with it: it must
    answer, from this host, with this Loa's own health document."""
    url = settings.public_url + "/healthz"
    try:
        answer = _get(settings, "/healthz")
    except requests.exceptions.SSLError as exc:
        return problem("public_url", msg("doctor.public_url_tls", url=url, reason=_short(exc)),
                       msg("hint.doctor.public_url_tls"))  # fmt: skip
    except requests.RequestException as exc:
        return problem("public_url", msg("doctor.public_url_silent", url=url, reason=_short(exc)),
                       msg("hint.doctor.public_url_silent"))  # fmt: skip
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("service") != "loa":
        return problem("public_url", msg("doctor.public_url_not_loa", url=url, status=answer.status_code),
                       msg("hint.doctor.public_url_not_loa"))  # fmt: skip
    return ok("public_url", msg("doctor.public_url_ok", url=settings.public_url, status=body.get("status", "?")))


def _https(settings: Settings) -> list[Finding]:
    public = urlsplit(settings.public_url)
    local = public.hostname in LOOPBACK
    if public.scheme != "https":
        if local:
            return [skipped("https", msg("doctor.https_local"))]
        return [problem("https", msg("doctor.https_plain", url=settings.public_url), msg("hint.doctor.https_plain"))]
    findings = []
    if not settings.web.trusted_proxies:
        findings.append(problem("https.proxy", msg("doctor.https_no_trusted_proxy"), msg("hint.doctor.trusted_proxy")))
    if settings.web.host not in LOOPBACK:
        findings.append(problem("https.listen", msg("doctor.https_open_port", host=settings.web.host),
                                msg("hint.doctor.listen_loopback")))  # fmt: skip
    try:
        answer = _get(settings, "/login")
        cookies = answer.headers.get("set-cookie", "")
    except requests.RequestException:
        cookies = None  # said by the public_url check already
    if cookies is not None:
        secure = "__Host-loa_session=" in cookies and "secure" in cookies.lower()
        if not secure:
            findings.append(problem("https.cookies", msg("doctor.https_cookie_plain"), msg("hint.doctor.https_cookie")))
    if not findings:
        findings.append(ok("https", msg("doctor.https_ok", url=settings.public_url)))
    return findings


def _mail(settings: Settings, environ: Mapping[str, str]) -> Finding:
    # Alerts and scheduled reports go out through [mail]; until it has a host there is
    # nothing to check (alerts wait in the outbox meanwhile).
    mail = settings.mail
    host = mail.host
    if not host:
        return skipped("mail", msg("doctor.mail_not_configured"))
    port = int(mail.effective_port)  # [mail] port, else the usual one for its security
    security = mail.security
    username = mail.username
    password_env = mail.password_env
    timeout = settings.doctor.timeout_seconds
    try:
        if security == "tls":
            context = ssl.create_default_context(cafile=mail.ca_file)
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if security == "starttls":
                client.starttls(context=ssl.create_default_context(cafile=mail.ca_file))
                client.ehlo()
            if username:
                password = environ.get(password_env or "")
                if not password:
                    return problem("mail", msg("doctor.mail_no_password", variable=password_env or "password_env"),
                                   msg("hint.secret_missing", variable=password_env or "password_env"))  # fmt: skip
                client.login(username, password)
    except (OSError, smtplib.SMTPException) as exc:
        return problem("mail", msg("doctor.mail_failed", server=f"{host}:{port}", reason=_short(exc)),
                       msg("hint.doctor.mail"))  # fmt: skip
    return ok("mail", msg("doctor.mail_ok", server=f"{host}:{port}"))


def _webhooks(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """Each webhook's address as it resolves now (a name may point at a private network since
    the settings were read) and its signing secret; the URL itself is not called."""
    from scheduler.alerts.webhooks import url_problem

    findings: list[Finding] = []
    for index, hook in enumerate(settings.webhooks):
        check = f"webhooks.{index}"
        found = url_problem(hook.url, allow_private=hook.allow_private, resolve=True)
        if found is not None:
            findings.append(problem(check, found, msg("hint.webhook_allow_private")))
        elif hook.secret_env and not environ.get(hook.secret_env):
            findings.append(problem(check, msg("delivery.webhook_secret_missing", variable=hook.secret_env),
                                    msg("hint.secret_missing", variable=hook.secret_env)))
        else:
            findings.append(ok(check, msg("doctor.webhook_ok", url=hook.url)))
    return findings


def _disk(settings: Settings, engine: Engine | None) -> Finding:
    from scheduler.store import free_disk_bytes

    free = free_disk_bytes(engine) if engine is not None else None
    where = settings.base_dir
    if free is None:  # a server database: its own host's disk is its administrator's
        try:
            free = shutil.disk_usage(where).free
        except OSError:
            return skipped("disk", msg("doctor.disk_unknown"))
    least = settings.doctor.min_free_disk_mib * 1024 * 1024
    free_mib = free // (1024 * 1024)
    if free < least:
        low = msg("doctor.disk_low", free=Number(free_mib, 0), least=Number(settings.doctor.min_free_disk_mib, 0))
        return problem("disk", low, msg("hint.doctor.disk"))
    return ok("disk", msg("doctor.disk_ok", free=Number(free_mib, 0)))


def _backups(settings: Settings, now: Callable[[], datetime] | None = None) -> Finding:
    from scheduler.operations.backups import newest_backup

    if not settings.database_url.startswith("sqlite"):
        return skipped("backups", msg("doctor.backups_postgres"))
    newest = newest_backup(settings.backups_path)
    if newest is None:
        return problem("backups", msg("doctor.backups_none", folder=str(settings.backups_path)),
                       msg("hint.doctor.backups_enable"))  # fmt: skip
    moment = (now or (lambda: datetime.now(UTC)))()
    age = moment - datetime.fromtimestamp(newest.stat().st_mtime, UTC)
    limit = timedelta(hours=settings.backups.every_hours + settings.doctor.backup_slack_hours)
    hours = int(age.total_seconds() // 3600)
    if age > limit:
        return problem("backups", msg("doctor.backups_old", file=str(newest), hours=hours),
                       msg("hint.doctor.backups_enable"))  # fmt: skip
    return ok("backups", msg("doctor.backups_ok", file=str(newest), hours=hours))


def said(exc: LoaError) -> Message:
    """An error's own message (without its hint), worded later in the reader's language."""
    return msg(exc.msgid, **exc.params)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    # requests wraps the reason three deep ("Max retries exceeded … NewConnectionError(…")
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if errno:
        return errno.group(0).strip()
    return text if len(text) <= 200 else text[:199] + "…"


__all__ = ["CHECKS", "Finding", "Report", "diagnose"]
