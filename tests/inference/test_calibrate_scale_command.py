"""`manage.py calibrate_scale`, `evaluate_counting --scale` and the check of
`MARROWFIND_SCALE_CALIBRATION`, on generated fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import cv2
import pytest
from django.core.management import CommandError, call_command

from inference.checks import scale_calibration_check
from inference.engine.scale_calibration import MIN_FIELDS, SCALE_CALIBRATION_ENV, ScaleCalibration
from inference.engine.stain_calibration import STAIN_CALIBRATION_ENV
from tests.engine.synthetic import ringed_field, touching_field

FEW_CELLS = "few-cells.png"
MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


@pytest.fixture
def laboratory(tmp_path: Path) -> Path:
    """One camera's fields: ten of 24 ringed red cells of radius 30, and one of nine (`FEW_CELLS`), on
    which the field's own estimate is about a quarter of that."""
    folder = tmp_path / "fields"
    folder.mkdir()
    fields = {f"field-{seed}.png": ringed_field(30, 6, 4, seed).rgb for seed in range(MIN_FIELDS)}
    fields[FEW_CELLS] = ringed_field(30, 3, 3).rgb
    for name, rgb in fields.items():
        cv2.imwrite(str(folder / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def test_writes_the_calibration_and_says_what_it_keeps_fields_within(
    tmp_path: Path, laboratory: Path
) -> None:
    out = tmp_path / "scale.json"
    stdout = StringIO()
    call_command("calibrate_scale", data=laboratory, out=out, stdout=stdout)
    calibration = ScaleCalibration.load(out)
    assert calibration.fields == MIN_FIELDS + 1
    assert calibration.radius_px == pytest.approx(30, rel=0.05)
    assert calibration.bounds is not None
    low, high = calibration.bounds
    assert f"red-cell radius {calibration.radius_px:.1f} pixels" in stdout.getvalue()
    # The field of nine cells is the one outside.
    assert f"kept within {low:.1f}-{high:.1f} (1 of these fields' own lie outside it)" in stdout.getvalue()
    stdout = StringIO()
    call_command("calibrate_scale", data=laboratory, out=out, json=True, force=True, stdout=stdout)
    assert json.loads(stdout.getvalue()) == {**ScaleCalibration.load(out).to_dict(), "warning": None}


def test_a_set_with_many_fields_outside_its_range_is_calibrated_with_a_warning(
    tmp_path: Path, laboratory: Path
) -> None:
    for seed in range(2):  # three of 13 fields of nine cells, whose estimate collapses
        rgb = ringed_field(30, 3, 3, seed + 1).rgb
        cv2.imwrite(str(laboratory / f"few-{seed}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    stderr = StringIO()
    call_command(
        "calibrate_scale", data=laboratory, out=tmp_path / "scale.json", stdout=StringIO(), stderr=stderr
    )
    assert "Warning: 3 of the 13 fields (23%) read a radius more than 1.35 times" in stderr.getvalue()
    assert ScaleCalibration.load(tmp_path / "scale.json").fields_outside == 3


def test_too_few_fields_are_a_command_error_and_nothing_is_written(tmp_path: Path, laboratory: Path) -> None:
    for path in sorted(laboratory.iterdir())[:2]:
        path.unlink()
    out = tmp_path / "scale.json"
    with pytest.raises(CommandError, match=f"at least {MIN_FIELDS} fields"):
        call_command("calibrate_scale", data=laboratory, out=out, stdout=StringIO())
    assert not out.exists()


@pytest.mark.parametrize("command", ["calibrate_scale", "calibrate_stain"])
def test_an_existing_or_unwritable_out_is_refused_before_any_work(
    tmp_path: Path, laboratory: Path, command: str
) -> None:
    existing = tmp_path / "installed.json"
    existing.write_text('{"laboratory": "kept"}')
    with pytest.raises(CommandError, match=r"already exists; it is not overwritten\..*--force"):
        call_command(command, data=tmp_path / "no-such-folder", out=existing, stdout=StringIO())
    assert existing.read_text() == '{"laboratory": "kept"}'
    with pytest.raises(CommandError, match="does not exist; create it first"):
        call_command(
            command, data=tmp_path / "no-such-folder", out=tmp_path / "no" / "x.json", stdout=StringIO()
        )


@pytest.mark.parametrize(
    ("command", "variable"),
    [("calibrate_scale", SCALE_CALIBRATION_ENV), ("calibrate_stain", STAIN_CALIBRATION_ENV)],
)
def test_a_broken_installed_calibration_does_not_stop_the_command_that_replaces_it(
    tmp_path: Path, command: str, variable: str
) -> None:
    # As run from the shell, where the system checks run first (call_command skips them): the check of
    # the broken file names this command as the fix, so it must not stop it.
    laboratory = tmp_path / "fields"
    laboratory.mkdir()
    for seed in range(MIN_FIELDS):  # white cells for the stain, many red cells for the scale
        cv2.imwrite(
            str(laboratory / f"field-{seed}.png"),
            cv2.cvtColor(touching_field(12, seed).rgb, cv2.COLOR_RGB2BGR),
        )
    installed = tmp_path / "installed.json"
    installed.write_text("{broken")
    environment = {**os.environ, variable: str(installed)}
    arguments = ["--data", str(laboratory), "--out", str(installed), "--force", "--json"]
    run = subprocess.run(  # noqa: S603 (our own interpreter running manage.py)
        [sys.executable, str(MANAGE), command, *arguments], env=environment, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(installed.read_text())["fields"] == MIN_FIELDS


def test_evaluate_counting_counts_the_few_cells_right_under_the_calibration(
    tmp_path: Path, laboratory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SCALE_CALIBRATION_ENV, raising=False)
    counts = tmp_path / "counts.csv"
    counts.write_text(f"image,red_cells\n{FEW_CELLS},9\nfield-0.png,24\n")
    saved = tmp_path / "scale.json"
    call_command("calibrate_scale", data=laboratory, out=saved, stdout=StringIO())

    def red_error(**options: str) -> float:
        stdout = StringIO()
        call_command("evaluate_counting", data=laboratory, counts=counts, stdout=stdout, **options)
        summary = json.loads(stdout.getvalue())
        return summary["red"]["mae"]

    assert red_error() > 40  # unset: no calibration, the rings cut into a hundred pieces
    assert red_error(scale="none") > 40
    assert red_error(scale="auto") == 0.0
    assert red_error(scale=str(saved)) == 0.0
    monkeypatch.setenv(SCALE_CALIBRATION_ENV, str(saved))
    assert red_error() == 0.0
    with pytest.raises(CommandError, match="Cannot read the scale calibration"):
        red_error(scale=str(tmp_path / "nowhere.json"))


def test_the_scale_calibration_variable_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCALE_CALIBRATION_ENV, raising=False)
    assert scale_calibration_check() == []
    good = tmp_path / "scale.json"
    ScaleCalibration(30.0, 20).save(good)
    monkeypatch.setenv(SCALE_CALIBRATION_ENV, str(good))
    assert scale_calibration_check() == []
    bad = tmp_path / "bad.json"
    bad.write_text('{"radius_px": -30}')
    monkeypatch.setenv(SCALE_CALIBRATION_ENV, str(bad))
    (error,) = scale_calibration_check()
    assert error.id == "inference.E005"
    assert "radius_px must be a number of pixels" in error.msg
    assert "calibrate_scale" in (error.hint or "")
