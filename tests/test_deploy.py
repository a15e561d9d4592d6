"""The README's production steps, run in order as written, then used: HTTPS through Caddy.

Each ```sh block between ``<!-- production:begin -->`` and ``<!-- production:end -->`` is run
by bash from the repository, with the server's paths moved under a temporary folder
(``/etc/loa`` → ``ROOT/etc/loa``, ``/opt/loa/bin/loa`` → this checkout's installed ``loa``),
``sudo`` dropped, and PostgreSQL reached as its superuser on 127.0.0.1 with a role and a
database of the test's own. A line the test cannot run on a CI machine (packages, the user
account, systemd's manager) is listed in ``NOT_RUN`` with the reason and what stands in for
it: the units are checked by ``systemd-analyze verify`` and started as their ``ExecStart``,
``Environment`` and ``EnvironmentFile`` say; Caddy (Debian's package) is started as Debian's
own ``caddy.service`` starts it, with its internal CA on free loopback ports.

Then a client trusting only Caddy's root certificate logs into the console (the session
cookie ``Secure`` with the ``__Host-`` prefix), follows a tracked link (the click stored with
the visitor's address, not Caddy's), reads ``/healthz``, is refused ``/metrics``; and
``loa doctor`` — step 8 — finds nothing wrong.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from tests.conftest import REPO, free_port

README = REPO / "README.md"
BEGIN, END = "<!-- production:begin -->", "<!-- production:end -->"
LOA = Path(sys.executable).with_name("loa")
# What the test does not run, and what stands in for it.
NOT_RUN = {
    "sudo apt-get install": "the CI machine's packages: .ci/run installs caddy and postgresql",
    "sudo useradd": "the test runs as the user it is; `-o loa`/`-g loa` are dropped",
    "sudo python3 -m venv /opt/loa": "this checkout's .venv is the installed Loa",
    "sudo /opt/loa/bin/pip install": "this checkout's .venv is the installed Loa",
    "sudo systemctl daemon-reload": "no service manager: systemd-analyze verify reads the units",
    "sudo systemctl enable --now loa": "the test starts what loa.service says",
    "sudo systemctl restart caddy": "the test starts what Debian's caddy.service says",
}
ADMIN_PASSWORD = "mat-khau-quan-tri-2026"


def production_blocks() -> list[str]:
    readme = README.read_text(encoding="utf-8")
    assert BEGIN in readme and END in readme, "README.md lost its production markers"
    section = readme[readme.index(BEGIN) : readme.index(END)]
    return re.findall(r"^```sh\n(.*?)^```", section, flags=re.DOTALL | re.MULTILINE)


@dataclass
class Server:
    """The temporary server: its root folder and the PostgreSQL role and database."""

    root: Path
    role: str
    database: str

    def relocate(self, line: str) -> str:
        moves = [
            ("sudo -u postgres psql", "psql -h 127.0.0.1 -U postgres"),
            ("sudo -u loa ", ""),
            ("sudo ", ""),
            (" -o loa", ""),
            (" -g loa", ""),
            ("/opt/loa/bin/loa", str(LOA)),
            ("/opt/loa/bin/python", sys.executable),
            ("/etc/loa", f"{self.root}/etc/loa"),
            ("/var/lib/loa", f"{self.root}/var/lib/loa"),
            ("/var/backups/loa", f"{self.root}/var/backups/loa"),
            ("/etc/caddy/", f"{self.root}/etc/caddy/"),
            ("/etc/systemd/system/", f"{self.root}/etc/systemd/system/"),
            ("-v role=loa", f"-v role={self.role}"),
            ("-v database=loa", f"-v database={self.database}"),
            ("postgresql://loa:", f"postgresql://{self.role}:"),
            ("5432/loa", f"5432/{self.database}"),
        ]
        for old, new in moves:
            line = line.replace(old, new)
        return line

    def script(self, block: str) -> str:
        lines = []
        for line in block.splitlines():
            reason = next((why for start, why in NOT_RUN.items() if line.startswith(start)), None)
            lines.append(f"# not run: {reason}" if reason else self.relocate(line))
        return "set -euo pipefail\n" + "\n".join(lines) + "\n"

    def run(self, block: str, stdin: str = "") -> None:
        script = self.script(block)
        done = subprocess.run(["bash", "-c", script], cwd=REPO, input=stdin, capture_output=True, text=True,
                              timeout=120, env=base_env(self.root))  # fmt: skip
        assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"


def base_env(root: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(root), "LANG": "C.UTF-8", "LOA_LANG": "en"}


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def environment_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def started_as(unit: Path, server: Server, extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A process started as the (relocated) unit says: Environment, EnvironmentFile, WorkingDirectory,
    ExecStartPre (each must succeed), then ExecStart."""
    settings = unit_settings(unit)
    env = base_env(server.root)
    for assignment in settings.get("Environment", []):
        key, _, value = assignment.partition("=")
        env[key] = value
    for name in settings.get("EnvironmentFile", []):
        env.update(environment_file(Path(name.lstrip("-"))))
    env.update(extra or {})
    folder = settings.get("WorkingDirectory", [str(server.root)])[0]
    for before in settings.get("ExecStartPre", []):
        done = subprocess.run(before.split(), cwd=folder, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (before, done.stderr)
    command = settings["ExecStart"][0].split()
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    tag = secrets.token_hex(4)
    found = Server(root=tmp_path / "server", role=f"loa_deploy_{tag}", database=f"loa_deploy_{tag}")
    found.root.mkdir()
    for folder in ("etc/caddy", "etc/systemd/system"):
        (found.root / folder).mkdir(parents=True)
    try:
        yield found
    finally:
        statements = (f'DROP DATABASE IF EXISTS "{found.database}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{found.role}"')
        for statement in statements if shutil.which("psql") else ():
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", statement],
                           capture_output=True, timeout=60)  # fmt: skip


def test_every_line_of_the_production_steps_is_run_or_has_its_reason() -> None:
    blocks = production_blocks()
    assert len(blocks) == 8
    lines = [line for block in blocks for line in block.splitlines()]
    stale = [start for start in NOT_RUN if not any(line.startswith(start) for line in lines)]
    assert not stale, f"NOT_RUN entries that match no README line: {stale}"


@pytest.mark.postgres
def test_the_production_steps_bring_loa_up_behind_caddy_with_https_and_postgresql(server: Server, sandbox: Any) -> None:
    from scheduler.channels.facebook.client import FacebookPublisher

    for tool, package in (("caddy", "caddy"), ("systemd-analyze", "systemd"), ("psql", "postgresql-client")):
        if shutil.which(tool) is None:
            # .ci/run installs them and sets LOA_REQUIRE_DEPLOY_TOOLS: there, a missing one fails.
            missing = f"{tool} is needed (apt-get install {package}; `make install-test` does it as root)"
            if os.environ.get("LOA_REQUIRE_DEPLOY_TOOLS"):
                pytest.fail(missing)
            pytest.skip(missing)
    try:
        import psycopg

        psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3).close()
    except Exception as exc:
        if os.environ.get("LOA_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here but unreachable: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres: {exc}")
    packages, install, settings, postgres, database, service, proxy, doctor = production_blocks()
    web_port, https_port, http_port = free_port(), free_port(), free_port()
    public_url = f"https://127.0.0.1:{https_port}"

    for block in (packages, install, settings):
        server.run(block)
    # "Then set public_url … to the name people will open": here, Caddy's loopback port.
    config = server.root / "etc/loa/config.toml"
    shipped = config.read_text(encoding="utf-8")
    edited = server.relocate(shipped).replace("https://loa.bhxhnghean.gov.vn", public_url)
    edited = edited.replace("port = 8000", f"port = {web_port}")
    # "… and add the channels": the commented example, live, its Graph API the sandbox's.
    channel = edited[edited.index("# [[channels]]") :]
    live = "\n".join(line.removeprefix("# ") for line in channel.splitlines())
    edited = edited.replace(channel, live + f'\napi_base = "{sandbox.url}{FacebookPublisher.sandbox_api_path}"\n')
    config.write_text(edited, encoding="utf-8")
    secrets_file = server.root / "etc/loa/loa.env"
    with secrets_file.open("a", encoding="utf-8") as secrets_:
        secrets_.write("LOA_FB_PAGE_TOKEN=sandbox-page-token-100000000000001\n")
    assert (secrets_file.stat().st_mode & 0o777) == 0o640
    assert re.search(r"^LOA_SECRET_KEY=\S{44}$", secrets_file.read_text(), re.M)  # the key, in the secrets only
    assert "LOA_SECRET_KEY=" not in config.read_text()

    server.run(postgres)
    assert f"postgresql://{server.role}:" in secrets_file.read_text()
    server.run(database, stdin=ADMIN_PASSWORD + "\n")

    server.run(service)
    units = server.root / "etc/systemd/system"
    for name in ("loa.service", "loa-worker@.service"):
        installed = units / name
        installed.write_text(server.relocate(installed.read_text()), encoding="utf-8")  # the install prefix
    both = [str(units / "loa.service"), str(units / "loa-worker@.service")]
    verified = subprocess.run(["systemd-analyze", "verify", *both], capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    loa = started_as(units / "loa.service", server)
    caddy_process: subprocess.Popen[str] | None = None
    try:
        server.run(proxy)
        caddy_env = server.root / "etc/loa/caddy.env"
        values = environment_file(caddy_env) | {
            "LOA_DOMAIN": f"127.0.0.1:{https_port}",
            "LOA_TLS": "internal",
            "LOA_UPSTREAM": f"127.0.0.1:{web_port}",
            # Only the test sets these: free loopback ports, no admin endpoint.
            "LOA_HTTP_PORT": str(http_port),
            "LOA_HTTPS_PORT": str(https_port),
            "LOA_CADDY_ADMIN": "off",
            "LOA_BIND": "127.0.0.1",
        }
        caddy_env.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
        debian_unit = Path("/lib/systemd/system/caddy.service")
        caddy_unit = server.root / "caddy.service"
        debian_start = "[Service]\nExecStart=/usr/bin/caddy run --environ --config /etc/caddy/Caddyfile\n"
        text_ = debian_unit.read_text() if debian_unit.exists() else debian_start
        drop_in = server.root / "etc/systemd/system/caddy.service.d/loa.conf"
        caddy_unit.write_text(server.relocate(text_ + drop_in.read_text()), encoding="utf-8")
        data = {"XDG_DATA_HOME": str(server.root / "caddy-data"), "XDG_CONFIG_HOME": str(server.root / "caddy-config")}
        caddy_process = started_as(caddy_unit, server, data)

        root_ca = server.root / "caddy-data/caddy/pki/authorities/local/root.crt"
        browser = requests.Session()
        browser.trust_env = False  # REQUESTS_CA_BUNDLE would override the one CA trusted here
        browser.verify = str(root_ca)
        browser.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"
        health = wait_for_https(browser, f"{public_url}/healthz", loa, caddy_process, root_ca)
        assert health.json()["service"] == "loa"
        with pytest.raises(requests.exceptions.SSLError):  # nobody else vouches for this certificate
            requests.get(f"{public_url}/healthz", timeout=10)

        form = browser.get(f"{public_url}/login", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert form.status_code == 200 and token
        signed_in = browser.post(f"{public_url}/login", allow_redirects=False, timeout=10,
                                 data={"username": "quantri", "password": ADMIN_PASSWORD,
                                       "csrf_token": token.group(1), "next": "/"})  # fmt: skip
        assert signed_in.status_code in (302, 303), signed_in.text
        session_header = signed_in.headers["set-cookie"]
        assert session_header.startswith("__Host-loa_session=") and "secure" in session_header.lower()
        cookie = next(c for c in browser.cookies if c.name == "__Host-loa_session")
        assert cookie.secure and cookie.path == "/" and not cookie.domain_specified
        dashboard = browser.get(f"{public_url}/", allow_redirects=False, timeout=10)
        assert dashboard.status_code == 200 and "quantri" in dashboard.text

        env = base_env(server.root) | environment_file(secrets_file)
        _tracked_link(config, env)
        click = browser.get(f"{public_url}/l/deploy001", allow_redirects=False, timeout=10)
        assert click.status_code == 302 and click.headers["location"].startswith("https://www.facebook.com/")
        _click_stored_with_the_visitors_address(config, env)

        assert browser.get(f"{public_url}/metrics", timeout=10).status_code == 404  # Caddy keeps it in
        assert requests.get(f"http://127.0.0.1:{web_port}/metrics", timeout=10).status_code == 200  # on the host

        script = server.script(doctor).replace("loa doctor'", "loa doctor --json'")
        # This host trusts Caddy's CA, as an intranet's machines would (a public CA needs nothing).
        trusting = base_env(server.root) | {"REQUESTS_CA_BUNDLE": str(root_ca)}
        checked = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                                 env=trusting)  # fmt: skip
        import json

        assert checked.stdout.startswith("{"), f"{script}\n{checked.stdout}\n{checked.stderr}"
        report = json.loads(checked.stdout)
        problems = [c for c in report["checks"] if c["status"] == "problem"]
        assert checked.returncode == 0 and not problems, problems
        verdicts = {c["check"]: c["status"] for c in report["checks"]}
        assert verdicts["https"] == "ok" and verdicts["public_url"] == "ok" and verdicts["database"] == "ok"
        assert verdicts["backups"] == "skipped"  # PostgreSQL: pg_dump, as the README says
    finally:
        if caddy_process is not None:
            stop(caddy_process)
        err = stop(loa)
    assert loa.returncode == 0, err


def wait_for_https(
    browser: requests.Session, url: str, loa: subprocess.Popen[str], caddy: subprocess.Popen[str], root_ca: Path
) -> requests.Response:
    deadline = time.monotonic() + 120  # a loaded CI machine starts both slowly
    last: object = "nothing yet"
    while True:
        for process in (loa, caddy):
            assert process.poll() is None, process.communicate()
        if root_ca.exists():
            try:
                answer = browser.get(url, timeout=20)
                if answer.status_code == 200:
                    return answer
                last = f"{answer.status_code} {answer.text[:300]}"
            except requests.RequestException as exc:
                last = exc
        if time.monotonic() > deadline:
            logs = f"caddy: {stop(caddy)[-6000:]}\nloa: {stop(loa)[-2000:]}"
            raise AssertionError(f"{url} did not answer over HTTPS: {last}\n{logs}")
        time.sleep(0.2)


def _tracked_link(config: Path, env: dict[str, str]) -> None:
    from scheduler.app import Loa
    from scheduler.config import load_settings
    from tests.test_operations_metrics import linked

    app = Loa(load_settings(config, environ=env))
    try:
        linked(app, "deploy001")
    finally:
        app.close()


def _click_stored_with_the_visitors_address(config: Path, env: dict[str, str]) -> None:
    from scheduler.config import load_settings
    from scheduler.store import make_engine

    engine = make_engine(load_settings(config, environ=env).database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT counted, reason FROM click")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(True, "counted")]
