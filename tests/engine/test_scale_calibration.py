"""A laboratory's scale calibration: the median red-cell radius over its fields, and each field's
estimate kept within `RANGE_FACTOR` of it (`inference.engine.scale_calibration`)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.engine.count_cautions import CAUTION_SCALE_OUTSIDE_CALIBRATION
from inference.engine.errors import DatasetError
from inference.engine.scale_calibration import (
    MIN_FIELDS,
    RANGE_FACTOR,
    ScaleCalibration,
    ScaleCalibrationError,
    calibrate_scale,
    calibrate_scale_folder,
)
from inference.engine.segmentation import SegmentationParams, field_radius, learned_radius, segment_cells
from tests.engine.synthetic import ringed_field


def _write_fields(folder: Path, fields: list[np.ndarray]) -> Path:
    folder.mkdir()
    for index, rgb in enumerate(fields):
        cv2.imwrite(str(folder / f"field-{index}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def test_the_calibration_is_the_median_radius_with_its_quartiles() -> None:
    radii = [40.0 + step for step in range(11)] + [math.nan, -1.0]
    calibration = calibrate_scale(radii)
    assert calibration.radius_px == 45.0
    assert (calibration.lower_quartile_px, calibration.upper_quartile_px) == (42.5, 47.5)
    assert calibration.fields == 11
    assert calibration.bounds == pytest.approx((45.0 / RANGE_FACTOR, 45.0 * RANGE_FACTOR))
    assert calibration.applied_to(SegmentationParams()).radius_range == calibration.bounds


def test_too_few_fields_or_two_magnifications_are_refused() -> None:
    with pytest.raises(ScaleCalibrationError, match=f"at least {MIN_FIELDS} fields; {MIN_FIELDS - 1} were"):
        calibrate_scale([40.0] * (MIN_FIELDS - 1) + [math.inf])
    # Half the fields at 100x, half at 40x: two clusters of radii.
    with pytest.raises(ScaleCalibrationError, match="more than one magnification"):
        calibrate_scale([40.0] * 6 + [16.0] * 6)
    # A quarter at another magnification leaves the middle half within 1.5 times: the calibration is
    # made, and says that 10 of its 40 fields lie outside its range.
    crowded = calibrate_scale([40.0 + step % 6 for step in range(30)] + [9.0] * 10)
    assert crowded.fields_outside == 10
    assert crowded.crowded_out is not None
    assert crowded.crowded_out.startswith("10 of the 40 fields (25%) read a radius more than 1.35 times")
    assert calibrate_scale([40.0 + step % 6 for step in range(36)] + [9.0] * 4).crowded_out is None


def test_no_calibration_changes_nothing() -> None:
    none = ScaleCalibration()
    assert none.bounds is None
    assert none.applied_to(SegmentationParams()) == SegmentationParams()
    assert none.to_dict()["bounds_px"] is None


def test_it_is_saved_and_loaded_whole(tmp_path: Path) -> None:
    calibration = ScaleCalibration(42.5, 300, 40.8, 45.5)
    path = tmp_path / "scale.json"
    calibration.save(path)
    assert ScaleCalibration.load(path) == calibration
    assert json.loads(path.read_text())["bounds_px"] == [
        round(42.5 / RANGE_FACTOR, 3),
        round(42.5 * RANGE_FACTOR, 3),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "Cannot read the scale calibration"),
        ("[42]", "not a scale calibration"),
        ("{}", "radius_px is required"),
        ('{"radius_px": 0.5}', "radius_px must be a number of pixels"),
        ('{"radius_px": NaN}', "radius_px must be a number of pixels"),
        ('{"radius_px": true}', "radius_px must be a number of pixels"),
        ('{"radius_px": "42"}', "radius_px must be a number of pixels"),
        ('{"radius_px": 42, "fields": -3}', "fields must be a whole number"),
        ('{"radius_px": 42, "upper_quartile_px": 1e9}', "upper_quartile_px must be a number"),
        ('{"radius_px": 2.0}', r"radius_px must be a number of pixels in \[3, 500\]"),
        ('{"radius_px": 42, "lower_quartile_px": 80, "upper_quartile_px": 20}', "quartiles must bracket"),
        ('{"radius_px": 42, "fields": 5, "fields_outside": 6}', r"fields_outside \(6\) must be from 0"),
        ('{"radius_px": 42, "feilds": 300}', "unknown keys feilds"),
        ('{"radius_px": 42, "range_factor": 2.0}', "range_factor is 2.0, but .* it is derived, not set"),
        ('{"radius_px": 42, "bounds_px": [5, 500]}', "bounds_px is .* it is derived, not set"),
    ],
)
def test_a_malformed_file_is_refused_saying_why(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "scale.json"
    path.write_text(content)
    with pytest.raises(ScaleCalibrationError, match=message):
        ScaleCalibration.load(path)


def test_a_radius_alone_is_a_calibration_and_an_impossible_one_is_none(tmp_path: Path) -> None:
    path = tmp_path / "scale.json"
    path.write_text('{"radius_px": 30}')
    assert ScaleCalibration.load(path).bounds == pytest.approx((30 / RANGE_FACTOR, 30 * RANGE_FACTOR))
    with pytest.raises(ScaleCalibrationError, match="radius_px must be a number of pixels"):
        ScaleCalibration(radius_px=-5.0)


def test_a_field_of_few_ringed_cells_is_counted_at_the_laboratory_s_size(tmp_path: Path) -> None:
    # Pale centres as light as the glass: on a field of nine cells the estimate reads about a quarter
    # of the radius and the rings are cut into a hundred "cells"; the laboratory's larger fields read it.
    few = ringed_field(30, columns=3, rows=3)
    alone = segment_cells(few.rgb, measure=False)
    assert alone.cell_radius_px < 0.35 * few.red_radius
    assert alone.n_red > 5 * few.n_red
    assert CAUTION_SCALE_OUTSIDE_CALIBRATION not in alone.cautions

    folder = _write_fields(
        tmp_path / "laboratory", [ringed_field(30, 6, 4, seed).rgb for seed in range(MIN_FIELDS)]
    )
    calibration = calibrate_scale_folder(folder, progress=False)
    assert calibration.radius_px == pytest.approx(30, rel=0.05)
    calibrated = segment_cells(few.rgb, calibration.applied_to(SegmentationParams()), measure=False)
    assert calibration.bounds is not None
    assert calibrated.cell_radius_px == pytest.approx(calibration.bounds[0])
    assert calibrated.n_red == few.n_red
    assert CAUTION_SCALE_OUTSIDE_CALIBRATION in calibrated.cautions


def test_an_estimate_within_the_range_and_a_given_radius_are_kept() -> None:
    field = ringed_field(30, 6, 4)
    estimate = field_radius(field.rgb)
    within = segment_cells(field.rgb, SegmentationParams(radius_range=(20.0, 40.0)), measure=False)
    assert within.cell_radius_px == estimate
    assert CAUTION_SCALE_OUTSIDE_CALIBRATION not in within.cautions
    # Moved by half a percent: counts can jump with a change that small, so the field is cautioned too.
    nudged = segment_cells(
        field.rgb, SegmentationParams(radius_range=(estimate * 1.005, 60.0)), measure=False
    )
    assert nudged.cell_radius_px == pytest.approx(estimate * 1.005)
    assert CAUTION_SCALE_OUTSIDE_CALIBRATION in nudged.cautions
    given = SegmentationParams(cell_radius_px=12.0, radius_range=(20.0, 40.0))
    assert field_radius(field.rgb, given) == 12.0
    assert CAUTION_SCALE_OUTSIDE_CALIBRATION not in segment_cells(field.rgb, given, measure=False).cautions


def test_the_learned_radius_is_kept_within_the_range_too_and_cautioned() -> None:
    field = ringed_field(30, 6, 4)
    free = learned_radius(field.rgb, SegmentationParams())
    assert free is not None
    moved = SegmentationParams(radius_range=(free * 1.2, free * 1.5))
    assert learned_radius(field.rgb, moved) == pytest.approx(free * 1.2)
    learned = dataclasses.replace(moved, learned_radius=True)
    assert CAUTION_SCALE_OUTSIDE_CALIBRATION in segment_cells(field.rgb, learned, measure=False).cautions
    # The estimate (29.7 pixels) lies above this range, the learned radius (29.3) within it: the field
    # counted at the learned radius is not cautioned, the one counted at the estimate is.
    assert _estimate_and_learned(field.rgb) == pytest.approx((29.74, 29.33), abs=0.01)
    kept = SegmentationParams(radius_range=(28.0, 29.5))
    assert CAUTION_SCALE_OUTSIDE_CALIBRATION in segment_cells(field.rgb, kept, measure=False).cautions
    learned_kept = dataclasses.replace(kept, learned_radius=True)
    assert (
        CAUTION_SCALE_OUTSIDE_CALIBRATION
        not in segment_cells(field.rgb, learned_kept, measure=False).cautions
    )


def _estimate_and_learned(rgb: np.ndarray) -> tuple[float, float | None]:
    return field_radius(rgb), learned_radius(rgb, SegmentationParams())


def test_the_folder_must_exist_and_its_images_be_readable(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is not a folder"):
        calibrate_scale_folder(tmp_path / "missing", progress=False)
    folder = _write_fields(tmp_path / "fields", [ringed_field(30, 6, 4).rgb])
    (folder / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ScaleCalibrationError, match=r"cut\.png"):
        calibrate_scale_folder(folder, progress=False)
    (folder / "cut.png").unlink()
    cv2.imwrite(str(folder / "tiny.png"), np.full((8, 8, 3), 200, np.uint8))
    with pytest.raises(ScaleCalibrationError, match=r"tiny\.png: .*at least 16 pixels"):
        calibrate_scale_folder(folder, progress=False)
