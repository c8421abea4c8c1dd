"""`manage.py calibrate_scale`, `evaluate_counting --scale` and the check of
`MARROWFIND_SCALE_CALIBRATION`, on generated fields."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import cv2
import pytest
from django.core.management import CommandError, call_command

from inference.checks import scale_calibration_check
from inference.engine.scale_calibration import MIN_FIELDS, SCALE_CALIBRATION_ENV, ScaleCalibration
from tests.engine.synthetic import ringed_field

FEW_CELLS = "few-cells.png"


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
    assert f"kept within {low:.1f}-{high:.1f}" in stdout.getvalue()
    stdout = StringIO()
    call_command("calibrate_scale", data=laboratory, out=out, json=True, stdout=stdout)
    assert json.loads(stdout.getvalue()) == ScaleCalibration.load(out).to_dict()


def test_too_few_fields_are_a_command_error_and_nothing_is_written(tmp_path: Path, laboratory: Path) -> None:
    for path in sorted(laboratory.iterdir())[:2]:
        path.unlink()
    out = tmp_path / "scale.json"
    with pytest.raises(CommandError, match=f"at least {MIN_FIELDS} fields"):
        call_command("calibrate_scale", data=laboratory, out=out, stdout=StringIO())
    assert not out.exists()


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
