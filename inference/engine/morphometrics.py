"""Per-cell morphometrics of nucleated cells: shape, nucleus-to-cytoplasm ratio, chromatin, stain.

Measured on the original image pixels (areas and lengths in pixels; there is no calibration to
micrometres in the images we receive).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
from skimage.color import rgb2hed
from skimage.feature import graycomatrix
from skimage.measure import perimeter_crofton

GLCM_LEVELS = 32
_GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)


@dataclass(frozen=True)
class ShapeMetrics:
    area: int
    perimeter: float
    circularity: float
    eccentricity: float


@dataclass(frozen=True)
class CellMorphometrics:
    """One nucleated cell, in pixels: centroid (x, y); bbox (x_min, y_min, x_max, y_max), max exclusive."""

    id: int
    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]
    area: int
    perimeter: float
    circularity: float
    eccentricity: float
    nucleus_area: int
    nc_ratio: float
    chromatin_contrast: float
    chromatin_entropy: float
    mean_rgb: tuple[float, float, float]
    nucleus_mean_rgb: tuple[float, float, float]
    hematoxylin_mean: float
    eosin_mean: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["centroid"] = list(self.centroid)
        data["bbox"] = list(self.bbox)
        data["mean_rgb"] = list(self.mean_rgb)
        data["nucleus_mean_rgb"] = list(self.nucleus_mean_rgb)
        return data


def shape_metrics(mask: np.ndarray) -> ShapeMetrics:
    """Area, perimeter, circularity 4*pi*A/P^2 (1 for a disc) and eccentricity of a binary mask."""
    mask = mask.astype(bool)
    area = int(mask.sum())
    if area == 0:
        return ShapeMetrics(area=0, perimeter=0.0, circularity=0.0, eccentricity=0.0)
    # Crofton estimate: within about 1% for discs (cells are round); about 6% short for a square's corners.
    perim = float(perimeter_crofton(mask, directions=4))
    circularity = min(1.0, 4.0 * math.pi * area / (perim * perim)) if perim > 0 else 0.0
    ys, xs = np.nonzero(mask)
    if area < 3:
        eccentricity = 0.0
    else:
        cov = np.cov(np.vstack([xs, ys]).astype(np.float64), bias=True)
        # Second moments of the pixel set (over N) plus the 1/12 of a unit pixel, as MATLAB's regionprops
        # does (scikit-image's leaves the 1/12 out: 0.0002 higher for a 25x9 ellipse).
        eig = np.sort(np.linalg.eigvalsh(cov + np.eye(2) / 12.0))
        eccentricity = float(math.sqrt(max(0.0, 1.0 - eig[0] / eig[1]))) if eig[1] > 0 else 0.0
    return ShapeMetrics(area=area, perimeter=perim, circularity=circularity, eccentricity=eccentricity)


def glcm_texture(grey: np.ndarray, mask: np.ndarray, levels: int = GLCM_LEVELS) -> tuple[float, float]:
    """GLCM contrast and entropy (bits) of the grey values inside `mask` (distance 1, four angles).

    Pixels outside the mask get level 0 and every pair that touches level 0 is dropped, so the
    texture is the nucleus's own and not its edge against the cytoplasm.
    """
    mask = mask.astype(bool)
    if mask.sum() < 2:
        return 0.0, 0.0
    values = grey[mask].astype(np.float64)
    low, high = float(values.min()), float(values.max())
    quantised = np.zeros(grey.shape, dtype=np.uint8)
    if high > low:
        quantised[mask] = 1 + np.minimum(
            levels - 1, ((values - low) / (high - low) * levels).astype(np.int64)
        )
    else:
        quantised[mask] = 1
    glcm = graycomatrix(
        quantised, distances=[1], angles=list(_GLCM_ANGLES), levels=levels + 1, symmetric=True
    )
    counts = glcm[1:, 1:, 0, :].sum(axis=2).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0, 0.0
    p = counts / total
    i, j = np.indices(p.shape)
    # Levels span each nucleus's own grey range: contrast is in (1/levels)^2 units of that range.
    contrast = float((p * (i - j) ** 2).sum())
    nonzero = p[p > 0]
    entropy = float(-(nonzero * np.log2(nonzero)).sum())
    return contrast, entropy


def measure_nucleated_cell(
    rgb: np.ndarray, labels: np.ndarray, nuclei: np.ndarray, cell_id: int
) -> CellMorphometrics:
    """Morphometrics of cell `cell_id` of `labels`, with its nucleus `cell_id` of `nuclei`."""
    cell_full = labels == cell_id
    ys, xs = np.nonzero(cell_full)
    if ys.size == 0:
        raise ValueError(f"Cell {cell_id} has no pixels.")
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    # Pad by one pixel so the perimeter of a cell touching the crop edge is still closed.
    py0, px0 = max(0, y0 - 1), max(0, x0 - 1)
    py1, px1 = min(labels.shape[0], y1 + 1), min(labels.shape[1], x1 + 1)
    cell = cell_full[py0:py1, px0:px1]
    nucleus = (nuclei[py0:py1, px0:px1] == cell_id) & cell
    crop = rgb[py0:py1, px0:px1]

    shape = shape_metrics(cell)
    nucleus_area = int(nucleus.sum())
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    contrast, entropy = glcm_texture(grey, nucleus)
    cell_rgb = crop[cell].astype(np.float64).mean(axis=0)
    nucleus_rgb = crop[nucleus].astype(np.float64).mean(axis=0) if nucleus_area else np.zeros(3)
    hed = rgb2hed(crop)
    cytoplasm = cell & ~nucleus
    hematoxylin = float(hed[:, :, 0][nucleus].mean()) if nucleus_area else 0.0
    eosin = float(hed[:, :, 1][cytoplasm].mean()) if cytoplasm.any() else 0.0

    return CellMorphometrics(
        id=cell_id,
        centroid=(round(float(xs.mean()), 2), round(float(ys.mean()), 2)),
        bbox=(x0, y0, x1, y1),
        area=shape.area,
        perimeter=round(shape.perimeter, 2),
        circularity=round(shape.circularity, 4),
        eccentricity=round(shape.eccentricity, 4),
        nucleus_area=nucleus_area,
        nc_ratio=round(nucleus_area / shape.area, 4) if shape.area else 0.0,
        chromatin_contrast=round(contrast, 4),
        chromatin_entropy=round(entropy, 4),
        mean_rgb=(round(float(cell_rgb[0]), 2), round(float(cell_rgb[1]), 2), round(float(cell_rgb[2]), 2)),
        nucleus_mean_rgb=(
            round(float(nucleus_rgb[0]), 2),
            round(float(nucleus_rgb[1]), 2),
            round(float(nucleus_rgb[2]), 2),
        ),
        hematoxylin_mean=round(hematoxylin, 5),
        eosin_mean=round(eosin, 5),
    )
