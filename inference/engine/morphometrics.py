"""Per-cell morphometrics of nucleated cells: shape, N:C ratio (nucleus area / cell area), chromatin, stain.

Measured on the original image pixels (areas in pixels², lengths in pixels; there is no calibration
to micrometres in the images we receive).
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

# Chromatin texture is read on fixed grey-level bins of the 0..255 range (8 grey values each), the
# same for every cell, so that the same texture gives the same numbers in any cell.
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
    """One nucleated cell, in pixels: centroid (x, y); bbox (x_min, y_min, x_max, y_max), max exclusive.

    `cut_by_border`: the cell touches the image edge, so it is measured truncated (area, perimeter,
    circularity, eccentricity, N:C). `nc_ratio` is nucleus area / whole-cell area (nucleus plus
    cytoplasm), the usual N:C of haematology image analysis, not nucleus / cytoplasm. Chromatin
    contrast and entropy: see `glcm_texture`. Haematoxylin and eosin means are colour-deconvolution
    optical densities (`skimage.color.rgb2hed`) over the nucleus and the cytoplasm. Values measured
    on an empty nucleus (or an empty cytoplasm, for `eosin_mean`) are None.
    """

    id: int
    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]
    cut_by_border: bool
    area: int
    perimeter: float
    circularity: float
    eccentricity: float
    nucleus_area: int
    nc_ratio: float | None
    chromatin_contrast: float | None
    chromatin_entropy: float | None
    mean_rgb: tuple[float, float, float]
    nucleus_mean_rgb: tuple[float, float, float] | None
    hematoxylin_mean: float | None
    eosin_mean: float | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["centroid"] = list(self.centroid)
        data["bbox"] = list(self.bbox)
        data["mean_rgb"] = list(self.mean_rgb)
        data["nucleus_mean_rgb"] = None if self.nucleus_mean_rgb is None else list(self.nucleus_mean_rgb)
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
    """GLCM contrast and entropy (bits) of the grey values inside `mask` (distance 1, four angles pooled).

    Grey values 0..255 fall into `levels` fixed bins (level = grey * levels // 256), the same for
    every cell: contrast is in squared levels (one level is 256 / levels grey values), so a flat
    nucleus reads near 0 whatever its shade and one odd pixel moves the figures only a little. A
    mask without a pair of neighbouring pixels gives (0.0, 0.0).

    Pixels outside the mask get level 0 and every pair that touches level 0 is dropped, so the
    texture is the nucleus's own and not its edge against the cytoplasm.
    """
    mask = mask.astype(bool)
    if mask.sum() < 2:
        return 0.0, 0.0
    values = np.clip(grey[mask].astype(np.int64), 0, 255)
    quantised = np.zeros(grey.shape, dtype=np.uint8)
    quantised[mask] = 1 + values * levels // 256
    glcm = graycomatrix(
        quantised, distances=[1], angles=list(_GLCM_ANGLES), levels=levels + 1, symmetric=True
    )
    counts = glcm[1:, 1:, 0, :].sum(axis=2).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0, 0.0
    p = counts / total
    i, j = np.indices(p.shape)
    contrast = float((p * (i - j) ** 2).sum())
    nonzero = p[p > 0]
    entropy = float((nonzero * np.log2(1.0 / nonzero)).sum())
    return contrast, entropy


def measure_nucleated_cell(
    rgb: np.ndarray, labels: np.ndarray, nuclei: np.ndarray, cell_id: int
) -> CellMorphometrics:
    """Morphometrics of cell `cell_id` of `labels`, with its nucleus `cell_id` of `nuclei`.

    The cell is `cut_by_border` when its label touches the edge of `labels` (the whole image; the
    dark surround of a round field, which segmentation treats as a border too, is not seen here).
    """
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
    cell_rgb = crop[cell].astype(np.float64).mean(axis=0)
    hed = rgb2hed(crop)
    cytoplasm = cell & ~nucleus
    eosin = round(float(hed[:, :, 1][cytoplasm].mean()), 5) if cytoplasm.any() else None
    # Nothing to measure on an empty nucleus (segment_cells never gives one; a direct call may).
    nc_ratio: float | None = None
    contrast: float | None = None
    entropy: float | None = None
    hematoxylin: float | None = None
    nucleus_rgb: tuple[float, float, float] | None = None
    if nucleus_area:
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        glcm_contrast, glcm_entropy = glcm_texture(grey, nucleus)
        contrast, entropy = round(glcm_contrast, 4), round(glcm_entropy, 4)
        nc_ratio = round(nucleus_area / shape.area, 4)
        nucleus_rgb = _rounded_rgb(crop[nucleus].astype(np.float64).mean(axis=0))
        hematoxylin = round(float(hed[:, :, 0][nucleus].mean()), 5)

    return CellMorphometrics(
        id=cell_id,
        centroid=(round(float(xs.mean()), 2), round(float(ys.mean()), 2)),
        bbox=(x0, y0, x1, y1),
        cut_by_border=y0 == 0 or x0 == 0 or y1 == labels.shape[0] or x1 == labels.shape[1],
        area=shape.area,
        perimeter=round(shape.perimeter, 2),
        circularity=round(shape.circularity, 4),
        eccentricity=round(shape.eccentricity, 4),
        nucleus_area=nucleus_area,
        nc_ratio=nc_ratio,
        chromatin_contrast=contrast,
        chromatin_entropy=entropy,
        mean_rgb=_rounded_rgb(cell_rgb),
        nucleus_mean_rgb=nucleus_rgb,
        hematoxylin_mean=hematoxylin,
        eosin_mean=eosin,
    )


def _rounded_rgb(rgb: np.ndarray) -> tuple[float, float, float]:
    return (round(float(rgb[0]), 2), round(float(rgb[1]), 2), round(float(rgb[2]), 2))
