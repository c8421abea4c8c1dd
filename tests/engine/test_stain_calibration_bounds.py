"""A stain calibration is never made or written unless `StainCalibration.load` would accept it: a
laboratory whose stain is beyond correction is told so when it calibrates, not by every analysis
failing once the file is installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.engine.perturbation import Perturbation
from inference.engine.stain_calibration import (
    MIN_FIELDS,
    StainCalibration,
    StainCalibrationError,
    calibrate_stain,
)
from tests.engine.synthetic import BLUE_GREY_RED_CELL, touching_field


def _pale_fields() -> list:
    """A laboratory's fields at 0.15 of their saturation: nuclei at about a seventh of the reference
    chroma, below the least gain a calibration file may hold."""
    pale = Perturbation(saturation=0.15)
    return [pale.apply(touching_field(10, seed, BLUE_GREY_RED_CELL).rgb) for seed in range(MIN_FIELDS)]


def test_a_stain_too_pale_to_correct_is_refused_saying_why() -> None:
    with pytest.raises(StainCalibrationError, match="outside what a calibration can correct") as refused:
        calibrate_stain(_pale_fields())
    message = str(refused.value)
    assert "chroma" in message
    assert "0.2 to 5" in message  # what can be corrected


@pytest.mark.parametrize(
    "calibration",
    [
        StainCalibration(chroma_gain=0.137, fields=24),
        StainCalibration(chroma_gain=6.0, fields=24),
        StainCalibration(hue_shift=40.0, fields=24),
        StainCalibration(hue_shift=5.0, nucleus_chroma=float("nan"), fields=24),
    ],
)
def test_a_calibration_the_loader_would_refuse_is_not_written(
    tmp_path: Path, calibration: StainCalibration
) -> None:
    path = tmp_path / "stain.json"
    StainCalibration(hue_shift=6.0, chroma_gain=1.2, fields=12).save(path)
    before = path.read_bytes()
    with pytest.raises(StainCalibrationError):
        calibration.save(path)
    assert path.read_bytes() == before  # the installed calibration is left as it was
    assert [p.name for p in tmp_path.iterdir()] == ["stain.json"]


def test_saving_replaces_the_file_whole_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "stain.json"
    StainCalibration(hue_shift=6.0, chroma_gain=1.2, fields=12).save(path)
    StainCalibration(hue_shift=-7.5, chroma_gain=0.5, fields=30).save(path)
    loaded = StainCalibration.load(path)
    assert (loaded.hue_shift, loaded.chroma_gain, loaded.fields) == (-7.5, 0.5, 30)
    assert [p.name for p in tmp_path.iterdir()] == ["stain.json"]
