"""`bin/run-dev` (what `make run` ends with): the web server and the worker start and stop together.

Real processes on a free port and a migrated SQLite file in a temporary folder. A port in use is
refused before anything starts (the URL had been printed, then the server failed); when the web
server exits, the worker goes too (it had been left running); `var/` is closed to other users."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_DEV = ROOT / "bin" / "run-dev"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def dev_env(tmp_path: Path) -> dict[str, str]:
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(MARROWFIND_VAR_DIR=str(var), HOST="127.0.0.1", PORT=str(_free_port()))
    subprocess.run(  # noqa: S603 (our own interpreter running manage.py)
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--no-input"],
        env=env,
        check=True,
        capture_output=True,
    )
    return env


@pytest.fixture
def started(dev_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(  # noqa: S603 (our own script)
        [str(RUN_DEV)], env=dev_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def _answering(port: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            time.sleep(0.2)
    return False


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, read from /proc (field 4 of stat, after the name)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_the_worker_stops_with_the_web_server(
    started: subprocess.Popen[str], dev_env: dict[str, str]
) -> None:
    assert _answering(dev_env["PORT"], 60)
    children = _children(started.pid)
    assert len(children) == 2  # the worker and the web server
    server = next(pid for pid in children if b"runserver" in Path(f"/proc/{pid}/cmdline").read_bytes())
    os.kill(server, signal.SIGTERM)
    assert started.wait(timeout=15) is not None
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    assert (Path(dev_env["MARROWFIND_VAR_DIR"]).stat().st_mode & 0o077) == 0


def test_a_port_in_use_is_refused_before_anything_starts(dev_env: dict[str, str]) -> None:
    with socket.create_server(("127.0.0.1", int(dev_env["PORT"]))):
        done = subprocess.run(  # noqa: S603 (our own script)
            [str(RUN_DEV)], env=dev_env, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
        )
    assert done.returncode == 2
    assert f"Port {dev_env['PORT']} on 127.0.0.1 is in use" in done.stderr
    assert "Marrow-Find is at" not in done.stdout
