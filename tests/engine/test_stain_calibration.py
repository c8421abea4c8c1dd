"""A laboratory's stain calibration: measured on its fields, it restores nuclei under a stain shift."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.engine.errors import DatasetError
from inference.engine.perturbation import Perturbation
from inference.engine.segmentation import SegmentationParams, segment_cells
from inference.engine.stain_calibration import (
    CHROMA_DEAD_ZONE,
    HUE_DEAD_ZONE,
    MIN_FIELDS,
    REFERENCE_CHROMA,
    REFERENCE_HUE,
    STAIN_CALIBRATION_ENV,
    StainCalibration,
    StainCalibrationError,
    calibrate_stain,
    calibrate_stain_folder,
    field_nucleus_colour,
    laboratory_calibration,
    undo_stain,
)
from tests.engine.synthetic import BACKGROUND, BLUE_GREY_RED_CELL, NUCLEUS, RED_CELL, touching_field

WATERSHED = SegmentationParams(use_centre_network=False)


def _fields(perturb: Perturbation | None = None, n: int = MIN_FIELDS) -> list[np.ndarray]:
    """Generated ALL-like fields (blue-grey red cells) of one laboratory, as its stain shows them."""
    rgbs = [touching_field(12, seed, BLUE_GREY_RED_CELL).rgb for seed in range(n)]
    return [perturb.apply(rgb) for rgb in rgbs] if perturb is not None else rgbs


def _hue_from_glass(colour: tuple[int, int, int]) -> float:
    lab = cv2.cvtColor(np.array([[colour, BACKGROUND]], dtype=np.uint8), cv2.COLOR_RGB2LAB).astype(float)
    a, b = lab[0, 0, 1:] - lab[0, 1, 1:]
    return math.degrees(math.atan2(b, a))


def test_a_fields_nucleus_colour_is_its_nuclei_hue() -> None:
    hue, chroma = field_nucleus_colour(touching_field(12, 0).rgb)
    assert hue == pytest.approx(_hue_from_glass(NUCLEUS), abs=2.0)
    assert chroma > 50  # the nuclei, not the red cells (chroma about 24 from the glass)


def test_a_shifted_stain_breaks_the_nuclei_and_its_calibration_restores_them() -> None:
    shifted = _fields(Perturbation(hue_degrees=15))
    field = touching_field(12, 0, BLUE_GREY_RED_CELL)
    assert segment_cells(field.rgb, WATERSHED, measure=False).n_nucleated == field.n_nucleated
    uncorrected = segment_cells(shifted[0], WATERSHED, measure=False)
    assert uncorrected.n_nucleated > field.n_nucleated + 5  # blue-grey red cells taken for nuclei

    calibration = calibrate_stain(shifted)
    assert calibration.hue_shift > HUE_DEAD_ZONE
    assert calibration.fields == MIN_FIELDS
    corrected = segment_cells(shifted[0], calibration.applied_to(WATERSHED), measure=False)
    assert (corrected.n_nucleated, corrected.n_red) == (field.n_nucleated, field.n_red)


def test_a_stain_turned_the_other_way_is_measured_the_other_way() -> None:
    calibration = calibrate_stain(_fields(Perturbation(hue_degrees=-15)))
    assert calibration.hue_shift < -HUE_DEAD_ZONE
    assert calibration.nucleus_hue == pytest.approx(REFERENCE_HUE + calibration.hue_shift)


def test_the_reference_stain_gets_no_correction() -> None:
    calibration = calibrate_stain(touching_field(12, seed).rgb for seed in range(MIN_FIELDS))
    assert (calibration.hue_shift, calibration.chroma_gain) == (0.0, 1.0)
    assert calibration.applied_to(WATERSHED) == WATERSHED


def test_a_paler_stain_is_measured_as_a_chroma_gain() -> None:
    calibration = calibrate_stain(_fields(Perturbation(saturation=0.6)))
    assert calibration.chroma_gain == pytest.approx(
        calibrate_stain(_fields()).nucleus_chroma * 0.6 / REFERENCE_CHROMA, rel=0.1
    )
    assert calibration.chroma_gain < 1.0 - CHROMA_DEAD_ZONE


def test_too_few_fields_are_refused() -> None:
    with pytest.raises(StainCalibrationError, match=f"at least {MIN_FIELDS} fields"):
        calibrate_stain(_fields(n=MIN_FIELDS - 1))


def test_fields_without_stained_nuclei_are_left_out_and_refused_when_too_few_remain() -> None:
    glass = np.full((120, 160, 3), BACKGROUND, dtype=np.uint8)
    pink = glass.copy()
    cv2.circle(pink, (80, 60), 20, RED_CELL, thickness=-1)
    calibration = calibrate_stain([*_fields(), pink, pink])
    assert calibration.fields == MIN_FIELDS  # the two fields of pink red cells alone are not read
    with pytest.raises(StainCalibrationError, match="stained nuclei"):
        calibrate_stain([pink] * (MIN_FIELDS + 2))


def test_undo_stain_turns_back_and_rescales_a_colour() -> None:
    hue, chroma = math.radians(-55.0 + 12.0), 60.0 * 1.5
    a, b = np.array([chroma * math.cos(hue)]), np.array([chroma * math.sin(hue)])
    a2, b2 = undo_stain(a, b, hue_shift=12.0, chroma_gain=1.5)
    assert math.degrees(math.atan2(b2[0], a2[0])) == pytest.approx(-55.0)
    assert math.hypot(a2[0], b2[0]) == pytest.approx(60.0)
    assert undo_stain(a, b, 0.0, 1.0) == (a, b)


def test_a_calibration_file_round_trips(tmp_path: Path) -> None:
    calibration = calibrate_stain(_fields(Perturbation(hue_degrees=15)))
    path = tmp_path / "stain.json"
    calibration.save(path)
    loaded = StainCalibration.load(path)
    assert loaded.hue_shift == pytest.approx(calibration.hue_shift, abs=1e-3)
    assert loaded.fields == calibration.fields
    assert json.loads(path.read_text())["reference_hue"] == REFERENCE_HUE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "Cannot read"),
        ("[1, 2]", "JSON object"),
        ('{"chroma_gain": 1.0}', "hue_shift must be a number"),
        ('{"hue_shift": 40, "chroma_gain": 1.0}', "hue_shift must be a number in \\[-25, 25\\]"),
        ('{"hue_shift": 5, "chroma_gain": true}', "chroma_gain"),
        ('{"hue_shift": NaN, "chroma_gain": 1.0}', "hue_shift"),
        ('{"hue_shift": 5, "chroma_gain": 1.0, "fields": "many"}', "fields"),
    ],
)
def test_malformed_calibration_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "stain.json"
    path.write_text(text)
    with pytest.raises(StainCalibrationError, match=message):
        StainCalibration.load(path)


def test_the_laboratory_calibration_is_the_file_the_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STAIN_CALIBRATION_ENV, raising=False)
    assert laboratory_calibration() == StainCalibration()
    path = tmp_path / "stain.json"
    StainCalibration(hue_shift=7.5, chroma_gain=0.8, fields=40).save(path)
    monkeypatch.setenv(STAIN_CALIBRATION_ENV, str(path))
    assert (laboratory_calibration().hue_shift, laboratory_calibration().chroma_gain) == (7.5, 0.8)


def test_a_folder_is_calibrated_on_every_image_in_it(tmp_path: Path) -> None:
    for index, rgb in enumerate(_fields(n=MIN_FIELDS + 1)):
        folder = tmp_path / ("Early" if index % 2 else "Pre")
        folder.mkdir(exist_ok=True)
        cv2.imwrite(str(folder / f"field-{index}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not an image")
    calibration = calibrate_stain_folder(tmp_path, perturb=Perturbation(hue_degrees=15), progress=False)
    assert calibration.fields == MIN_FIELDS + 1
    assert calibration.hue_shift > HUE_DEAD_ZONE
    with pytest.raises(DatasetError, match="not a folder"):
        calibrate_stain_folder(tmp_path / "missing", progress=False)
    (tmp_path / "Pre" / "cut.png").write_bytes((tmp_path / "Pre" / "field-0.png").read_bytes()[:200])
    with pytest.raises(StainCalibrationError, match=r"cut\.png"):
        calibrate_stain_folder(tmp_path, progress=False)
