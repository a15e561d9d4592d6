"""Schema migrations: a database made by Loa 0.1 upgrades with nothing lost, on SQLite and PostgreSQL.

``tests/fixtures/loa-0.1/posts.sql`` is the dump of a database that Loa 0.1 made through its
own services against the sandbox (posts in every status, staff and units, share links, shares
and clicks, metric snapshots and errors, users, an API token, a session, a login failure,
encrypted channel credentials, audit events). ``secret.key`` is the key its credentials were
encrypted with and ``api-token.txt`` the API token it issued. On PostgreSQL the same rows are
copied into the 0.1 schema (the baseline revision, without its stamp, as 0.1 left it).
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, Integer, MetaData, create_engine, insert, select, text
from sqlmodel import SQLModel

from scheduler import models
from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.schema import head_revision, schema_state
from scheduler.serving import ThreadedServer
from scheduler.store import make_engine
from tests.conftest import Cli, cli_for, free_port, write_config

FIXTURE = Path(__file__).parent / "fixtures" / "loa-0.1"
FB, ZALO = "fb-bhxh-nghean", "zalo-bhxh-nghean"
# What the 0.1 database holds (read off the dump; the test fails if the fixture changes).
ROWS_01 = {
    "post": 11,
    "publication": 21,
    "publishattempt": 12,
    "staff": 5,
    "unit": 5,
    "sharelink": 16,
    "share": 31,
    "click": 24,
    "metricsnapshot": 8,
    "metricerror": 1,
    "metricpause": 1,
    "user": 3,
    "apitoken": 1,
    "usersession": 1,
    "loginfailure": 1,
    "auditevent": 9,
    "campaign": 1,
    "channelstate": 2,
    "schedulertick": 1,
}


def _fixture_rows() -> tuple[MetaData, dict[str, list[dict[str, Any]]]]:
    """The 0.1 rows, typed by SQLAlchemy (booleans, datetimes) so any backend can take them."""
    source = create_engine("sqlite://")
    with source.begin() as connection:
        connection.connection.dbapi_connection.executescript((FIXTURE / "posts.sql").read_text())  # type: ignore[union-attr]
    metadata = MetaData()
    metadata.reflect(source)
    rows: dict[str, list[dict[str, Any]]] = {}
    with source.connect() as connection:
        for table in metadata.sorted_tables:
            rows[table.name] = [dict(row._mapping) for row in connection.execute(select(table))]
    return metadata, rows


def make_01_database(url: str) -> None:
    """The database as Loa 0.1 left it: its tables, its rows, no revision stamp."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.executescript((FIXTURE / "posts.sql").read_text())
        return
    from alembic import command

    from scheduler.schema import _config  # the same configuration `loa init` uses

    engine = make_engine(url)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "0001_baseline")
        finally:
            config.attributes.pop("connection", None)
        connection.execute(text("DROP TABLE alembic_version"))
    _, rows = _fixture_rows()
    target = MetaData()
    target.reflect(engine)
    with engine.begin() as connection:
        for table in target.sorted_tables:
            if rows.get(table.name):
                connection.execute(insert(table), rows[table.name])
            if "id" in table.c and isinstance(table.c.id.type, Integer) and rows.get(table.name):
                # Rows came with their ids: move each sequence past them, as 0.1's inserts had.
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), :n)"),
                    {"n": max(row["id"] for row in rows[table.name])},
                )
    engine.dispose()


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {name: connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one() for name in ROWS_01}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(FIXTURE / "secret.key", tmp_path / "secret.key")
    (tmp_path / "secret.key").chmod(0o600)
    return tmp_path


def _config(folder: Path, database_url: str, **kwargs: Any) -> Path:
    return write_config(folder, database_url=database_url, **kwargs)


def test_migrations_match_the_models(folder: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A model changed without its migration fails here: the migrated schema must equal the models."""
    loa = cli_for(_config(folder, database_url), capsys)
    result = loa("init")
    assert result.code == 0, result.stderr
    assert "Đã tạo cơ sở dữ liệu" in result.stdout
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    assert schema_state(engine).current == head_revision()
    engine.dispose()


def test_a_01_database_upgrades_with_nothing_lost(
    folder: Path, database_url: str, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    make_01_database(database_url)
    port = free_port()
    config = _config(folder, database_url, sandbox_url=sandbox.url, public_url=f"http://127.0.0.1:{port}")
    loa = cli_for(config, capsys)

    # Every command but `loa init` refuses the old schema, and none of them changes it.
    for command in (("publish-due",), ("worker",), ("run",), ("post", "list")):
        refused = loa(*command)
        assert refused.code == 1, (command, refused.stdout)
        assert "loa init" in refused.stderr and "0.1" in refused.stderr
    engine = make_engine(database_url)
    assert schema_state(engine).legacy
    assert counts(engine) == ROWS_01

    upgraded = loa("init")
    assert upgraded.code == 0, upgraded.stderr
    assert f"từ 0.1 lên {head_revision()}" in upgraded.stdout
    if database_url.startswith("sqlite"):
        backups = list(folder.glob("posts.before-*.db"))
        assert len(backups) == 1 and str(backups[0]) in upgraded.stdout
        with sqlite3.connect(backups[0]) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert copy.execute("SELECT count(*) FROM click").fetchone()[0] == ROWS_01["click"]
        assert not list(folder.glob("*.part*"))
    assert counts(engine) == ROWS_01
    with engine.connect() as connection:
        # 0.1's one shared tick row is kept, under a name no running process has.
        ticks = connection.execute(text("SELECT role, instance, host, pid FROM schedulertick")).all()
        assert [tuple(t) for t in ticks] == [("dispatcher", "", None, None)]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    again = loa("init")
    assert again.code == 0 and "nâng cấp" not in again.stdout

    _read_back_through_the_cli(loa)
    _clicks_cross_the_address_revision(loa, config, engine)
    _read_back_through_the_api(config, port)
    _credentials_still_decrypt(config)
    _scheduled_posts_go_out_once(loa, config, port, sandbox, engine)
    engine.dispose()


def _read_back_through_the_cli(loa: Cli) -> None:
    posts = loa("post", "list", "--json").json()["posts"]
    assert len(posts) == ROWS_01["post"]
    statuses = {p["status"] for p in posts}
    assert {"draft", "pending_approval", "scheduled", "published", "cancelled"} <= statuses
    publications = 0
    for post in posts:
        shown = loa("post", "show", str(post["id"]), "--json")
        assert shown.code == 0, shown.stderr
        publications += len(shown.json()["publications"])
    assert publications == ROWS_01["publication"]
    published = [p for post in posts for p in loa("post", "show", str(post["id"]), "--json").json()["publications"]]
    assert {p["status"] for p in published} >= {"published", "failed", "blocked", "missed", "unknown"}
    assert any(p["metrics"]["views"] == 240 for p in published)

    staff = loa("staff", "list", "--json", "--all").json()["staff"]
    assert len(staff) == ROWS_01["staff"]
    assert {s["unit"] for s in staff} >= {"Văn phòng", "BHXH huyện Nam Đàn"}
    assert any(not s["active"] for s in staff)

    users = loa("user", "list", "--json").json()["users"]
    assert sorted(u["username"] for u in users) == ["bientap", "duyet", "quantri"]

    channels = loa("channels", "--json").json()["channels"]
    assert {c["id"] for c in channels} == {FB, ZALO}

    shares = loa("report", "shares", "--by", "staff", "--from", "2026-01-01", "--to", "2027-12-31", "--format", "json")
    assert shares.code == 0, shares.stderr
    totals = shares.json()["totals"]
    assert totals["shares"] == ROWS_01["share"]
    assert totals["clicks"] == 20  # the 24 clicks less the 4 repeats that were not counted


def _clicks_cross_the_address_revision(loa: Cli, config: Path, engine: Engine) -> None:
    """0.1 kept no address hash: its clicks cross 0004_click_address with none, and the
    per-address bound leaves them alone — a recount with it agrees with one without it, and
    the report with the raw rows."""
    from scheduler.sharing.counting import recount

    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM click WHERE address_hash IS NOT NULL")).scalar() == 0
    unbounded = recount(engine, load_settings(config, overrides={"sharing": {"max_clicks_per_address": 0}}))
    assert unbounded.clicks == ROWS_01["click"]
    with engine.connect() as connection:
        before = connection.execute(text("SELECT id, counted, reason FROM click ORDER BY id")).all()
    bounded = loa("share", "recount", "--json")
    assert bounded.code == 0, bounded.stderr
    assert bounded.json()["changed"] == 0
    assert bounded.json()["counted_after"] == unbounded.counted_after
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id, counted, reason FROM click ORDER BY id")).all() == before
    # 0.1 stored no User-Agent: a recount keeps what was judged of the agent then.
    assert not any(row[2] == "empty_user_agent" for row in before)
    shares = loa("report", "shares", "--by", "staff", "--from", "2026-01-01", "--to", "2027-12-31", "--format", "json")
    assert shares.json()["totals"]["clicks"] == sum(1 for row in before if row[1])


def _read_back_through_the_api(config: Path, port: int) -> None:
    from scheduler.web.app import create_app

    token = (FIXTURE / "api-token.txt").read_text().strip()
    app = Loa(load_settings(config))
    try:
        with ThreadedServer(create_app(app), port=port):
            answer = requests.get(
                f"http://127.0.0.1:{port}/api/posts", headers={"authorization": f"Bearer {token}"}, timeout=10
            )
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["posts"]) == ROWS_01["post"]
            health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            assert health.status_code in (200, 503)
    finally:
        app.close()


def _credentials_still_decrypt(config: Path) -> None:
    app = Loa(load_settings(config))
    try:
        assert app.vault.load(ZALO) is not None
        assert (app.vault.load(ZALO) or {})["refresh_token"] == "zalo-refresh-fixture"
        assert (app.vault.load(FB) or {})["access_token"] == "fb-page-token-fixture"
    finally:
        app.close()


def _scheduled_posts_go_out_once(loa: Cli, config: Path, port: int, sandbox: Any, engine: Engine) -> None:
    from scheduler.web.app import create_app

    with engine.connect() as connection:
        scheduled = connection.execute(
            text("SELECT id, platform FROM publication WHERE status = 'scheduled' ORDER BY id")
        ).all()
    assert len(scheduled) == 3
    # Time passes: the scheduled publications come due.
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE publication SET due_at = :now WHERE status = 'scheduled'"),
            {"now": (datetime.now(UTC) - timedelta(seconds=1)).replace(tzinfo=None)},
        )
    before = _sandbox_posts(sandbox)
    app = Loa(load_settings(config))
    try:
        with ThreadedServer(create_app(app), port=port):  # Zalo fetches the cover from public_url
            first = loa("publish-due", "--json")
            assert first.code == 0, first.stderr
            assert first.json()["counts"]["published"] == 3, first.stdout
            second = loa("publish-due", "--json")
            assert second.json()["counts"]["published"] == 0
        with engine.connect() as connection:
            ticks = connection.execute(
                text("SELECT role, instance, host FROM schedulertick WHERE role <> 'dispatcher'")
            ).all()
        assert [tuple(t) for t in ticks] == [("publish-due", socket.gethostname(), socket.gethostname())]
    finally:
        app.close()
    after = _sandbox_posts(sandbox)
    assert after - before == 3


def _sandbox_posts(sandbox: Any) -> int:
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=10).json()
    facebook = sum(len(page.get("posts", [])) for page in state.get("facebook", {}).get("pages", {}).values())
    zalo = sum(len(oa.get("articles", [])) for oa in state.get("zalo", {}).get("oas", {}).values())
    return facebook + zalo


def test_a_database_ahead_of_the_code_is_refused(
    folder: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    loa = cli_for(_config(folder, database_url), capsys)
    assert loa("init").code == 0
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_a_newer_loa'"))
    for command in (("publish-due",), ("worker",), ("run",), ("init",), ("channels",)):
        refused = loa(*command)
        assert refused.code == 1, command
        assert "9999_from_a_newer_loa" in refused.stderr and head_revision() in refused.stderr
    engine.dispose()


def test_only_init_creates_the_schema(folder: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    loa = cli_for(_config(folder, database_url), capsys)
    refused = loa("post", "list")
    assert refused.code == 1 and "loa init" in refused.stderr
    engine = make_engine(database_url)
    state = schema_state(engine)
    assert not state.has_tables and state.current is None
    engine.dispose()
    assert loa("init").code == 0
    assert loa("post", "list", "--json").json() == {"posts": []}


def test_the_upgrade_backup_is_one_whole_file(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{folder / 'posts.db'}"
    make_01_database(url)
    result = cli_for(_config(folder, url), capsys)("init")
    assert result.code == 0, result.stderr
    (backup,) = folder.glob("posts.before-*.db")
    assert backup.stat().st_mode & 0o077 == 0
    assert not list(folder.glob("posts.before-*-wal")) and not list(folder.glob("posts.before-*-shm"))
    with sqlite3.connect(backup) as copy:
        tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "alembic_version" not in tables  # the copy is the database as it was before


def test_a_running_process_stops_claiming_when_the_database_moves_ahead(
    folder: Path, database_url: str, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from scheduler.posts.requests import PostRequest
    from scheduler.publishing.dispatcher import Dispatcher

    config = _config(folder, database_url, sandbox_url=sandbox.url)
    app = Loa(load_settings(config))
    app.init()
    app.posts.add(
        PostRequest(
            template="thang-van-dong",
            channels=[FB],
            variables={"hoat_dong": "ra quân", "dia_diem": "Vinh", "ngay": "06/05/2026"},
        )
    )
    dispatcher = Dispatcher(app.settings, app.engine, app.vault, one_shot=True)
    with app.engine.begin() as connection:  # another host ran a newer `loa init`
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_a_newer_loa'"))
    held = dispatcher.run_once()
    assert held.counts()["published"] == 0 and _sandbox_posts(sandbox) == 0
    assert "9999_from_a_newer_loa" in caplog.text
    with app.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()})
    assert dispatcher.run_once().counts()["published"] == 1
    assert _sandbox_posts(sandbox) == 1
    app.close()


def test_the_restore_mark_is_there_after_an_upgrade(folder: Path, database_url: str) -> None:
    # 0003_restore_mark: a 0.1 database upgraded gains the (empty) restore table, which then
    # keeps a restore's row with its UTC time, and the 0.1 rows are all still there.
    from sqlmodel import select as select_rows

    from scheduler.models import Restore
    from scheduler.store import session_scope

    make_01_database(database_url)
    loa = Loa(load_settings(_config(folder, database_url)))
    loa.init()
    assert counts(loa.engine) == ROWS_01
    at = datetime(2026, 5, 31, 17, 0, tzinfo=UTC)
    with session_scope(loa.engine) as session:
        assert list(session.exec(select_rows(Restore))) == []
        session.add(Restore(at=at, source="/srv/loa/backups/posts-2026-05-31.db", held=3, actor="cli:admin"))
    with session_scope(loa.engine, read_only=True) as session:
        (mark,) = session.exec(select_rows(Restore))
    assert mark.at == at and mark.held == 3 and mark.set_aside is None and mark.schema_before is None
    loa.close()


@pytest.mark.postgres
def test_the_queue_signal_trigger_notifies_listeners_of_the_0_1_rows(folder: Path, postgres_url: str) -> None:
    # 0005_queue_signal: on PostgreSQL a publication made `scheduled` notifies `loa_queue` on
    # commit, whoever wrote it; a claim (`scheduled` → `publishing`) and a rolled-back change
    # do not. The 0.1 rows cross the revision untouched.
    import psycopg

    make_01_database(postgres_url)
    loa = Loa(load_settings(_config(folder, postgres_url)))
    loa.init()
    assert counts(loa.engine) == ROWS_01
    with psycopg.connect(postgres_url, autocommit=True) as listener:
        listener.execute("LISTEN loa_queue")

        def heard() -> int:
            return sum(1 for _ in listener.notifies(timeout=0.5))

        with loa.engine.connect() as connection:
            some = connection.execute(text("SELECT min(id) FROM publication")).scalar_one()
        with psycopg.connect(postgres_url) as writer:  # another program, not Loa's code
            writer.execute("UPDATE publication SET status = 'publishing' WHERE id = %s", (some,))
            writer.commit()
            assert heard() == 0
            writer.execute("UPDATE publication SET status = 'scheduled' WHERE id = %s", (some,))
            writer.rollback()
            assert heard() == 0
            writer.execute("UPDATE publication SET status = 'scheduled', due_at = now() WHERE id = %s", (some,))
            writer.execute("UPDATE publication SET due_at = now() WHERE status = 'scheduled'")
            writer.commit()
            assert heard() == 1  # one notification per transaction, however many rows


def test_posts_cross_the_media_revision_and_take_photos(folder: Path, database_url: str) -> None:
    # 0006_media_library: the 0.1 posts gain no words and no media (they came from templates
    # and are shown as before); the library and a post's photos are stored beside them.
    from PIL import Image

    from scheduler.posts.requests import PostRequest

    make_01_database(database_url)
    loa = Loa(load_settings(_config(folder, database_url)))
    loa.init()
    assert counts(loa.engine) == ROWS_01
    with loa.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM post WHERE words_json IS NOT NULL")).scalar() == 0
        old = connection.execute(text("SELECT min(id) FROM post")).scalar_one()
    shown = loa.posts.show(old)
    assert shown["words"] == {} and shown["media"] == [] and shown["template"]
    picture = folder / "anh.jpg"
    Image.new("RGB", (640, 480), (200, 40, 40)).save(picture)
    (item,) = loa.media.add([picture], alt="Ảnh: Nguyễn Đạo")
    post_id = loa.posts.add(
        PostRequest(template="", text="Ra quân tuyên truyền", channels=[FB], media=[item["id"]], draft=True)
    )
    again = loa.posts.show(post_id)
    assert [m["id"] for m in again["media"]] == [item["id"]] and again["words"] == {"text": "Ra quân tuyên truyền"}
    assert counts(loa.engine)["post"] == ROWS_01["post"] + 1
def test_channels_move_into_the_database_on_upgrade(folder: Path, database_url: str) -> None:
    # 0007_channels_units: the 0.1 channel rows keep their credentials and status, are marked
    # as coming from config.toml and get their names and ids from it on `loa init`; units
    # gain their merge columns and accounts their (empty) unit.
    from sqlmodel import select as select_rows

    from scheduler.models import ChannelState, Unit, User
    from scheduler.store import session_scope

    make_01_database(database_url)
    with make_engine(database_url).connect() as before:
        credentials = dict(before.execute(text("SELECT id, credentials_encrypted FROM channelstate")).all())
    loa = Loa(load_settings(_config(folder, database_url)))
    loa.init()
    assert counts(loa.engine) == ROWS_01
    with session_scope(loa.engine, read_only=True) as session:
        rows = {row.id: row for row in session.exec(select_rows(ChannelState))}
        units = list(session.exec(select_rows(Unit)))
        users = list(session.exec(select_rows(User)))
    assert set(rows) == {FB, ZALO}
    for channel_id, row in rows.items():
        assert row.origin == "config" and row.name and row.external_id and row.archived_at is None
        assert row.credentials_encrypted == credentials[channel_id]  # the 0.1 tokens still decrypt
    assert all(u.merged_into_id is None for u in units) and all(u.unit_id is None for u in users)
    assert {c.id for c in loa.settings.channels} == {FB, ZALO}
    assert loa.vault.load(FB) is not None or loa.vault.load(ZALO) is not None
    loa.close()


def test_the_rollups_are_built_from_the_rows_on_upgrade(folder: Path, database_url: str) -> None:
    # 0008_share_rollups: the 0.1 database's shares and counted clicks are in the rollups at
    # once, equal to the raw rows at every grain, and the reports read them.
    from tests.test_rollups import _raw_rollups, _stored_rollups

    make_01_database(database_url)
    loa = Loa(load_settings(_config(folder, database_url)))
    loa.init()
    assert counts(loa.engine) == ROWS_01
    raw = _raw_rollups(loa)
    assert sum(raw["day"].values()) == ROWS_01["share"] + 20  # every share, the 20 counted clicks
    assert _stored_rollups(loa) == raw
    with loa.engine.connect() as connection:
        assert connection.execute(text("SELECT zone FROM rollupstate")).scalar_one() == "Asia/Ho_Chi_Minh"
    loa.close()


def test_the_audience_table_is_there_after_an_upgrade(folder: Path, database_url: str) -> None:
    # 0009_audience_snapshots: a 0.1 database upgraded gains the (empty) audience table, which
    # then keeps a channel's day with its UTC time; the 0.1 rows are all still there.
    from datetime import date

    from sqlmodel import select as select_rows

    from scheduler.models import AudienceSnapshot
    from scheduler.store import session_scope

    make_01_database(database_url)
    loa = Loa(load_settings(_config(folder, database_url)))
    loa.init()
    assert counts(loa.engine) == ROWS_01
    at = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
    with session_scope(loa.engine) as session:
        assert list(session.exec(select_rows(AudienceSnapshot))) == []
        session.add(AudienceSnapshot(channel_id="fb-bhxh-nghean", day=date(2026, 5, 31), at=at, followers=12_900))
    with session_scope(loa.engine, read_only=True) as session:
        (row,) = session.exec(select_rows(AudienceSnapshot))
    assert (row.day, row.at, row.followers, row.views) == (date(2026, 5, 31), at, 12_900, None)
    loa.close()


def test_the_outbox_takes_alerts_about_upgraded_rows(folder: Path, database_url: str) -> None:
    # 0010_alerts_outbox: the 0.1 accounts cross with no address of their own, and an alert
    # about a 0.1 publication fans out to them like any other.
    from sqlmodel import select as select_rows

    from scheduler.alerts.events import publication_alert
    from scheduler.alerts.outbox import Deliverer
    from scheduler.models import Outbox, Publication, User
    from scheduler.publishing.outcomes import Event
    from scheduler.store import session_scope

    make_01_database(database_url)
    loa = Loa(load_settings(_config(folder, database_url)))
    loa.init()
    assert counts(loa.engine) == ROWS_01
    with session_scope(loa.engine) as session:
        users = list(session.exec(select_rows(User)))
        assert users and all(u.email is None for u in users)
        admin = next(u for u in users if u.role == "admin")
        admin.email = "quantri@example.vn"
        session.add(admin)
        publication = session.exec(select_rows(Publication)).first()
        assert publication is not None
        publication.status = models.PublicationStatus.failed
        assert publication_alert(session, publication, Event.failed) is not None
    assert Deliverer(loa.settings, loa.engine).fan_out() == 1
    with session_scope(loa.engine, read_only=True) as session:
        kinds = sorted((o.kind, o.target) for o in session.exec(select_rows(Outbox)))
    assert ("email", "quantri@example.vn") in kinds
    loa.close()


def test_upgraded_accounts_read_vietnamese_mail_until_they_choose(folder: Path, database_url: str) -> None:
    # 0011_account_language: the 0.1 accounts cross with no language of their own (Vietnamese
    # mail); one that then picks English keeps it.
    from sqlmodel import select as select_rows

    from scheduler.alerts.recipients import mail_lang
    from scheduler.models import User
    from scheduler.store import session_scope

    make_01_database(database_url)
    loa = Loa(load_settings(_config(folder, database_url)))
    loa.init()
    assert counts(loa.engine) == ROWS_01
    with session_scope(loa.engine) as session:
        users = list(session.exec(select_rows(User)))
        assert users and all(u.lang is None and mail_lang(u) == "vi" for u in users)
        users[0].lang = "en"
        session.add(users[0])
        chosen = users[0].username
    with session_scope(loa.engine, read_only=True) as session:
        user = session.exec(select_rows(User).where(User.username == chosen)).one()
    assert (user.lang, mail_lang(user)) == ("en", "en")
    loa.close()
