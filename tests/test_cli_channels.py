"""`loa channels` in a narrow terminal: the ids every other command takes come out whole."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def channels_table(config: Path, columns: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOA_")}
    env.update(COLUMNS=str(columns), LANG="C.UTF-8")
    result = subprocess.run(
        [sys.executable, "-m", "scheduler", "--config", str(config), "channels"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("columns", [40, 60, 80])
def test_channel_ids_and_status_are_never_cut(offline_config: Path, columns: int) -> None:
    table = channels_table(offline_config, columns)
    for channel_id in ("fb-bhxh-nghean", "zalo-bhxh-nghean"):
        # Whole, on one line, in its own cell: copyable into the next command.
        assert re.search(rf"│ {channel_id} +│", table), table
    assert "trạng thái" in table and re.search(r"│ Hoạt động +│", table), table
    assert max(len(line) for line in table.splitlines()) <= columns  # the other columns gave way
