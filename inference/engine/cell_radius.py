"""The red-cell radius of a field, from the discs that pack its cell mask (`estimate_cell_radius`).

Every length of the segmentation is a multiple of this radius (docs/counting.md, step 2).
"""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
from scipy.spatial import cKDTree

from .mask_ops import disk, distance_to_glass, fill_small_holes, local_maxima, open_within, resized_mask
from .segmentation_params import SegmentationParams

_ESTIMATE_SIDE = 256
# On a grid too coarse for the cells, touching cells merge and the discs come out several times too
# large (an all4 field tiled 6x6, 1344 pixels a side, read 10 times its radius on a 256-pixel grid).
# So the grid is made fine enough for cells of the outline's rough radius (`_outline_radius`) to keep
# `_GRID_RADIUS` pixels. Packed cells have little outline, so the rough radius overstates them; an
# estimate over `_OUTLINE_DOUBT` times the rough radius (on CBC fields it is 1.2-1.7 times, on all4
# ones 0.7-1.2, where a grid merged the cells 4-10) is taken again on a grid twice as fine, and that
# one is kept while it is under `_COARSE_GRID_TRUST` times the coarser grid's.
_GRID_RADIUS = 6.0
_OUTLINE_DOUBT = 2.0
_COARSE_GRID_TRUST = 0.6
# Holes filled before measuring the red cells (pale centres), as a fraction of the longer side, and at
# most this multiple of the outline's rough radius (`_outline_radius`): on a field tiled 4x4 a
# twentieth of the side filled the glass enclosed between packed cells (all4 Benign-249: 2.4 times
# its radius).
_HOLE_RADIUS_FRACTION = 1.0 / 20.0
_HOLE_OUTLINE_RATIO = 2.5
# Plausible red-cell radius, as fractions of the longer side (about 1/28 on all4, 1/15 on BCCD), with
# the floor at most `_RADIUS_FLOOR_PX`: a larger image at the same magnification (a larger camera
# sensor, a stitched field) holds more cells, not larger ones (`radius_bounds`).
RADIUS_RANGE = (1.0 / 40.0, 1.0 / 6.0)
_RADIUS_FLOOR_PX = 6.0
# Packing discs of overlapping cells are about 15% smaller than the cells; an area-weighted median
# above this multiple of their plain median is pulled up by clumps the mask merged.
_CLUMP_RATIO = 1.2
# Second pass: holes up to this fraction of the first estimate are pale centres; the refined estimate
# is kept only when it is smaller and not below this fraction of the first (a pale centre left open
# would leave only the thin ring).
_PALE_CENTRE_FRACTION = 0.6
_REFINE_FLOOR = 0.6
# A nucleus caps the red-cell radius when it is at least this fraction of the estimate (a platelet is
# about 0.2-0.4 of a red cell's radius). At 0.5 a dense, pale ALL field whose estimate was 2.3 times
# too large kept it (all4 WBC-Benign-131: 25 pixels; its largest nucleus 10.9) and lost every white
# cell as a platelet; 0.4 changes no other all4 val or CBC field (docs/counting.md).
_NUCLEUS_CAP_RATIO = 0.4
# Where nuclei cover at least this share of the cell mask (packed ALL blasts), the discs beside them
# (the blasts' rims, and the gaps between touching blasts) outnumber the red cells' and pull the radius
# up by 20-50%; the estimate is then taken again with the nuclei cut out of the mask. Below it the few
# white cells' surroundings are part of how the estimate was measured: cutting them out everywhere
# shrank a quarter of the CBC estimates by 4-60%. One CBC field reaches it (00171, 0.28, a large white
# cell) and keeps its radius; the next is at 0.19 (docs/counting.md).
_NUCLEUS_SHARE_FOR_CUT = 0.25
# With the nuclei cut out, the white cells' cytoplasm is left as rings of discs around them. Where
# those hold at least this share of the discs' area they are left out: the weighted median would be a
# ring, so a field of one white cell and no red cell read the ring as red cells (a CBC-sized field:
# radius 9 pixels for a nucleus of 42, and 25 red cells; docs/counting.md, "A lone white cell"). On
# the data sets' fields they hold at most 0.31 of it (all4 Pre-573) and stay in: the share above was
# chosen with them there.
_RIM_SHARE = 0.5


def _distance_peaks(mask: np.ndarray, outside: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of the distance peaks of `mask` at least 2 pixels deep, and the distance transform.
    The field's dark surround `outside` is beyond the picture, as the image border is: a cell cut by
    it keeps its depth, and its peak lies at the cut (a black frame took the discs of every cell cut
    by it, and the radius of all4 Benign-391 from 7.2 to 5.6 pixels; docs/counting.md, "A thin black
    frame")."""
    dist = distance_to_glass(mask, outside)
    if outside is not None:
        dist[outside] = 0
    return local_maxima(dist, 1, 2.0), dist


def _disc_radii(
    mask: np.ndarray,
    exclude: np.ndarray,
    white_cells: tuple[np.ndarray, np.ndarray] | None = None,
    outside: np.ndarray | None = None,
) -> np.ndarray:
    """Radii of the discs that pack `mask`: distance peaks that do not lie inside a deeper peak's disc,
    nor on `exclude` (the nuclei), nor inside one of `white_cells` ((centres, radii) of discs, see
    `_white_cell_discs`); `outside` is the field's dark surround (`_distance_peaks`).

    The criterion is scale-free (each peak is judged by its own radius), so a clump of touching cells
    yields one disc per cell without knowing the cell size beforehand.
    """
    return _packing_discs(*_distance_peaks(mask, outside), exclude, white_cells)


def _packing_discs(
    peaks: np.ndarray,
    dist: np.ndarray,
    exclude: np.ndarray,
    white_cells: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """`_disc_radii` from the mask's distance peaks and distance transform (`_distance_peaks`)."""
    if len(peaks) == 0:
        return np.zeros(0)
    peaks = peaks[~exclude[tuple(peaks.T)]]
    if white_cells is not None and len(white_cells[0]) and len(peaks):
        # Reaching into it by half its radius or more (a white cell is not quite round: its disc is
        # the deepest inscribed one).
        peaks = peaks[~_inside_discs(peaks, 0.5 * dist[tuple(peaks.T)], *white_cells)]
    values = dist[tuple(peaks.T)]
    # A peak inside a deeper peak's disc (with a 10% margin) is part of that cell, not a cell of its own.
    shallow, deep, gaps = _near_pairs(peaks, peaks, 0.9 * values)
    inside = np.zeros(len(values), dtype=bool)
    inside[shallow[(values[deep] > values[shallow]) & (gaps < 0.9 * values[deep])]] = True
    return values[~inside].astype(np.float64)


def _near_pairs(
    points: np.ndarray, centres: np.ndarray, reach: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point index, centre index, float32 distance) of every point within about `reach` (per centre)
    of a centre, found with a k-d tree. Comparing every peak with every other took minutes on a field
    of 40 million pixels of small cells, where the peaks are counted in millions; the distances are
    the ones that comparison used, so the discs kept are the same."""
    if len(points) == 0 or len(centres) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    found = cKDTree(points).query_ball_point(centres, reach.astype(np.float64) + 1e-3, return_sorted=False)
    counts = np.fromiter((len(near) for near in found), dtype=np.int64, count=len(found))
    centre_index = np.repeat(np.arange(len(centres)), counts)
    point_index = np.fromiter(itertools.chain.from_iterable(found), dtype=np.int64, count=int(counts.sum()))
    first, second = points.astype(np.float32), centres.astype(np.float32)
    gaps = np.hypot(
        first[point_index, 0] - second[centre_index, 0], first[point_index, 1] - second[centre_index, 1]
    )
    return point_index, centre_index, gaps


def _white_cell_discs(
    mask: np.ndarray, exclude: np.ndarray, outside: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(centres, radii) of the packing discs of `mask` centred on a nucleus (`exclude`): the white
    cells, nucleus and cytoplasm, which the estimate leaves out."""
    peaks, dist = _distance_peaks(mask, outside)
    peaks = peaks[exclude[tuple(peaks.T)]] if len(peaks) else peaks
    return peaks, dist[tuple(peaks.T)].astype(np.float32)


def _inside_discs(
    points: np.ndarray, reach: np.ndarray, centres: np.ndarray, radii: np.ndarray
) -> np.ndarray:
    """Per point (row, col): does it lie inside one of the discs grown by `reach` (the point's own)."""
    index, disc, gaps = _near_pairs(points, centres, radii + float(reach.max(initial=0.0)))
    inside = np.zeros(len(points), dtype=bool)
    inside[index[gaps < radii[disc] + reach[index]]] = True
    return inside


def _nucleus_radius(nucleus: np.ndarray, merge_radius: float, outside: np.ndarray | None) -> float:
    """Equivalent radius of the largest nucleus inside the field (0 when there is none).

    Blobs closer than `merge_radius` are one nucleus: a paler stain breaks a nucleus into pieces
    (CBC 00000 at 0.7 of its saturation: its largest piece has radius 27 pixels, the nucleus 70). A
    nucleus cut by the image border, or by the field's dark surround (`outside`), is only part of
    one, so it does not count either.
    """
    merged = cv2.morphologyEx(nucleus.astype(np.uint8), cv2.MORPH_CLOSE, disk(merge_radius))
    opened = cv2.morphologyEx(merged, cv2.MORPH_OPEN, disk(1))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    height, width = nucleus.shape
    left, top = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
    right, bottom = left + stats[1:, cv2.CC_STAT_WIDTH], top + stats[1:, cv2.CC_STAT_HEIGHT]
    inside = (left > 0) & (top > 0) & (right < width) & (bottom < height)
    if outside is not None:
        cut = np.unique(labels[cv2.dilate(outside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0])
        inside[cut[cut > 0] - 1] = False
    if not inside.any():
        return 0.0
    return math.sqrt(float(stats[1:, cv2.CC_STAT_AREA][inside].max()) / math.pi)


def _capped(radius: float, nucleus_radius: float) -> float:
    """A red cell is not larger than a nucleus-sized blob beside it (see `estimate_cell_radius`)."""
    return min(radius, nucleus_radius) if nucleus_radius >= _NUCLEUS_CAP_RATIO * radius else radius


def _packing_radius(
    fg: np.ndarray,
    exclude: np.ndarray,
    hole_radius: float,
    cut: np.ndarray | None = None,
    outside: np.ndarray | None = None,
) -> float:
    """One pass of `estimate_cell_radius` with holes up to `hole_radius` filled, then the `cut` pixels
    taken out (after the filling, or a cut nucleus would be filled back as a hole); 0 when nothing is
    found. `outside`: the field's dark surround, where the mask ends as at the image border."""
    filled = fill_small_holes(fg, math.pi * hole_radius * hole_radius)
    mask = open_within(filled, disk(1), outside)
    white_cells = None
    if cut is not None:
        white_cells = _white_cell_discs(mask, exclude, outside)
        mask[cut] = False
    peaks, dist = _distance_peaks(mask, outside)
    radii = _packing_discs(peaks, dist, exclude)
    if white_cells is not None and len(white_cells[0]):
        # A nucleus cut out leaves its cytoplasm as a ring of discs, which lie inside the white cell's
        # own disc in the whole mask. Where they hold half the discs' area or more, the weighted median
        # would be one of them: they are left out.
        apart = _packing_discs(peaks, dist, exclude, white_cells)
        if np.sum(apart**2) <= (1.0 - _RIM_SHARE) * np.sum(radii**2):
            radii = apart
    radii = np.sort(radii)
    if radii.size == 0:
        return 0.0
    weights = np.cumsum(radii**2)
    weighted_median = float(radii[np.searchsorted(weights, weights[-1] / 2.0)])
    typical = float(np.median(radii[radii >= 0.5 * weighted_median]))
    return min(weighted_median, _CLUMP_RATIO * typical)


def estimate_cell_radius(
    foreground: np.ndarray,
    nucleus: np.ndarray,
    lobe_merge: float = SegmentationParams.nucleus_merge_radius,
    outside: np.ndarray | None = None,
) -> float:
    """Typical red-cell radius in pixels, from the discs that pack the cell mask.

    Worked on a copy at most `_ESTIMATE_SIDE` pixels long, or a finer one where the cells would be too
    small on that (`_GRID_RADIUS`); discs centred on a nucleus are left out.

    - Only holes up to `_HOLE_RADIUS_FRACTION` of the longer side, and `_HOLE_OUTLINE_RATIO` times
      the outline's rough radius, are filled: they are the pale centres.
      Filling every hole (as first written) also filled the glass enclosed by a ring of packed red
      cells, and a dense, pale field (all4 Early-438, Benign-171) became a few huge discs (radius 25
      instead of about 8 on a 224-pixel field).
    - The estimate is the median of the discs weighted by area, so specks and the thin rings left by
      red cells whose pale centre opens onto the glass count for little; but when that lies above
      `_CLUMP_RATIO` times the plain median of the discs that are not specks (at least half of it),
      a few clumps the mask merged are pulling it up, and the bound is taken instead.
    - A red cell is not larger than the largest nucleus of a white cell (blast and lymphocyte nuclei
      are about 1-2.5 red-cell radii): when a nucleus-sized blob is there, it caps the estimate. Its
      pieces closer than `lobe_merge` times the uncapped estimate are one nucleus.
    - Where nuclei cover `_NUCLEUS_SHARE_FOR_CUT` of the mask or more, all of it is done again with
      the white cells' nuclei cut out of the mask.
    - `outside` is the field's dark surround (`field_edge`), where a nucleus is cut as at the border.
    - The result is clamped to `radius_bounds` (a 224-pixel field at 100x has red cells of radius
      about 7-9, a 640-pixel BCCD field about 40).
    """
    side = max(foreground.shape)
    rough = _outline_radius(foreground, outside)
    hole_radius = min(_HOLE_RADIUS_FRACTION * side, _HOLE_OUTLINE_RATIO * rough)
    scale = min(1.0, max(_ESTIMATE_SIDE / side, _GRID_RADIUS / rough))
    radius = _radius_on_grid(foreground, nucleus, lobe_merge, scale, hole_radius, outside) / scale
    while scale < 1.0 and radius > _OUTLINE_DOUBT * rough:
        finer = min(1.0, 2.0 * scale)
        sharper = _radius_on_grid(foreground, nucleus, lobe_merge, finer, hole_radius, outside) / finer
        if sharper >= _COARSE_GRID_TRUST * radius:
            break
        scale, radius = finer, sharper
    low, high = radius_bounds(side)
    return float(np.clip(radius, low, high))


def radius_bounds(side: int) -> tuple[float, float]:
    """The plausible red-cell radius in pixels on a field whose longer side is `side` pixels."""
    low, high = RADIUS_RANGE
    return min(low * side, _RADIUS_FLOOR_PX), high * side


def _outline_radius(foreground: np.ndarray, outside: np.ndarray | None = None) -> float:
    """A rough cell radius from the mask's outline: twice its area over its perimeter, a disc's radius
    (0.6-0.8 of the estimate on CBC fields, 0.9-1.4 on all4 ones; more where cells are packed). Unlike
    the field's size, it stays the same on a field tiled many times over. A cell's edge at the image
    border, or at the field's dark surround `outside`, is no outline."""
    square = np.ones((3, 3), np.uint8)
    mask = open_within(foreground, square, outside)
    area = int(np.count_nonzero(mask))
    beyond = mask if outside is None else mask | outside
    outline = area - int(np.count_nonzero(cv2.erode(beyond.astype(np.uint8), square).astype(bool) & mask))
    return 2.0 * area / outline if outline else math.inf


def _radius_on_grid(
    foreground: np.ndarray,
    nucleus: np.ndarray,
    lobe_merge: float,
    scale: float,
    hole_radius: float,
    outside: np.ndarray | None,
) -> float:
    """`estimate_cell_radius` on the masks resized by `scale`, in the resized pixels, unclamped; holes
    up to `hole_radius` (the field's pixels) filled in the first pass."""
    height, width = foreground.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    fg = cv2.resize(foreground.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    nuc = cv2.resize(nucleus.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    out = resized_mask(outside, size)
    if outside is not None and out is not None:
        # Every grid pixel sampled from the surround is surround: a frame thinner than half a grid pixel
        # was lost on the grid, and the cells' mask, sampled there, ended in a row of glass.
        out |= cv2.resize(outside.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    radius = _estimated_radius(fg, nuc, lobe_merge, hole_radius * scale, out)
    if np.count_nonzero(nuc) >= _NUCLEUS_SHARE_FOR_CUT * max(1, int(np.count_nonzero(fg))):
        radius = _estimated_radius(fg, nuc, lobe_merge, hole_radius * scale, out, _nuclei_to_cut(nuc, radius))
    return radius


def _estimated_radius(
    fg: np.ndarray,
    nuc: np.ndarray,
    lobe_merge: float,
    hole_radius: float,
    outside: np.ndarray | None,
    cut: np.ndarray | None = None,
) -> float:
    """`estimate_cell_radius` at the estimate's scale, before the clamp; `cut`: pixels left out of the
    cell mask."""
    exclude = cv2.dilate(nuc, disk(2)).astype(bool)
    uncapped = _packing_radius(fg, exclude, hole_radius, cut, outside)
    # (An all-foreground field has no distance peak of finite height: bound the merge to the field.)
    merge = max(1.0, lobe_merge * min(uncapped, RADIUS_RANGE[1] * max(fg.shape)))
    nucleus_radius = _nucleus_radius(nuc, merge, outside)
    radius = _capped(uncapped, nucleus_radius)
    if radius > 0:
        # Once more with only pale-centre-sized holes filled (a pale centre is under half the radius):
        # in a dense field the first pass still filled the glass enclosed between packed cells.
        refined = _capped(
            _packing_radius(fg, exclude, _PALE_CENTRE_FRACTION * radius, cut, outside), nucleus_radius
        )
        if _REFINE_FLOOR * radius <= refined < radius:
            radius = refined
        return radius
    # No red cells to measure: a nucleus is about 1.5 red-cell radii; otherwise a typical field.
    return nucleus_radius / 1.5 if nucleus_radius > 0 else max(fg.shape) / 20.0


def _nuclei_to_cut(nuc: np.ndarray, radius: float) -> np.ndarray:
    """The nuclei of white cells (at least `min_nucleus_area` red cells; platelets stay), grown by the
    2 pixels that the estimate's discs keep off a nucleus."""
    n, comp, stats, _ = cv2.connectedComponentsWithStats(nuc, connectivity=8)
    large = np.zeros(n, dtype=np.uint8)
    large[1:] = stats[1:, cv2.CC_STAT_AREA] >= SegmentationParams.min_nucleus_area * math.pi * radius * radius
    return cv2.dilate(large[comp], disk(2)).astype(bool)
