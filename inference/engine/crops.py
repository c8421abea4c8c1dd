"""Square crops around each nucleated cell, for classifying every cell of an image in one batch."""

from __future__ import annotations

import cv2
import numpy as np

from .segmentation import SegmentationResult

DEFAULT_MARGIN = 0.25


def nucleated_cell_crops(
    rgb: np.ndarray, result: SegmentationResult, size: int = 224, *, margin: float = DEFAULT_MARGIN
) -> np.ndarray:
    """(N, size, size, 3) uint8: one square crop per nucleated cell, in cell-id order.

    The square is centred on the cell's bounding box, its side the box's longer side plus `margin` of
    it on each side; parts outside the image are filled by reflecting the border (no black bars for
    the classifier to learn from).
    """
    if size < 1:
        raise ValueError("The crop size must be positive.")
    if rgb.shape[:2] != result.labels.shape:
        raise ValueError("The image and the segmentation have different sizes.")
    crops = np.zeros((result.n_nucleated, size, size, 3), dtype=np.uint8)
    height, width = rgb.shape[:2]
    for index in range(result.n_nucleated):
        cell_id = index + 1
        if index < len(result.nucleated_cells):
            x0, y0, x1, y1 = result.nucleated_cells[index].bbox
        else:
            ys, xs = np.nonzero(result.labels == cell_id)
            if ys.size == 0:
                continue
            x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        side = max(x1 - x0, y1 - y0)
        half = max(1, round(side * (0.5 + margin)))
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        left, top, right, bottom = cx - half, cy - half, cx + half, cy + half
        pad = max(0, -left, -top, right - width, bottom - height)
        source = rgb
        if pad:
            # Reflection needs an image larger than the pad; a tiny one is extended by replication.
            mode = cv2.BORDER_REFLECT_101 if pad < min(height, width) else cv2.BORDER_REPLICATE
            source = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, mode)
        window = source[top + pad : bottom + pad, left + pad : right + pad]
        interpolation = cv2.INTER_AREA if window.shape[0] > size else cv2.INTER_LINEAR
        crops[index] = cv2.resize(window, (size, size), interpolation=interpolation)
    return crops
