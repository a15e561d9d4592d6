"""The reports, tracked-link counting, staff import and metrics suites, again on PostgreSQL.

The suites were written against SQLite; here their own seeds and their own assertions run on
a throwaway PostgreSQL database (the `postgres_url` fixture of conftest.py): the figures must
not depend on the dialect. Needs the server at 127.0.0.1:5432 (user postgres, trust auth);
skipped with a reason where it is absent, unless LOA_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import Publication, PublicationStatus
from scheduler.posts.requests import PostRequest
from scheduler.publishing.dispatcher import Dispatcher
from scheduler.reports.queries import Period, share_report
from scheduler.sandbox.server import SandboxServer
from scheduler.serving import ThreadedServer
from scheduler.sharing.service import SharingService
from scheduler.store import session_scope
from scheduler.web.app import create_app
from tests import test_metrics as metrics_suite
from tests import test_reports as reports_suite
from tests import test_sharing_import as import_suite
from tests import test_sharing_links as links_suite
from tests.conftest import Cli, cli_for, free_port, initialised, write_config

pytestmark = pytest.mark.postgres


# -- reports: the hand-computed seed of test_reports.py ----------------------------------------


@pytest.fixture
def pg_reports(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Path, Loa]]:
    config = write_config(tmp_path, database_url=postgres_url, extra=reports_suite.AN_TAM)
    app = Loa(load_settings(config))
    app.init()
    reports_suite.seed(app)
    yield config, app
    app.close()


def test_share_reports_and_summary_on_postgres(
    pg_reports: tuple[Path, Loa], capsys: pytest.CaptureFixture[str]
) -> None:
    config, app = pg_reports
    loa = cli_for(config, capsys)
    reports_suite.test_by_staff(loa, app)
    reports_suite.test_by_unit_channel_campaign_day(app)
    reports_suite.test_a_campaign_outside_the_period_and_the_edges_of_days(app)
    reports_suite.test_summary_figures_text_and_agreement(loa, app)
    reports_suite.test_every_format_agrees(loa, config.parent)


def test_days_follow_the_zone_across_a_dst_change_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    settings = load_settings(
        write_config(tmp_path, database_url=postgres_url, extra=reports_suite.AN_TAM),
        environ={"LOA_TIMEZONE": "Europe/Berlin"},
    )
    app = Loa(settings)
    app.init()
    reports_suite.seed(app)
    spring = Period(date(2026, 3, 28), date(2026, 5, 31), settings.tz)  # DST began 29/03
    busy = {r.key: r.shares for r in share_report(app.engine, settings, spring, "day").rows if r.shares}
    assert busy["2026-04-30"] == 1 and busy["2026-05-25"] == 1 and sum(busy.values()) == 9
    assert busy["2026-05-31"] == 2
    app.close()


# -- tracked links: the counting rules and the click writer ----------------------------------


@pytest.fixture
def pg_links(tmp_path: Path, postgres_url: str) -> Iterator[links_suite.Env]:
    with SandboxServer(host="127.0.0.1", port=0) as sandbox:
        port = free_port()
        path = write_config(
            tmp_path, sandbox_url=sandbox.url, public_url=f"http://127.0.0.1:{port}", database_url=postgres_url
        )
        loa = Loa(load_settings(path))
        loa.init()
        with ThreadedServer(create_app(loa), port=port) as server:
            post_id = loa.posts.add(
                PostRequest(template="thang-van-dong", channels=links_suite.CHANNELS, variables=links_suite.VARS)
            )
            Dispatcher(loa.settings, loa.engine, loa.vault, one_shot=True).run_once()
            with session_scope(loa.engine, read_only=True) as session:
                publications = {
                    p.platform: p for p in session.exec(select(Publication).where(col(Publication.post_id) == post_id))
                }
            assert all(p.status == PublicationStatus.published for p in publications.values()), publications
            yield links_suite.Env(
                path, loa, server.url, SharingService(loa.settings, loa.engine), post_id, publications, tmp_path
            )
        loa.close()


def test_tracked_links_count_on_postgres(pg_links: links_suite.Env, capsys: pytest.CaptureFixture[str]) -> None:
    env = pg_links
    # A person counts, the same person within 24 h does not, a crawler does not; a deactivated
    # staff member's link stops counting.
    links_suite.test_counting_rules_table(env, capsys)
    links_suite.test_crawlers_get_open_graph_tags_and_are_not_counted(env)
    links_suite.test_one_visitor_clicking_many_times_at_once_counts_once(env)
    links_suite.test_dedupe_window_and_recount(env)
    links_suite.test_report_by_staff_agrees_with_raw_events(env, capsys)
    links_suite.test_a_tap_records_one_share_and_opens_facebook_with_the_tracked_link(env)
    links_suite.test_share_export_link_and_record_cli(env, capsys)


# -- staff import --------------------------------------------------------------------------


@pytest.fixture
def pg_config(tmp_path: Path, postgres_url: str) -> Path:
    return initialised(write_config(tmp_path, database_url=postgres_url))


@pytest.fixture
def pg_loa(pg_config: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return cli_for(pg_config, capsys)


@pytest.mark.parametrize(
    "case",
    [
        "test_import_csv_with_bom_and_nfd_names",
        "test_import_xlsx_with_vietnamese_headers_and_reimport_updates",
        "test_conflicts_with_stored_staff_are_refused",
        "test_deactivate_and_activate",
        "test_export_neutralises_formula_names",
    ],
)
def test_staff_import_on_postgres(case: str, pg_loa: Cli, pg_config: Path, tmp_path: Path) -> None:
    run = getattr(import_suite, case)
    if case == "test_export_neutralises_formula_names":
        run(pg_loa, tmp_path)
    else:
        run(pg_loa, pg_config, tmp_path)


# -- metrics ------------------------------------------------------------------------------


@pytest.fixture
def pg_metrics(tmp_path: Path, postgres_url: str, sandbox: Any) -> Iterator[tuple[Path, Loa]]:
    """Like conftest's config_path: Loa's web app serves public_url (Zalo fetches covers there)."""
    port = free_port()
    path = write_config(
        tmp_path, sandbox_url=sandbox.url, public_url=f"http://127.0.0.1:{port}", database_url=postgres_url
    )
    app = Loa(load_settings(path))
    app.init()
    with ThreadedServer(create_app(app), port=port):
        yield path, app
    app.close()


@pytest.mark.parametrize(
    "case",
    [
        "test_collect_stores_what_each_platform_reports_and_post_show_shows_it",
        "test_snapshots_are_time_stamped_and_kept",
        "test_a_platform_error_skips_that_snapshot_with_its_reason_and_nothing_else",
        "test_a_throttle_pauses_that_channel_until_regain_and_the_others_go_on",
        "test_calls_are_batched_where_the_api_allows",
    ],
)
def test_metrics_on_postgres(
    case: str, pg_metrics: tuple[Path, Loa], sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path, app = pg_metrics
    run = getattr(metrics_suite, case)
    given = {"app": app, "loa": cli_for(path, capsys), "sandbox": sandbox}
    run(**{name: given[name] for name in inspect.signature(run).parameters})
