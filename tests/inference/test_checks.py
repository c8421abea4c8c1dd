"""The system checks on `MARROWFIND_CENTRE_MODEL_DIR`, `MARROWFIND_RADIUS_MODEL_DIR` and
`MARROWFIND_STAIN_CALIBRATION`: a bad file is an error with its code, never a crash of `manage.py check`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inference.checks import centre_model_check, radius_model_check, stain_calibration_check
from inference.engine.red_cell_centres import CENTRE_MODEL_DIR, CENTRE_MODEL_ENV, MODEL_JSON
from inference.engine.red_cell_radius import RADIUS_MODEL_DIR, RADIUS_MODEL_ENV
from inference.engine.stain_calibration import STAIN_CALIBRATION_ENV, StainCalibration


def test_unset_or_a_tuned_network_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CENTRE_MODEL_ENV, raising=False)
    assert centre_model_check() == []
    monkeypatch.setenv(CENTRE_MODEL_ENV, str(CENTRE_MODEL_DIR))
    assert centre_model_check() == []


def test_a_missing_folder_or_an_untuned_network_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CENTRE_MODEL_ENV, str(tmp_path / "nowhere"))
    (error,) = centre_model_check()
    assert error.id == "inference.E001"
    assert "model.json is missing" in error.msg
    untuned = tmp_path / "untuned"
    shutil.copytree(CENTRE_MODEL_DIR, untuned)
    info = json.loads((untuned / MODEL_JSON).read_text())
    del info["peak_threshold"]
    (untuned / MODEL_JSON).write_text(json.dumps(info))
    monkeypatch.setenv(CENTRE_MODEL_ENV, str(untuned))
    (error,) = centre_model_check()
    assert "no peak_threshold" in error.msg
    assert "choose_centre_threshold" in (error.hint or "")


def test_the_radius_network_variable_is_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RADIUS_MODEL_ENV, raising=False)
    assert radius_model_check() == []
    monkeypatch.setenv(RADIUS_MODEL_ENV, str(RADIUS_MODEL_DIR))
    assert radius_model_check() == []
    untuned = tmp_path / "untuned"
    shutil.copytree(RADIUS_MODEL_DIR, untuned)
    info = json.loads((untuned / MODEL_JSON).read_text())
    del info["radius_factor"]
    (untuned / MODEL_JSON).write_text(json.dumps(info))
    monkeypatch.setenv(RADIUS_MODEL_ENV, str(untuned))
    (error,) = radius_model_check()
    assert error.id == "inference.E002"
    assert "no radius_factor" in error.msg
    assert "choose_radius_factor" in (error.hint or "")


def test_the_stain_calibration_variable_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STAIN_CALIBRATION_ENV, raising=False)
    assert stain_calibration_check() == []
    good = tmp_path / "stain.json"
    StainCalibration(hue_shift=6.0).save(good)
    monkeypatch.setenv(STAIN_CALIBRATION_ENV, str(good))
    assert stain_calibration_check() == []
    bad = tmp_path / "bad.json"
    bad.write_text('{"hue_shift": "six", "chroma_gain": 1.0}')
    monkeypatch.setenv(STAIN_CALIBRATION_ENV, str(bad))
    (error,) = stain_calibration_check()
    assert error.id == "inference.E003"
    assert "hue_shift must be a number" in error.msg
    assert "calibrate_stain" in (error.hint or "")


@pytest.mark.parametrize(
    "text",
    ['{"hue_shift": 1' + "0" * 5000 + "}", '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"],
    ids=["5001-digit number", "nested 100000 deep"],
)
def test_a_hostile_json_file_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    (tmp_path / "stain.json").write_text(text)
    monkeypatch.setenv(STAIN_CALIBRATION_ENV, str(tmp_path / "stain.json"))
    (error,) = stain_calibration_check()
    assert error.id == "inference.E003"
    assert "Cannot read the stain calibration" in error.msg
    (tmp_path / "centre").mkdir()
    (tmp_path / "centre" / MODEL_JSON).write_text(text)
    monkeypatch.setenv(CENTRE_MODEL_ENV, str(tmp_path / "centre"))
    (error,) = centre_model_check()
    assert error.id == "inference.E001"
    assert "model.json is missing or not JSON" in error.msg
