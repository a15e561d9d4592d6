"""Shared fixtures: a real sandbox on loopback, a real database (SQLite, PostgreSQL), a real config."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from scheduler.sandbox.server import SandboxServer


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """The platform emulator, listening on a free loopback port, fresh for each test."""
    from scheduler.sandbox.server import SandboxServer

    with SandboxServer(host="127.0.0.1", port=0) as server:
        yield server


REPO = Path(__file__).resolve().parent.parent


def write_config(
    folder: Path,
    *,
    sandbox_url: str = "http://127.0.0.1:8910",
    public_url: str = "http://127.0.0.1:8000",
    database_url: str | None = None,
    extra: str = "",
    channels: str | None = None,
) -> Path:
    """A config.toml for tests: the shipped templates and assets, a fresh SQLite file."""
    host, _, port = sandbox_url.removeprefix("http://").partition(":")
    database_url = database_url or f"sqlite:///{folder / 'posts.db'}"
    default_channels = """
[[channels]]
id = "fb-bhxh-nghean"
platform = "facebook"
name = "BHXH tỉnh Nghệ An"
external_id = "100000000000001"

[[channels]]
id = "zalo-bhxh-nghean"
platform = "zalo"
name = "BHXH Nghệ An (Zalo OA)"
external_id = "579745863508352884"
default_cover = "cover-default.jpg"
"""
    text = f"""
timezone = "Asia/Ho_Chi_Minh"
public_url = "{public_url}"
templates_dir = "{REPO / "templates"}"
assets_dir = "{REPO / "assets"}"
media_dir = "{folder / "media"}"

[database]
url = "{database_url}"

[sandbox]
enabled = false
host = "{host}"
port = {port or 8910}

[publishing]
grace_minutes = 60
request_timeout_seconds = 3
zalo_verify_interval_seconds = 0.05

[secrets]
key_file = "{folder / "secret.key"}"

[[campaigns]]
slug = "thang-van-dong-2026"
name = "Tháng Vận động triển khai BHXH, BHYT toàn dân năm 2026"
theme = "Bảo hiểm xã hội - An tâm cho mọi gia đình"
{extra}
{default_channels if channels is None else channels}
"""
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served_config(folder: Path, sandbox_url: str, *, database_url: str | None = None) -> Iterator[Path]:
    """A config wired to a sandbox, its database made, Loa's own web app serving its public_url.

    The web app is what Zalo fetches covers from, so it runs for the test's own config.
    """
    from scheduler.app import Loa
    from scheduler.config import load_settings
    from scheduler.serving import ThreadedServer
    from scheduler.web.app import create_app

    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    path = write_config(folder, sandbox_url=sandbox_url, public_url=public_url, database_url=database_url)
    loa = Loa(load_settings(path))
    loa.init()  # as `loa init` does before any other command
    try:
        with ThreadedServer(create_app(loa), port=port):
            yield path
    finally:
        loa.close()


@pytest.fixture
def config_path(tmp_path: Path, sandbox: SandboxServer) -> Iterator[Path]:
    """A config wired to a live sandbox, with Loa's own web app serving its public_url."""
    with served_config(tmp_path, sandbox.url) as path:
        yield path


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Cli = Callable[..., CliResult]


def cli_for(config_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run the real `loa` entry point in-process against a config."""
    from scheduler.cli.app import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(["--config", str(config_path), *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def loa(config_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`loa` against a config wired to the live sandbox."""
    return cli_for(config_path, capsys)


def initialised(path: Path) -> Path:
    """Run what `loa init` runs on the config's database (every other command needs it done)."""
    from scheduler.app import Loa
    from scheduler.config import load_settings

    loa = Loa(load_settings(path))
    try:
        loa.init()
    finally:
        loa.close()
    return path


@pytest.fixture
def offline_config(tmp_path: Path) -> Path:
    """A config whose database `loa init` has made (no platform is reachable)."""
    return initialised(write_config(tmp_path))


@pytest.fixture
def offline_loa(offline_config: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`loa` for commands that never reach a platform."""
    return cli_for(offline_config, capsys)


# -- the web console (test_console*.py, test_api.py, test_browser.py) ---------------------

CONSOLE_CHANNELS = """
[[channels]]
id = "fb-bhxh-nghean"
platform = "facebook"
name = "BHXH tỉnh Nghệ An"
external_id = "100000000000001"
approval = true

[[channels]]
id = "zalo-bhxh-nghean"
platform = "zalo"
name = "BHXH Nghệ An (Zalo OA)"
external_id = "579745863508352884"
default_cover = "cover-default.jpg"
"""
CONSOLE_PASSWORD = "mật khẩu dài 2026"
# username → role; "canbo" is a staff account linked to a staff member.
CONSOLE_USERS = {"quantri": "admin", "bientap": "editor", "bientap2": "editor", "duyet": "approver", "canbo": "staff"}


@pytest.fixture(scope="session")
def console_password_hash() -> str:
    """One real Argon2id hash for every seeded account (hashing costs ~0.2 s each)."""
    from scheduler.auth import hash_password

    return hash_password(CONSOLE_PASSWORD)


def seed_console_users(engine: Any, password_hash: str) -> None:
    from datetime import UTC, datetime

    from scheduler.models import Role, Staff, Unit, User
    from scheduler.store import session_scope

    with session_scope(engine) as session:
        unit = Unit(code="vinh", name="BHXH thành phố Vinh")
        session.add(unit)
        session.flush()
        assert unit.id is not None
        staff = Staff(unit_id=unit.id, full_name="Nguyễn Thị Lan", email="lan@example.vn", share_token="tok-lan-0001",
                      created_at=datetime.now(UTC))  # fmt: skip
        session.add(staff)
        session.flush()
        for username, role in CONSOLE_USERS.items():
            session.add(
                User(
                    username=username,
                    password_hash=password_hash,
                    role=Role(role),
                    staff_id=staff.id if role == "staff" else None,
                    created_at=datetime.now(UTC),
                )
            )


@pytest.fixture
def console_config(tmp_path: Path) -> Path:
    """Offline config for the console: the Facebook channel needs approval, Zalo does not."""
    return write_config(tmp_path, channels=CONSOLE_CHANNELS)


@pytest.fixture
def console_loa(console_config: Path, console_password_hash: str) -> Iterator[Any]:
    """A Loa with its database and the seeded console accounts (see CONSOLE_USERS)."""
    from scheduler.app import Loa
    from scheduler.config import load_settings

    app = Loa(load_settings(console_config))
    app.init()
    seed_console_users(app.engine, console_password_hash)
    yield app
    app.close()


@pytest.fixture(autouse=True)
def _python_sigpipe() -> Iterator[None]:
    """Give SIGPIPE back to Python after each test.

    `loa`'s main() lets SIGPIPE end the process (right for `loa … | head`), but tests run it
    in-process: a later write to a closed pipe or socket (a font lookup, a browser driver)
    would then kill the whole test run silently (exit 141).
    """
    import signal

    yield
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


# -- the database backends: SQLite, and PostgreSQL (also test_postgres.py) -------------------

POSTGRES_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A new database on the local PostgreSQL server, dropped afterwards.

    Skips the test with a reason where the server (or psycopg) is absent, unless
    LOA_REQUIRE_POSTGRES=1 (as `.ci/run` sets): then the test fails instead.
    """
    import os
    import uuid

    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True)
    except Exception as exc:  # no server, no driver: say so
        if os.environ.get("LOA_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here but unreachable: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres: {exc}")
    name = f"loa_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database, for tests that only make sense there (see throwaway_postgres)."""
    with throwaway_postgres() as url:
        yield url


# The backends Loa stores on. The mark is set at collection, so `-m "not postgres"` leaves the
# PostgreSQL cases out without connecting.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@contextmanager
def backend_database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file `posts.db` in ``folder``, or a throwaway PostgreSQL one."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'posts.db'}"
    else:
        with throwaway_postgres() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database of a test that must hold on every backend: it runs once on each.

    Pass it to `write_config(..., database_url=...)`. A test about the SQLite file itself (its
    pragmas, WAL, mode, a copy of it) does not take this fixture.
    """
    with backend_database(request.param, tmp_path) as url:
        yield url


# For a test that takes `database_url` through its fixtures but whose subject does not depend on
# the backend: it runs on SQLite alone. Say why where it is used.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
