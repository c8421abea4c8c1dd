"""`manage.py calibrate_stain`, and `evaluate_counting --stain`, on generated fields."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import cv2
import pytest
from django.core.management import CommandError, call_command

from inference.engine.stain_calibration import MIN_FIELDS, STAIN_CALIBRATION_ENV, StainCalibration
from tests.engine.synthetic import BLUE_GREY_RED_CELL, touching_field


@pytest.fixture
def laboratory(tmp_path: Path) -> Path:
    """A folder of generated ALL-like fields (blue-grey red cells), one laboratory's."""
    folder = tmp_path / "fields"
    folder.mkdir()
    for seed in range(MIN_FIELDS):
        rgb = touching_field(10, seed, BLUE_GREY_RED_CELL).rgb
        cv2.imwrite(str(folder / f"field-{seed}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def test_writes_the_calibration_and_says_what_it_corrects(tmp_path: Path, laboratory: Path) -> None:
    out = tmp_path / "stain.json"
    stdout = StringIO()
    call_command("calibrate_stain", data=laboratory, out=out, perturb="hue=15", stdout=stdout)
    calibration = StainCalibration.load(out)
    assert calibration.fields == MIN_FIELDS
    assert calibration.hue_shift > 3
    assert f"the correction (hue +{calibration.hue_shift:.1f} degrees, chroma x1.00)" in stdout.getvalue()
    stdout = StringIO()
    call_command("calibrate_stain", data=laboratory, out=out, json=True, force=True, stdout=stdout)
    assert json.loads(stdout.getvalue()) == {
        "calibration": StainCalibration.load(out).to_dict(),
        "check": None,
    }


def test_too_few_fields_are_a_command_error(tmp_path: Path, laboratory: Path) -> None:
    next(laboratory.iterdir()).unlink()
    out = tmp_path / "stain.json"
    with pytest.raises(CommandError, match=f"at least {MIN_FIELDS} fields"):
        call_command("calibrate_stain", data=laboratory, out=out, stdout=StringIO())
    assert not out.exists()


def test_evaluate_counting_counts_under_a_stain_calibration(
    tmp_path: Path, voc_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STAIN_CALIBRATION_ENV, raising=False)
    stdout = StringIO()
    call_command("evaluate_counting", data=voc_folder, stdout=stdout)
    assert json.loads(stdout.getvalue())["stain_calibration"]["hue_shift"] == 0.0

    saved = tmp_path / "stain.json"
    StainCalibration(hue_shift=6.5, chroma_gain=0.8, fields=12).save(saved)
    for options in ({"stain": str(saved)}, {}):
        monkeypatch.setenv(STAIN_CALIBRATION_ENV, str(saved))
        stdout = StringIO()
        call_command("evaluate_counting", data=voc_folder, stdout=stdout, **options)
        assert json.loads(stdout.getvalue())["stain_calibration"]["chroma_gain"] == 0.8
    stdout = StringIO()
    call_command("evaluate_counting", data=voc_folder, stain="none", stdout=stdout)
    assert json.loads(stdout.getvalue())["stain_calibration"]["chroma_gain"] == 1.0

    with pytest.raises(CommandError, match=f"at least {MIN_FIELDS} fields"):
        call_command("evaluate_counting", data=voc_folder, stain="auto", stdout=StringIO())
    with pytest.raises(CommandError, match="Cannot read the stain calibration"):
        call_command(
            "evaluate_counting", data=voc_folder, stain=str(tmp_path / "nowhere.json"), stdout=StringIO()
        )


def test_auto_calibrates_on_the_folder_and_restores_the_nucleated_count(
    tmp_path: Path, laboratory: Path
) -> None:
    field = touching_field(10, 0, BLUE_GREY_RED_CELL)
    counts = _counts(tmp_path / "counts.csv", field.n_nucleated)
    errors = {}
    for stain in ("none", "auto"):
        stdout = StringIO()
        call_command(
            "evaluate_counting",
            data=laboratory,
            counts=counts,
            perturb="hue=15",
            stain=stain,
            watershed_only=True,
            stdout=stdout,
        )
        errors[stain] = json.loads(stdout.getvalue())["nucleated"]["mae"]
    assert errors["none"] > 5  # the turned stain makes red cells nuclei
    assert errors["auto"] == 0.0


def _counts(path: Path, nucleated: int) -> Path:
    path.write_text("image,nucleated\n" + "".join(f"field-{seed}.png,{nucleated}\n" for seed in range(3)))
    return path


def test_with_counts_the_correction_is_written_only_when_it_counts_no_worse(
    tmp_path: Path, laboratory: Path
) -> None:
    field = touching_field(10, 0, BLUE_GREY_RED_CELL)
    out = tmp_path / "stain.json"
    stdout = StringIO()
    counts = _counts(tmp_path / "counts.csv", field.n_nucleated)
    call_command(
        "calibrate_stain", data=laboratory, out=out, counts=counts, perturb="hue=15", json=True, stdout=stdout
    )
    check = json.loads(stdout.getvalue())["check"]
    assert check["worse"] == []
    assert check["with"]["nucleated"]["mae"] == 0.0 < check["without"]["nucleated"]["mae"]
    assert StainCalibration.load(out).hue_shift > 3

    # Counts that agree with the uncorrected segmentation (red cells taken for nuclei) refuse it.
    out.unlink()
    wrong = _counts(tmp_path / "wrong.csv", field.n_nucleated + 10)
    with pytest.raises(CommandError, match=r"Not written: the correction \(hue \+\d"):
        call_command(
            "calibrate_stain", data=laboratory, out=out, counts=wrong, perturb="hue=15", stdout=StringIO()
        )
    assert not out.exists()


def test_with_counts_and_no_correction_there_is_nothing_to_check(tmp_path: Path, laboratory: Path) -> None:
    stdout = StringIO()
    counts = _counts(tmp_path / "counts.csv", 2)
    out = tmp_path / "stain.json"
    call_command("calibrate_stain", data=laboratory, out=out, counts=counts, json=True, stdout=stdout)
    assert json.loads(stdout.getvalue())["check"] is None
    assert not StainCalibration.load(out).corrects
