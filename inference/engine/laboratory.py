"""The segmentation settings a laboratory's installation counts with: its stain calibration
(`MARROWFIND_STAIN_CALIBRATION`) and its scale calibration (`MARROWFIND_SCALE_CALIBRATION`), each
where it has one."""

from __future__ import annotations

from .scale_calibration import laboratory_scale
from .segmentation_params import SegmentationParams
from .stain_calibration import laboratory_calibration


def laboratory_params(params: SegmentationParams | None = None) -> SegmentationParams:
    """`params` (the defaults when None) under the laboratory's stain and scale calibrations."""
    stained = laboratory_calibration().applied_to(params or SegmentationParams())
    return laboratory_scale().applied_to(stained)
