"""Checks of command-line input shared by the engine's command lines and the `manage.py` commands.

Bad input is refused before any long work starts, with a message that names what is wrong: numbers
at argument parsing (`positive_int` and the like, as argparse types), output locations up front
(`check_output_file`, `check_output_folder`), so that a run of minutes or hours does not end in a
traceback because its report or artifact cannot be written. `write_output_file` writes a report
whole or not at all, and turns a failed write into a `UsageError`.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from .atomic_files import atomic_write_bytes
from .errors import EngineError


class UsageError(EngineError):
    """A command-line option that cannot work: an output path that cannot be written, an option
    without the one it applies to."""


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    return _whole(text, 1, "a whole number of at least 1")


def non_negative_int(text: str) -> int:
    """argparse type: a whole number of at least 0."""
    return _whole(text, 0, "a whole number of at least 0")


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


def _whole(text: str, low: int, wanted: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
    return value


def check_output_file(path: str | Path, option: str, *, overwrite: bool = True) -> Path:
    """Refuse, before any work, an output file that cannot be written: its folder is missing or is
    a file, it is itself a folder, or its folder is not writable; and, with `overwrite` False (a
    command with a `--force` option, not given), a file that exists: a report written over, say, a
    model's model.json would destroy it. Nothing is created."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name, e.g. {path / 'report.json'}.")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise UsageError(
            f"{option} {path} already exists; it is not overwritten. Choose another file, or add --force "
            "to replace it."
        )
    folder = path.parent
    if not folder.exists():
        raise UsageError(f"{option} {path}: the folder {folder} does not exist; create it first.")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: {folder} is a file, not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: the folder {folder} is not writable.")
    return path


def write_output_file(path: str | Path, text: str, option: str) -> None:
    """Write `text` to `path` whole or not at all: into a temporary file beside it, then renamed over
    it, so a kill or a full disk leaves the previous file, never half a report. A failed write is a
    `UsageError` naming the option (the commands report those), not a traceback."""
    path = Path(path)
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"{option} {path} cannot be written: {exc.strerror or exc}.") from exc


def check_output_folder(path: str | Path, option: str) -> Path:
    """Refuse, before any work, an output folder that cannot be made: it is a file, or the nearest
    part of its path that exists is a file or not writable (missing folders are created with their
    parents when written). Nothing is created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file; give a folder (it is created if missing).")
    existing = next((part for part in (path, *path.parents) if part.exists()), Path("."))
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is a file, so the folder cannot be made there.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: {existing} is not writable.")
    return path
