"""TRUSTED_PROXY_COUNT (how many reverse proxies of our own stand in front of the application) is a
whole number of at least 0, by default 0; anything else stops start-up naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Print the setting from a fresh interpreter, with a clean environment of our choosing."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    environment = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "marrowfind.settings",
        "MARROWFIND_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{(tmp_path / 'db.sqlite3').as_posix()}",
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); print(django.conf.settings.TRUSTED_PROXY_COUNT)",
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("env", "expected"), [({}, "0"), ({"TRUSTED_PROXY_COUNT": "2"}, "2")])
def test_the_proxy_count_is_read(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    result = _start(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("one", "TRUSTED_PROXY_COUNT must be a whole number"), ("-1", "TRUSTED_PROXY_COUNT must be at least 0")],
)
def test_a_malformed_proxy_count_stops_start_up(tmp_path: Path, value: str, message: str) -> None:
    result = _start(tmp_path, TRUSTED_PROXY_COUNT=value)
    assert result.returncode != 0
    assert message in result.stderr
