"""Generated calls against the API's own OpenAPI document: no call may answer 500.

Schemathesis reads `/api/openapi.json` from a real Loa web app on loopback (a real SQLite
database, a real API token) and sends each operation valid and invalid inputs; every answer
must be documented (status, content type, body shape) and none a server error. The run is
derandomized and its size fixed, so it is the same run every time (about 30 seconds in
`make test`; `make fuzz` runs ten times as many cases).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pytest

from scheduler.app import Loa
from scheduler.auth import new_api_token
from scheduler.posts.requests import PostRequest
from tests.conftest import CONSOLE_CHANNELS, free_port, seed_console_users, write_config

schemathesis = pytest.importorskip("schemathesis")

# `make test` runs 60 cases per operation and mode (~30 s); `make fuzz` asks for more.
EXAMPLES_PER_OPERATION = int(os.environ.get("LOA_FUZZ_EXAMPLES", "60"))
VARS = {"hoat_dong": "ra quân tuyên truyền", "dia_diem": "chợ Quán Lau (TP Vinh)", "ngay": "06/05/2026"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real `loa run` web app (no engine) on loopback, its SQLite database and an admin's token."""
    from scheduler.auth import hash_password
    from scheduler.config import load_settings
    from scheduler.serving import ThreadedServer
    from scheduler.web.app import create_app

    folder = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    path = write_config(folder, channels=CONSOLE_CHANNELS, public_url=f"http://127.0.0.1:{port}")
    loa = Loa(load_settings(path))
    loa.init()
    seed_console_users(loa.engine, hash_password("mật khẩu dài 2026"))
    for n in range(3):  # some posts, so that ids 1–3 name something
        loa.posts.add(
            PostRequest(
                template="thang-van-dong",
                channels=["fb-bhxh-nghean", "zalo-bhxh-nghean"],
                variables=VARS,
                at=datetime.now(UTC) + timedelta(days=n + 1),
                created_by="bientap",
                draft=n == 2,
            )
        )
    token = new_api_token(loa.engine, "quantri", actor="test")
    try:
        with ThreadedServer(create_app(loa), host="127.0.0.1", port=port):
            yield f"http://127.0.0.1:{port}", token
    finally:
        loa.close()


def _fuzz(operation: Any, mode: Any, url: str, headers: dict[str, str], statuses: Counter[int]) -> str | None:
    """One operation in one generation mode: its first failure, or None."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        response = case.call(base_url=url, headers=headers, timeout=15)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=checks)

    try:
        call()
    except Exception as exc:  # every operation runs; the failures are reported together
        return f"{operation.label} ({mode.value}): {type(exc).__name__}: {str(exc)[:1500]}"
    return None


def test_generated_api_calls_never_answer_500(served: tuple[str, str]) -> None:
    from schemathesis import GenerationMode

    url, token = served
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    statuses: Counter[int] = Counter()
    failures = [
        failure
        for result, mode in product(schema.get_all_operations(), GenerationMode)
        if (failure := _fuzz(result.ok(), mode, url, headers, statuses)) is not None
    ]
    assert not failures, "\n\n".join(failures)
    # The run reached the handlers (not only refusals of the token or the route).
    assert sum(statuses.values()) >= 2 * EXAMPLES_PER_OPERATION and statuses[200] and statuses[400], statuses
