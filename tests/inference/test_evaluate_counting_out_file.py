"""`manage.py evaluate_counting --out` as `evaluate_classifier --out`: an existing file is replaced only
with --force, the report is written whole or not at all, and it is strict JSON."""

from __future__ import annotations

import errno
import json
import os
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from inference.engine import cli_checks, counting


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_an_existing_report_is_replaced_only_with_force(tmp_path: Path, voc_folder: Path) -> None:
    out = tmp_path / "model.json"  # what a mistyped --out had overwritten
    out.write_text('{"name": "not a report"}')
    with pytest.raises(CommandError, match=r"already exists; it is not overwritten.*--force"):
        call_command("evaluate_counting", data=voc_folder, out=out, stdout=StringIO())
    assert out.read_text() == '{"name": "not a report"}'
    call_command("evaluate_counting", data=voc_folder, out=out, force=True, stdout=StringIO())
    assert _strict_json(out.read_text())["summary"]["images"] == 2


def test_a_failed_write_leaves_the_previous_file_whole(
    tmp_path: Path, voc_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.json"
    out.write_text("previous report")
    real_replace = os.replace

    def disk_full(source: Any, target: Any) -> None:
        if Path(target) == out:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(cli_checks.os, "replace", disk_full)
    with pytest.raises(CommandError, match=r"--out .*report\.json cannot be written: No space left"):
        call_command("evaluate_counting", data=voc_folder, out=out, force=True, stdout=StringIO())
    assert out.read_text() == "previous report"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report.json.")] == []


def test_the_report_and_the_printout_are_strict_json(
    tmp_path: Path, voc_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = counting.evaluate_counting

    def with_a_nan(*args: Any, **kwargs: Any) -> dict[str, Any]:
        report = real(*args, **kwargs)
        report["summary"]["red"]["mae"] = float("nan")  # a figure of no field, say
        return report

    monkeypatch.setattr(counting, "evaluate_counting", with_a_nan)
    out = tmp_path / "report.json"
    stdout = StringIO()
    call_command("evaluate_counting", data=voc_folder, out=out, stdout=stdout)
    assert _strict_json(out.read_text())["summary"]["red"]["mae"] is None
    assert _strict_json(stdout.getvalue())["red"]["mae"] is None
