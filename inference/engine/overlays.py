"""Segmentation overlay: cell boundaries drawn on the smear (red cells red, nucleated cells green).

The Grad-CAM overlay lives with the classifier; this module draws only what segmentation found.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.segmentation import find_boundaries

from .segmentation import SegmentationResult

RED_CELL_COLOUR = (255, 0, 0)
NUCLEATED_CELL_COLOUR = (0, 255, 0)
NUCLEUS_COLOUR = (255, 255, 0)


def segmentation_overlay(
    rgb: np.ndarray, result: SegmentationResult, *, label_ids: bool = True
) -> np.ndarray:
    """RGB uint8 copy of `rgb` with every cell's boundary and each nucleated cell's id."""
    if rgb.shape[:2] != result.labels.shape:
        raise ValueError("The image and the segmentation have different sizes.")
    out = rgb.copy()
    labels = result.labels
    boundaries = find_boundaries(labels, mode="inner")
    nucleated = (labels > 0) & (labels <= result.n_nucleated)
    out[boundaries & ~nucleated] = RED_CELL_COLOUR
    out[boundaries & nucleated] = NUCLEATED_CELL_COLOUR
    out[find_boundaries(result.nucleus_labels, mode="inner")] = NUCLEUS_COLOUR
    if label_ids:
        scale = max(0.3, min(labels.shape) / 600.0)
        for cell in result.nucleated_cells:
            x, y = (round(cell.centroid[0]), round(cell.centroid[1]))
            cv2.putText(out, str(cell.id), (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 2, cv2.LINE_AA)
            cv2.putText(
                out, str(cell.id), (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
            )
    return out
