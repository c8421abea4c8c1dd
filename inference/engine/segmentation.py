"""Cell segmentation of Giemsa/Wright smears: marker-controlled watershed, nucleated vs red cells.

The classic recipe (grey, Otsu, opening, distance transform, markers, watershed) misses about a third
of touching cells when its markers come from `dist > 0.7 * max`; here every cell gets its own marker
from a local maximum of the distance transform, with the spacing tied to the estimated red-cell radius.

Nucleated (white) cells are told from red cells by stain colour, not by darkness: Giemsa/Wright nuclei
are blue-violet, i.e. both magenta (CIELAB a* > 0) and more strongly blue (-b* about 1.5 a*), while red
cells are pink-red (b* >= 0) or, under other stains and cameras, blue-grey (a* near 0); eosinophil
granules and stain deposits are magenta-pink (-b* < a*). The score `min(a*, -b* - a*/2)`, measured
against the background's colour so that a white-balance cast cancels, separates them on both the BCCD
and the ALL (Aria et al.) images. Platelets are violet too, but far smaller than a nucleus. Under a
laboratory's stain calibration (`stain_calibration`) the colours are turned back to the reference
stain before the score is read.

Red cells that overlap widely leave one distance peak between them, so the watershed merges them;
a small network trained to mark red-cell centres (`red_cell_centres`) gives a second opinion on each
clump of touching red cells, and the clump holds the mean of the two counts (`_fuse_centres`).

Every length is expressed in units of the estimated red-cell radius, and the image is worked on at a
canonical scale (red-cell radius of about `WORK_RADIUS_PX` pixels), so the same parameters serve a
224x224 field at 100x and a 640x480 BCCD field; the labels are mapped back to the original pixels.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import cv2
import numpy as np
from scipy.ndimage import find_objects
from skimage.segmentation import watershed

from .cell_radius import estimate_cell_radius, radius_bounds
from .count_cautions import CAUTION_TEXTS, count_cautions
from .errors import ImageError, ImageTooLargeError
from .field_edge import extend_field, glass_colour, outside_field
from .illumination import even_lighting, neutral_glass
from .mask_ops import (
    close_within,
    disk,
    distance_to_glass,
    elongation,
    fill_small_holes,
    local_maxima,
    on_border,
    open_within,
    otsu,
    resized_mask,
    solidity,
)
from .morphometrics import CellMorphometrics, measure_nucleated_cell
from .nuclei import split_nuclei
from .red_cell_centres import CentreModel, centre_features, default_centre_model, required_peak_threshold
from .red_cell_radius import FACTOR_RANGE, RadiusModel, default_radius_model
from .segmentation_params import SegmentationParams
from .stain_calibration import background_lab, undo_stain

WORK_RADIUS_PX = 10.0
_MIN_SIDE = 16
# One analysis holds at most this many pixels at the working scale (red cells of `WORK_RADIUS_PX`):
# time and memory grow with it. An all4 field mirrored 8x8 (1792 pixels a side, 3.2 million at that
# scale) took 35 s and 5.6 GB through the pipeline; a 40-megapixel upload at that magnification would
# have needed about 60 GB (docs/engine.md, "Larger fields"). A picture of larger cells is analysed on
# a smaller copy, so it may have more pixels.
MAX_WORK_PIXELS = 4_000_000
# A single red cell's region is about this many packing-disc areas (the fallback when a field has
# too few single cells to measure): the median over 234 CBC red cells whose box overlaps no other box
# and holds one region is 1.33 (quartiles 1.10 and 1.57).
_SINGLE_CELL_DISCS = 1.3
# Pixels that k-means fits on when the centre network re-cuts a clump (a red cell is about 300 pixels
# at the working scale), and at least this many per cell: k-means finds at most one part per point,
# and a dense field tiled 3x3 held clumps of hundreds of cells; the rest go to the nearest centre.
_FUSION_FIT_POINTS = 200
_FUSION_FIT_POINTS_PER_CELL = 20
# The network's opinion is taken only where it finds at least this fraction of the watershed's cells:
# no CBC field is under 0.68, while on the densest fields of another laboratory (all4) it sees only
# part of the cells and would pull their counts down (docs/counting.md).
_CENTRE_NETWORK_QUORUM = 0.65
# The learned-radius mode segments at these multiples of the learned radius and keeps the median
# count: a one-pixel change of the working image moves a count by up to four cells (docs/counting.md).
_RADIUS_STEPS = (0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06)
# Fewer centre-network peaks than this give no learned radius (the estimate is kept).
_MIN_SIZED_CELLS = 3


@dataclass
class SegmentationResult:
    """Cells of one image. In `labels`, ids 1..n_nucleated are nucleated cells, the rest red cells."""

    labels: np.ndarray
    nucleus_labels: np.ndarray
    n_nucleated: int
    n_red: int
    cell_radius_px: float
    nucleated_cells: list[CellMorphometrics] = field(default_factory=list)
    # Why the counts may be wrong although given (`count_cautions`), in the order found.
    cautions: tuple[str, ...] = ()
    # The networks the red cells were counted with, so a count can be traced: the centre network
    # (name, weights' sha256, peak threshold) where its peaks were used, and the radius network
    # (name, weights' sha256, radius factor) in the learned-radius mode; None where not used.
    centre_network: dict[str, Any] | None = None
    radius_network: dict[str, Any] | None = None

    @property
    def total_cells(self) -> int:
        return self.n_nucleated + self.n_red

    @property
    def image_shape(self) -> tuple[int, int]:
        return (int(self.labels.shape[0]), int(self.labels.shape[1]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary; the label images stay out (store them as images if needed)."""
        return {
            "image_height": self.image_shape[0],
            "image_width": self.image_shape[1],
            "total_cells": self.total_cells,
            "nucleated_cells": self.n_nucleated,
            "red_cells": self.n_red,
            "cell_radius_px": round(float(self.cell_radius_px), 2),
            "cautions": list(self.cautions),
            "caution_texts": [CAUTION_TEXTS[caution] for caution in self.cautions],
            "centre_network": self.centre_network,
            "radius_network": self.radius_network,
            "cells": [cell.to_dict() for cell in self.nucleated_cells],
        }


def _lab_features(
    rgb: np.ndarray, params: SegmentationParams | None = None, outside: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (purple score, colour distance from the background), both float32 (H, W); the score
    under `params`' stain calibration. The glass is looked for away from the `outside` mask."""
    darkness, a_star, b_star = background_lab(rgb, outside)
    distance = np.sqrt(darkness**2 + a_star**2 + b_star**2)
    if params is not None:
        a_star, b_star = undo_stain(a_star, b_star, params.stain_hue_shift, params.stain_chroma_gain)
    purple = np.minimum(a_star, -b_star - 0.5 * a_star)
    return purple, distance


def _masks(
    rgb: np.ndarray, params: SegmentationParams, outside: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw nucleus, foreground and pale-inclusive foreground masks (before any size-dependent clean-up).

    The scale estimate uses the foreground at Otsu's threshold; the cells are grown in the looser one.
    The thresholds are read inside the field, and its dark surround (`outside`) holds no cell.
    """
    purple, distance = _lab_features(rgb, params, outside)
    inside = np.ones(distance.shape, dtype=bool) if outside is None else ~outside
    t_nuc = otsu(purple[(distance > 8.0) & inside], params.nucleus_threshold_min)
    t_nuc = min(max(t_nuc, params.nucleus_threshold_min), params.nucleus_threshold_max)
    nucleus = (purple > t_nuc) & inside
    # A floor on the threshold keeps camera noise on empty glass from becoming cells.
    t_otsu = otsu(distance[~nucleus & inside], params.min_foreground_contrast)
    foreground = ((distance > max(t_otsu, params.min_foreground_contrast)) & inside) | nucleus
    t_pale = max(params.foreground_otsu_fraction * t_otsu, params.min_foreground_contrast)
    return nucleus, foreground, ((distance > t_pale) & inside) | nucleus


def _on_border(labels: np.ndarray, n_labels: int, outside: np.ndarray | None = None) -> np.ndarray:
    """Per label id: does the region touch the image border, or the field's dark surround."""
    touching = on_border(labels, n_labels)
    if outside is not None:
        touching[labels[cv2.dilate(outside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0]] = True
    return touching


def _typical_red_cell_area(
    labels: np.ndarray,
    first_red: int,
    next_id: int,
    r: float,
    params: SegmentationParams,
    outside: np.ndarray | None = None,
) -> float:
    """Median area of the convex, round red-cell regions away from the border, in pixels.

    Convex (solidity above `clump_max_solidity`) and round (elongation under
    `single_cell_max_elongation`) because those are single cells: in a dense field most regions are
    merged pairs, and their median made a pair look like one typical cell. Measured
    on the regions rather than taken from `r`, because the radius estimate is 0.6-0.94 of the cells'
    box half-size on the CBC fields (median 0.82), and the area goes with its square. Bounded to 1-3
    disc areas (pi r^2); `_SINGLE_CELL_DISCS` disc areas when fewer than three such regions are there.
    """
    disc = math.pi * r * r
    areas = np.bincount(labels.ravel(), minlength=next_id)
    cut_by_border = _on_border(labels, next_id, outside)
    boxes = _region_boxes(labels, next_id)
    single = [
        areas[label_id]
        for label_id in range(first_red, next_id)
        if not cut_by_border[label_id]
        and areas[label_id] >= 0.5 * disc
        and solidity(labels[boxes[label_id]] == label_id) > params.clump_max_solidity
        and elongation(labels[boxes[label_id]] == label_id) < params.single_cell_max_elongation
    ]
    if len(single) < 3:
        return _SINGLE_CELL_DISCS * disc
    return float(np.clip(np.median(single), disc, 3.0 * disc))


def _split_clumps(
    labels: np.ndarray, first_red: int, next_id: int, cell: float, params: SegmentationParams
) -> int:
    """Split merged clumps of overlapping red cells in place; returns the next free label id.

    Overlapping discs whose overlap is wide leave a single distance peak, so the watershed gives the
    clump one marker. A region of at least `clump_split_cells` typical red cells (`cell` pixels each)
    with a concave or long outline, or of at least `clump_any_shape_cells` whatever its outline, is
    cut into round(area / cell) parts by k-means on its pixel coordinates (straight cuts between the
    cells' centres, which is what two overlapping discs need).
    """
    if params.clump_split_cells <= 0:
        return next_id
    areas = np.bincount(labels.ravel(), minlength=next_id)
    candidates = np.nonzero(areas[first_red:next_id] >= params.clump_split_cells * cell)[0] + first_red
    boxes = _region_boxes(labels, next_id)
    for label_id in candidates:
        box = labels[boxes[label_id]]
        region = box == label_id
        if areas[label_id] < params.clump_any_shape_cells * cell and (
            solidity(region) > params.clump_max_solidity and elongation(region) < params.clump_min_elongation
        ):
            continue
        next_id = _cut(box, region, max(2, round(float(areas[label_id]) / cell)), next_id)
    return next_id


def _region_boxes(labels: np.ndarray, next_id: int) -> list[tuple[slice, slice]]:
    """Per label id below `next_id`, the slices of its bounding box grown by a pixel (an outline is
    traced as on the whole image); the whole image for an id not present. Working on the box keeps
    the per-region tests linear in the image's size: a field tiled 6x6 (1344 pixels a side, 1,700
    regions) spent 8 of its 14 seconds comparing the whole label image with each id."""
    height, width = labels.shape
    whole = (slice(0, height), slice(0, width))
    boxes = [whole]
    for found in find_objects(labels, max_label=max(next_id - 1, 0)):
        if found is None:
            boxes.append(whole)
            continue
        rows, cols = found
        boxes.append(
            (
                slice(max(rows.start - 1, 0), min(rows.stop + 1, height)),
                slice(max(cols.start - 1, 0), min(cols.stop + 1, width)),
            )
        )
    return boxes


def _cut(labels: np.ndarray, region: np.ndarray, k: int, next_id: int, fit_points: int | None = None) -> int:
    """Cut `region` of `labels` into k parts by k-means on its pixel coordinates (straight cuts between
    the parts' centres); part 0 keeps its label, the others take ids from `next_id`, which is returned.

    With `fit_points`, the centres are fitted on an even sample of about that many pixels and every
    pixel goes to the nearest centre: nearly the same cuts, several times faster on large clumps.
    """
    ys, xs = np.nonzero(region)
    k = min(k, len(ys))
    if k < 2:
        return next_id
    points = np.stack([xs, ys], axis=1).astype(np.float32)
    step = max(1, len(points) // fit_points) if fit_points else 1
    sample = points[::step]
    k = min(k, len(sample))
    cv2.setRNGSeed(0)
    start = np.zeros((len(sample), 1), dtype=np.int32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, found, centres = cv2.kmeans(sample, k, start, criteria, 2, cv2.KMEANS_PP_CENTERS)
    if step == 1:
        parts = np.asarray(found).ravel()
    else:
        gaps = (points[:, None, 0] - centres[None, :, 0]) ** 2 + (
            points[:, None, 1] - centres[None, :, 1]
        ) ** 2
        parts = np.argmin(gaps, axis=1)
    for part in range(1, k):
        chosen = parts == part
        labels[ys[chosen], xs[chosen]] = next_id
        next_id += 1
    return next_id


def _segment_work(
    r: float,
    nucleus: np.ndarray,
    foreground: np.ndarray,
    params: SegmentationParams,
    nuclei: np.ndarray | None = None,
    outside: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Segment at the working scale; returns (labels, nucleus labels, n_nucleated, n_red). `nuclei`,
    when given, are the nucleus labels to use instead of splitting `nucleus` at this radius; a region
    touching `outside` (the field's dark surround) is cut by it as by the image border."""
    cell_area = math.pi * r * r
    if nuclei is None:
        nuclei = split_nuclei(nucleus, r, params)
    n_nucleated = int(nuclei.max())

    # The surround is beyond the picture, as the image border is: a cell cut by it is neither shrunk
    # by the opening nor made shallow by the distance (docs/counting.md, "A thin black frame").
    fg = close_within(foreground, disk(0.15 * r), outside)
    fg = fill_small_holes(fg, params.max_hole_area * cell_area)
    fg = open_within(fg, disk(0.2 * r), outside)
    fg |= nuclei > 0

    zone = cv2.dilate((nuclei > 0).astype(np.uint8), disk(params.nucleus_zone * r)).astype(bool)
    red_fg = fg & ~zone
    dist = cv2.GaussianBlur(distance_to_glass(red_fg, outside), (0, 0), max(0.5, 0.1 * r))
    if outside is not None:
        dist[outside] = 0
    peaks = local_maxima(dist, params.marker_min_distance * r, params.marker_min_depth * r, red_fg)
    markers = nuclei.copy()
    next_id = n_nucleated + 1
    for y, x in peaks:
        markers[y, x] = next_id
        next_id += 1
    # The zone is flooded first (from its nucleus); the rest by the red cells' distance relief, so
    # white-cell cytoplasm beyond the zone still joins its cell where no red cell is nearer.
    relief = np.where(zone, np.float32(-1e3), -dist)
    labels = watershed(relief, markers, mask=fg).astype(np.int32)
    cell = _typical_red_cell_area(labels, n_nucleated + 1, next_id, r, params, outside)
    next_id = _split_clumps(labels, n_nucleated + 1, next_id, cell, params)

    # Renumber red cells, dropping fragments too small to be a cell and slivers cut by the border.
    areas = np.bincount(labels.ravel(), minlength=next_id)
    cut_by_border = _on_border(labels, next_id, outside)
    remap = np.zeros(max(next_id, 1), dtype=np.int32)
    remap[: n_nucleated + 1] = np.arange(n_nucleated + 1)
    n_red = 0
    for label_id in range(n_nucleated + 1, next_id):
        if cut_by_border[label_id]:
            keep = areas[label_id] >= params.min_border_cell_area * cell
        else:
            keep = areas[label_id] >= params.min_cell_area * cell_area
        if keep:
            n_red += 1
            remap[label_id] = n_nucleated + n_red
    labels = remap[labels]
    return labels, nuclei, n_nucleated, n_red


class Prepared(NamedTuple):
    """What every pass over a field shares, at the input's size."""

    smoothed: np.ndarray  # blurred, its dark surround painted the glass's colour
    nucleus: np.ndarray
    cells: np.ndarray  # pale cells included
    radius: float  # red-cell radius in pixels
    outside: np.ndarray | None  # the field's dark surround (`field_edge`), None where it has none
    estimated_radius: float | None = None  # the field's own estimate, before a scale calibration's range


def _prepare(rgb: np.ndarray, params: SegmentationParams) -> Prepared:
    # The surround is found on the picture as taken: blurred, a thin black frame is no longer black.
    rgb = neutral_glass(rgb)
    found = outside_field(rgb)
    outside = found if found.any() else None
    if outside is not None:
        # Painted glass before the blur, so that no dark rim bleeds into the field, with the field's
        # edge carried a few pixels on, as the blur reflects it at the image border (`extend_field`);
        # glass again after it, which the centre network sees as it sees the image border.
        rgb = extend_field(rgb, outside)
    rgb = even_lighting(rgb, outside)
    smoothed = cv2.GaussianBlur(rgb, (0, 0), 1.0)
    if outside is not None:
        smoothed[outside] = glass_colour(smoothed, outside)
    nucleus, foreground, cells = _masks(smoothed, params, outside)
    if params.cell_radius_px:
        return Prepared(smoothed, nucleus, cells, max(float(params.cell_radius_px), 2.0), outside)
    estimated = estimate_cell_radius(foreground, nucleus, params.nucleus_merge_radius, outside)
    r_full = _within_calibration(estimated, params)
    return Prepared(smoothed, nucleus, cells, max(r_full, 2.0), outside, estimated)


def _within_calibration(radius: float, params: SegmentationParams) -> float:
    """`radius` kept within the laboratory's calibrated range, where it has one (`scale_calibration`)."""
    if params.radius_range is None:
        return float(radius)
    low, high = params.radius_range
    return float(np.clip(radius, low, high))


def _check_work_size(shape: tuple[int, ...], r_full: float) -> None:
    """Refuse a field with more than `MAX_WORK_PIXELS` at the working scale, saying how to crop it."""
    scale = min(1.0, WORK_RADIUS_PX / r_full)
    height, width = int(shape[0]), int(shape[1])
    work = height * width * scale * scale
    if work > MAX_WORK_PIXELS:
        side = int(math.sqrt(MAX_WORK_PIXELS) / scale)
        raise ImageTooLargeError(
            f"The image is {width}x{height} pixels with red cells about {r_full:.0f} pixels in radius: "
            f"{work / 1e6:.1f} million pixels at the scale its cells are analysed at, more than the "
            f"{MAX_WORK_PIXELS / 1e6:.0f} million one analysis holds. Crop it into fields of at most "
            f"{side}x{side} pixels."
        )


def field_radius(rgb: np.ndarray, params: SegmentationParams | None = None) -> float:
    """The red-cell radius in pixels that `segment_cells` works with on this field (estimated and kept
    within `params.radius_range`, or `params.cell_radius_px`)."""
    _checked_rgb(rgb)
    return _prepare(rgb, params or SegmentationParams()).radius


def centre_input(rgb: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """For training the centre network: its input for an RGB field, the factor the field was resized
    by, and the field's cell mask (pale cells included) at the input's size."""
    prepared = _prepare(rgb, SegmentationParams())
    features, scale = _centre_input(prepared)
    cells = prepared.cells
    size = (features.shape[1], features.shape[0])
    return features, scale, cv2.resize(cells.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0


def _centre_input(prepared: Prepared) -> tuple[np.ndarray, float]:
    scale = WORK_RADIUS_PX / prepared.radius
    height, width = prepared.smoothed.shape[:2]
    size = (max(_MIN_SIDE, round(width * scale)), max(_MIN_SIDE, round(height * scale)))
    small = cv2.resize(prepared.smoothed, size, interpolation=cv2.INTER_AREA)
    outside = resized_mask(prepared.outside, size)
    _, distance = _lab_features(small, outside=outside)
    inside = distance if outside is None else distance[~outside]
    return centre_features(distance, otsu(inside, 0.0)), size[0] / width


def _centre_heat(prepared: Prepared, r_work: float, model: CentreModel) -> tuple[np.ndarray, float]:
    """The centre network's heat map of a field, and the factor from its pixels to the working scale's."""
    features, scale = _centre_input(prepared)
    return model.heatmap(features), (r_work / prepared.radius) / scale


def _heat_peaks(heat: np.ndarray, threshold: float, params: SegmentationParams, factor: float) -> np.ndarray:
    """(row, col) of the heat map's peaks at least `threshold` high, scaled by `factor`."""
    peaks = local_maxima(heat, params.centre_min_distance * WORK_RADIUS_PX, threshold)
    return np.round(peaks * factor).astype(np.int64).reshape(-1, 2)


def _peak_threshold(params: SegmentationParams, model: CentreModel) -> float:
    if params.centre_threshold is not None:
        return params.centre_threshold
    return required_peak_threshold(model.folder, model.info)


def _clump_cells(
    labels: np.ndarray, n_nucleated: int, peaks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clump label image, regions per clump, cells per clump) of the touching red-cell regions.

    A clump holds the mean of its regions and the network's peaks in it, rounded half up and at least
    one. The watershed's and the network's errors are only partly shared (correlation 0.44 over the
    tuning fields), so their mean errs less than either (docs/counting.md). Index 0 is the background.
    """
    red = labels > n_nucleated
    n_clumps, clumps = cv2.connectedComponents(red.astype(np.uint8), connectivity=8)
    inside = (peaks[:, 0] < labels.shape[0]) & (peaks[:, 1] < labels.shape[1])
    peaks = peaks[inside]
    n_peaks = np.bincount(clumps[peaks[:, 0], peaks[:, 1]], minlength=n_clumps)
    size = int(labels.max()) + 1
    # Each region lies in one clump: count the regions present in each.
    clump_of = np.zeros(size, dtype=np.int64)
    clump_of[labels[red]] = clumps[red]
    present = np.bincount(labels[red], minlength=size) > 0
    n_regions = np.bincount(clump_of[present], minlength=n_clumps)
    if n_peaks[1:].sum() < _CENTRE_NETWORK_QUORUM * n_regions[1:].sum():
        # The network hardly answers: a field unlike any it was trained on (the generated test
        # fields, for one). Its silence is no evidence that clumps hold fewer cells.
        n_peaks = n_regions
    cells = np.maximum(1, np.floor((n_regions + n_peaks) / 2 + 0.5)).astype(np.int64)
    cells[0] = 0
    return clumps, n_regions, cells


def _fuse_centres(labels: np.ndarray, n_nucleated: int, peaks: np.ndarray) -> tuple[np.ndarray, int]:
    """Give each clump of touching red-cell regions the mean of its regions and the peaks in it
    (`_clump_cells`); where the two disagree the clump is re-cut by k-means into that many cells.
    Returns (labels, n_red), the red cells renumbered from n_nucleated + 1.
    """
    clumps, n_regions, cells = _clump_cells(labels, n_nucleated, peaks)
    next_id = int(labels.max()) + 1
    boxes = _region_boxes(clumps, len(cells))
    for clump in np.nonzero(cells != n_regions)[0]:
        region = clumps[boxes[clump]] == clump
        box = labels[boxes[clump]]
        box[region] = next_id
        fit_points = max(_FUSION_FIT_POINTS, _FUSION_FIT_POINTS_PER_CELL * int(cells[clump]))
        next_id = _cut(box, region, int(cells[clump]), next_id + 1, fit_points=fit_points)
    red_ids = (
        np.nonzero(np.bincount(labels.ravel(), minlength=next_id)[n_nucleated + 1 :])[0] + n_nucleated + 1
    )
    remap = np.zeros(next_id, dtype=np.int32)
    remap[: n_nucleated + 1] = np.arange(n_nucleated + 1)
    remap[red_ids] = np.arange(n_nucleated + 1, n_nucleated + 1 + len(red_ids))
    return remap[labels], len(red_ids)


def _checked_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageError("Segmentation needs an RGB uint8 image of shape (H, W, 3).")
    height, width = rgb.shape[:2]
    if min(height, width) < _MIN_SIDE:
        raise ImageError(
            f"The image is {width}x{height}; segmentation needs at least {_MIN_SIDE} pixels a side."
        )


def _watershed_cells(
    rgb: np.ndarray,
    params: SegmentationParams,
    nuclei: np.ndarray | None = None,
    prepared: Prepared | None = None,
) -> tuple[Prepared, float, np.ndarray, np.ndarray, int, int]:
    """(the field prepared, with its radius r in the input's pixels; r at the working scale, labels,
    nucleus labels, n_nucleated, n_red) of the watershed alone, at the working scale. `nuclei` (nucleus labels
    from another pass, at its working scale) are resized and used instead of this pass's own;
    `prepared` is `_prepare`'s result when it is already at hand (the radius may differ)."""
    height, width = rgb.shape[:2]
    prepared = prepared or _prepare(rgb, params)
    smoothed, nucleus, cells, outside = prepared.smoothed, prepared.nucleus, prepared.cells, prepared.outside
    r_full = prepared.radius
    scale = min(1.0, WORK_RADIUS_PX / r_full)
    if scale < 0.95:
        size = (max(_MIN_SIDE, round(width * scale)), max(_MIN_SIDE, round(height * scale)))
        work_rgb = cv2.resize(smoothed, size, interpolation=cv2.INTER_AREA)
        outside = resized_mask(outside, size)
        nucleus, _, cells = _masks(work_rgb, params, outside)
        r_work = r_full * size[0] / width
    else:
        r_work = r_full
    if nuclei is not None and nuclei.shape != nucleus.shape:
        nuclei = cv2.resize(nuclei, (nucleus.shape[1], nucleus.shape[0]), interpolation=cv2.INTER_NEAREST)
    labels, nuclei, n_nucleated, n_red = _segment_work(r_work, nucleus, cells, params, nuclei, outside)
    return prepared, r_work, labels, nuclei, n_nucleated, n_red


def red_cell_counts(
    rgb: np.ndarray, model: CentreModel, thresholds: list[float], params: SegmentationParams | None = None
) -> dict[float, int]:
    """The red-cell count `segment_cells` gives with `model` at each peak threshold, with the
    watershed and the heat map computed once (for choosing a network's threshold)."""
    params = params or SegmentationParams()
    _checked_rgb(rgb)
    prepared, r_work, labels, _, n_nucleated, _ = _watershed_cells(rgb, params)
    heat, factor = _centre_heat(prepared, r_work, model)
    counts = {}
    for threshold in thresholds:
        peaks = _heat_peaks(heat, threshold, params, factor)
        counts[threshold] = int(_clump_cells(labels, n_nucleated, peaks)[2].sum())
    return counts


def learned_radius(rgb: np.ndarray, params: SegmentationParams) -> float | None:
    """The field's red-cell radius (input pixels) by the radius network: `radius_factor` times the
    median half-size at the centre network's peaks on the field at the estimated scale, kept within
    `params.radius_range`. None when the centre network finds fewer than `_MIN_SIZED_CELLS` cells (too
    few to size)."""
    prepared = _prepare(rgb, dataclasses.replace(params, cell_radius_px=None))
    radius_model = default_radius_model()
    sized = _learned_radius(rgb, params, prepared, radius_model, default_centre_model())
    return None if sized is None else sized[0]


def _learned_radius(
    rgb: np.ndarray,
    params: SegmentationParams,
    prepared: Prepared,
    radius_model: RadiusModel,
    centre_model: CentreModel,
) -> tuple[float, float] | None:
    """(the learned radius kept within the calibrated range, the learned radius before it), or None."""
    # Asked first, so an untuned network is refused on every field, not only where cells are found.
    factor = _checked_factor(params, radius_model)
    half_size = _learned_half_size(params, prepared, radius_model, centre_model)
    if half_size is None:
        return None
    own = _field_bounded(rgb, factor * half_size)
    return _within_calibration(own, params), own


def _checked_factor(params: SegmentationParams, radius_model: RadiusModel) -> float:
    factor = radius_model.required_factor() if params.radius_factor is None else params.radius_factor
    low, high = FACTOR_RANGE
    if not low <= factor <= high:
        raise ValueError(f"radius_factor must be from {low} to {high}, not {factor!r}.")
    return factor


def _learned_half_size(
    params: SegmentationParams, prepared: Prepared, radius_model: RadiusModel, centre_model: CentreModel
) -> float | None:
    """The median half-size (input pixels) the radius network gives at the centre network's peaks, or
    None when there are fewer than `_MIN_SIZED_CELLS` peaks."""
    features, scale = _centre_input(prepared)
    heat = centre_model.heatmap(features)
    peaks = local_maxima(
        heat, params.centre_min_distance * WORK_RADIUS_PX, _peak_threshold(params, centre_model)
    )
    if len(peaks) < _MIN_SIZED_CELLS:
        return None
    half_sizes = np.exp(radius_model.log_half_sizes(features)[peaks[:, 0], peaks[:, 1]])
    return float(np.median(half_sizes)) / scale


def _field_bounded(rgb: np.ndarray, radius: float) -> float:
    """The radius clamped to `radius_bounds` of the field's longer side, as the estimate is."""
    low, high = radius_bounds(max(rgb.shape[:2]))
    return float(np.clip(radius, low, high))


def _cells(
    rgb: np.ndarray,
    params: SegmentationParams,
    centre_model: CentreModel | None,
    nuclei: np.ndarray | None = None,
    prepared: Prepared | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int, float]:
    """(labels, nucleus labels, n_nucleated, n_red, r in input pixels) at the working scale: the
    watershed (`_watershed_cells`), and `centre_model`'s second opinion unless it is None."""
    prepared, r_work, labels, nuclei, n_nucleated, n_red = _watershed_cells(rgb, params, nuclei, prepared)
    if centre_model is not None:
        heat, factor = _centre_heat(prepared, r_work, centre_model)
        peaks = _heat_peaks(heat, _peak_threshold(params, centre_model), params, factor)
        labels, n_red = _fuse_centres(labels, n_nucleated, peaks)
    return labels, nuclei, n_nucleated, n_red, prepared.radius


def _median_count_cells(
    rgb: np.ndarray,
    params: SegmentationParams,
    radius: float,
    prepared: Prepared,
    centre_model: CentreModel | None,
    nuclei: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int, float]:
    """`_cells` at each of `_RADIUS_STEPS` times `radius`: the one whose red-cell count is the median,
    and among those the one nearest `radius`. The nucleated cells are the estimated radius's in every
    pass: the nucleus split and the platelet size follow the radius, and the learned one (fitted to the
    red cells' boxes) split or dropped more of them (docs/counting.md). `prepared` is `_prepare`'s
    result at the estimated radius: the blur and the colour masks do not depend on the radius; `nuclei`
    the estimated radius's nucleus labels, when already at hand; `centre_model` gives each pass its
    second opinion, as in `_cells`."""
    if nuclei is None:
        nuclei = _watershed_cells(rgb, params, prepared=prepared)[3]
    passes = [
        _cells(
            rgb,
            dataclasses.replace(params, cell_radius_px=radius * step),
            centre_model,
            nuclei,
            prepared._replace(radius=max(radius * step, 2.0)),
        )
        for step in _RADIUS_STEPS
    ]
    median = sorted(cells[3] for cells in passes)[len(passes) // 2]
    return min(
        (cells for cells in passes if cells[3] == median), key=lambda cells: abs(math.log(cells[4] / radius))
    )


def learned_radius_counts(
    rgb: np.ndarray, radius_model: RadiusModel, factors: list[float], params: SegmentationParams | None = None
) -> dict[float, int]:
    """The red-cell count `segment_cells` gives in the learned-radius mode with `radius_model` at each
    radius factor, with the field's preparation, the networks' sizes and the estimated radius's nuclei
    computed once (for choosing a network's factor)."""
    params = params or SegmentationParams()
    _checked_rgb(rgb)
    for factor in factors:
        _checked_factor(dataclasses.replace(params, radius_factor=factor), radius_model)
    prepared = _prepare(rgb, params)
    centre_model = default_centre_model()
    half_size = _learned_half_size(params, prepared, radius_model, centre_model)
    fused = centre_model if params.use_centre_network else None
    if half_size is None:
        return dict.fromkeys(factors, _cells(rgb, params, fused, prepared=prepared)[3])
    nuclei = _watershed_cells(rgb, params, prepared=prepared)[3]
    return {
        factor: _median_count_cells(
            rgb,
            params,
            _within_calibration(_field_bounded(rgb, factor * half_size), params),
            prepared,
            fused,
            nuclei,
        )[3]
        for factor in factors
    }


def segment_cells(
    rgb: np.ndarray, params: SegmentationParams | None = None, *, measure: bool = True
) -> SegmentationResult:
    """Segment an RGB uint8 smear image into nucleated and red cells, with per-cell morphometrics."""
    params = params or SegmentationParams()
    _checked_rgb(rgb)
    height, width = rgb.shape[:2]
    prepared = _prepare(rgb, params)
    _check_work_size(rgb.shape, prepared.radius)
    learned = params.learned_radius and params.cell_radius_px is None
    # Looked up once per field: every pass over it counts with the same networks, even when a folder
    # is rewritten meanwhile (the look-up loads a changed folder again, `network_cache`).
    radius_model = default_radius_model() if learned else None
    centre_model = default_centre_model() if learned or params.use_centre_network else None
    fused = centre_model if params.use_centre_network else None
    sized = None
    if radius_model is not None and centre_model is not None:
        sized = _learned_radius(rgb, params, prepared, radius_model, centre_model)
    # The radius the field was counted at, and the field's own before a calibration's range.
    counted, own = (prepared.radius, prepared.estimated_radius) if sized is None else sized
    if sized is None:
        labels, nuclei, n_nucleated, n_red, r_full = _cells(rgb, params, fused, prepared=prepared)
    else:
        labels, nuclei, n_nucleated, n_red, r_full = _median_count_cells(
            rgb, params, counted, prepared, fused
        )
    if labels.shape != (height, width):
        labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
        nuclei = cv2.resize(nuclei, (width, height), interpolation=cv2.INTER_NEAREST)
    nuclei = np.where((labels == nuclei) & (labels > 0), nuclei, 0).astype(np.int32)

    result = SegmentationResult(
        labels=labels.astype(np.int32),
        nucleus_labels=nuclei,
        n_nucleated=n_nucleated,
        n_red=n_red,
        cell_radius_px=r_full,
        cautions=count_cautions(
            rgb,
            counted,
            radius_given=params.cell_radius_px is not None,
            calibrated_from=None if params.radius_range is None else own,
        ),
        centre_network=None
        if centre_model is None
        else centre_model.record(_peak_threshold(params, centre_model)),
        radius_network=None
        if radius_model is None
        else radius_model.record(_checked_factor(params, radius_model)),
    )
    if measure:
        result.nucleated_cells = [
            measure_nucleated_cell(rgb, labels, nuclei, cell_id) for cell_id in range(1, n_nucleated + 1)
        ]
    return result
