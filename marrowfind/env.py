"""Typed readers for settings from the environment.

Malformed values stop start-up with a message naming the variable, instead of a surprise later.
`read_secret` also accepts `NAME_FILE`, the path of a file holding the value (container secrets).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def read_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value.strip()


def read_secret(name: str) -> str | None:
    """The value of NAME, or the content of the file named by NAME_FILE; setting both is an error."""
    direct, file_path = os.environ.get(name), os.environ.get(f"{name}_FILE")
    if direct is not None and file_path is not None:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
    if file_path is None:
        return direct
    try:
        return Path(file_path).read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE points to an unreadable file: {exc}") from exc


def read_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), not {value!r}.")


def read_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}.")
    return number


def read_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# SQLite (the embedded default): a transaction takes the write lock when it begins (IMMEDIATE), so
# writers queue for up to `timeout` seconds; under the default (DEFERRED) one that read first and then
# writes is refused at once with "database is locked" while another writes. WAL lets reads go on while
# one writes (the mode is kept in the file; the pragma is a no-op once it is set).
SQLITE_OPTIONS = {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}


def parse_database_url(url: str) -> dict[str, object]:
    """`postgres://user:pass@host:port/name?sslmode=require` or `sqlite:///relative/or//absolute.db`."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise ImproperlyConfigured("DATABASE_URL for SQLite needs a file path: sqlite:///var/db.sqlite3")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": dict(SQLITE_OPTIONS)}
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured("DATABASE_URL for PostgreSQL needs a database name after the host.")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured("DATABASE_URL has a malformed port.") from None
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parts.scheme!r} is not supported (postgres, sqlite).")
