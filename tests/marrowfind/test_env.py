"""Settings come from the environment through typed readers that stop start-up on a malformed value,
with a message naming the variable; the production profile refuses to start without a secret key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from marrowfind.env import parse_database_url, read_bool, read_int, read_list, read_secret, read_str

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VAR = "MARROWFIND_TEST_SETTING"


@pytest.fixture(autouse=True)
def _unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    monkeypatch.delenv(f"{VAR}_FILE", raising=False)


# ---- read_bool ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", "on", " true "])
def test_read_bool_true(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(VAR, value)
    assert read_bool(VAR, False) is True


@pytest.mark.parametrize("value", ["0", "false", "False", "no", "OFF", ""])
def test_read_bool_false(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(VAR, value)
    assert read_bool(VAR, True) is False


@pytest.mark.parametrize("default", [True, False])
def test_read_bool_unset_gives_the_default(default: bool) -> None:
    assert read_bool(VAR, default) is default


@pytest.mark.parametrize("value", ["maybe", "2", "tru", "y e s"])
def test_read_bool_malformed(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(VAR, value)
    with pytest.raises(ImproperlyConfigured, match=rf"^{VAR} must be a boolean.*{value!r}"):
        read_bool(VAR, False)


# ---- read_int ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("42", 42), (" 7 ", 7), ("-3", -3), ("0", 0)])
def test_read_int(monkeypatch: pytest.MonkeyPatch, value: str, expected: int) -> None:
    monkeypatch.setenv(VAR, value)
    assert read_int(VAR, 5) == expected


def test_read_int_unset_gives_the_default() -> None:
    assert read_int(VAR, 5, minimum=10) == 5


@pytest.mark.parametrize("value", ["", "ten", "1.5", "1e3", "12abc"])
def test_read_int_malformed(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(VAR, value)
    with pytest.raises(ImproperlyConfigured, match=rf"^{VAR} must be a whole number"):
        read_int(VAR, 5)


def test_read_int_below_the_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "1023")
    with pytest.raises(ImproperlyConfigured, match=rf"^{VAR} must be at least 1024, not 1023"):
        read_int(VAR, 2048, minimum=1024)
    monkeypatch.setenv(VAR, "1024")
    assert read_int(VAR, 2048, minimum=1024) == 1024


# ---- read_list and read_str --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a.example,b.example", ["a.example", "b.example"]),
        (" a.example , b.example ,", ["a.example", "b.example"]),
        ("single", ["single"]),
        ("", []),
        (" , ,", []),
    ],
)
def test_read_list(monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]) -> None:
    monkeypatch.setenv(VAR, value)
    assert read_list(VAR, ["default"]) == expected


def test_read_list_unset_gives_the_default() -> None:
    assert read_list(VAR, ["localhost"]) == ["localhost"]


def test_read_str_strips_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_str(VAR) is None
    assert read_str(VAR, "fallback") == "fallback"
    monkeypatch.setenv(VAR, "  value \n")
    assert read_str(VAR, "fallback") == "value"


# ---- read_secret -------------------------------------------------------------------------------


def test_read_secret_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_secret(VAR) is None
    monkeypatch.setenv(VAR, "s3cret")
    assert read_secret(VAR) == "s3cret"


def test_read_secret_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-the-file\n")  # the trailing newline of `echo` is not part of it
    monkeypatch.setenv(f"{VAR}_FILE", str(secret_file))
    assert read_secret(VAR) == "from-the-file"


def test_read_secret_both_set_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-the-file")
    monkeypatch.setenv(VAR, "direct")
    monkeypatch.setenv(f"{VAR}_FILE", str(secret_file))
    with pytest.raises(ImproperlyConfigured, match=rf"Set {VAR} or {VAR}_FILE, not both"):
        read_secret(VAR)


def test_read_secret_unreadable_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(f"{VAR}_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match=rf"^{VAR}_FILE points to an unreadable file"):
        read_secret(VAR)
    # A directory is no more readable as a secret than a missing file.
    monkeypatch.setenv(f"{VAR}_FILE", str(tmp_path))
    with pytest.raises(ImproperlyConfigured, match=rf"^{VAR}_FILE"):
        read_secret(VAR)


# ---- parse_database_url ------------------------------------------------------------------------


def test_postgres_url_with_port_and_options() -> None:
    config = parse_database_url(
        "postgres://mf_app:p%40ss%2Fword@db.internal:6543/marrowfind_prod?sslmode=require&connect_timeout=5"
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "marrowfind_prod"
    assert config["USER"] == "mf_app"
    assert config["PASSWORD"] == "p@ss/word"
    assert config["HOST"] == "db.internal"
    assert config["PORT"] == "6543"
    assert config["OPTIONS"] == {"sslmode": "require", "connect_timeout": "5"}


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pgsql"])
def test_postgres_url_without_port_or_password(scheme: str) -> None:
    config = parse_database_url(f"{scheme}://postgres@127.0.0.1/marrowfind")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("marrowfind", "postgres", "")
    assert (config["HOST"], config["PORT"]) == ("127.0.0.1", "")
    assert config["OPTIONS"] == {}


def test_sqlite_relative_path() -> None:
    config = parse_database_url("sqlite:///var/db.sqlite3")
    assert (config["ENGINE"], config["NAME"]) == ("django.db.backends.sqlite3", "var/db.sqlite3")


def test_sqlite_absolute_path() -> None:
    config = parse_database_url("sqlite:////srv/marrowfind/db.sqlite3")
    assert (config["ENGINE"], config["NAME"]) == ("django.db.backends.sqlite3", "/srv/marrowfind/db.sqlite3")


def test_sqlite_writers_wait_for_the_write_lock_and_readers_do_not() -> None:
    """See test_sqlite_concurrent_writers.py for what they prevent."""
    options = parse_database_url("sqlite:///var/db.sqlite3")["OPTIONS"]
    assert options == {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;",
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/marrowfind", r"DATABASE_URL scheme 'mysql' is not supported"),
        ("marrowfind.sqlite3", r"DATABASE_URL scheme '' is not supported"),
        ("postgres://postgres@127.0.0.1:5432/", r"DATABASE_URL for PostgreSQL needs a database name"),
        ("postgres://postgres@127.0.0.1:5432", r"DATABASE_URL for PostgreSQL needs a database name"),
        ("sqlite:///", r"DATABASE_URL for SQLite needs a file path"),
        ("postgres://postgres@127.0.0.1:port/marrowfind", r"DATABASE_URL has a malformed port"),
        ("postgres://postgres@127.0.0.1:99999/marrowfind", r"DATABASE_URL has a malformed port"),
    ],
)
def test_malformed_database_url(url: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_database_url(url)


# ---- start-up of the whole settings module -----------------------------------------------------


def _start_django(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter, with a clean environment of our choosing."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR"}}
    environment = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "marrowfind.settings",
        "MARROWFIND_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{(tmp_path / 'db.sqlite3').as_posix()}",
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = _start_django(tmp_path, MARROWFIND_PROFILE="production", ALLOWED_HOSTS="marrowfind.example")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY (or SECRET_KEY_FILE) is required in production." in result.stderr
    assert "started" not in result.stdout
    # No development key was generated as a fallback.
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_starts_with_a_secret_key_file(tmp_path: Path) -> None:
    # The control: the same environment with a key starts, so the refusal above is about the key.
    key_file = tmp_path / "key"
    key_file.write_text("k" * 60)
    result = _start_django(
        tmp_path,
        MARROWFIND_PROFILE="production",
        ALLOWED_HOSTS="marrowfind.example",
        SECRET_KEY_FILE=str(key_file),
    )
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_a_malformed_setting_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    result = _start_django(tmp_path, UPLOAD_MAX_BYTES="fifty megabytes")
    assert result.returncode != 0
    assert "UPLOAD_MAX_BYTES must be a whole number" in result.stderr


def test_an_unknown_profile_stops_start_up(tmp_path: Path) -> None:
    result = _start_django(tmp_path, MARROWFIND_PROFILE="staging")
    assert result.returncode != 0
    assert "MARROWFIND_PROFILE must be development or production" in result.stderr
