"""The segmentation's tuning knobs (`SegmentationParams`), in units of the red-cell radius."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentationParams:
    """Tuning knobs; lengths are fractions of the red-cell radius `r`, areas fractions of pi*r^2."""

    # Fixed red-cell radius in pixels of the input image; None estimates it from the image.
    cell_radius_px: float | None = None
    # A laboratory's scale calibration (`scale_calibration.ScaleCalibration.bounds`): the radii in
    # pixels that the field's estimate is kept within (a given `cell_radius_px` is not). None: the
    # estimate's own bounds, from the field's size.
    radius_range: tuple[float, float] | None = None
    # Purple score threshold: Otsu on the foreground, clipped to this range (CIELAB units).
    nucleus_threshold_min: float = 15.0
    nucleus_threshold_max: float = 40.0
    # A laboratory's stain (`stain_calibration.StainCalibration`): how far its nuclei's hue is turned
    # from the reference (CIELAB degrees) and its nuclei's chroma as a multiple of the reference's. The
    # nucleus score is read on colours turned back by the shift and divided by the gain.
    stain_hue_shift: float = 0.0
    stain_chroma_gain: float = 1.0
    # Least colour difference (CIELAB) from the background that can be a cell.
    min_foreground_contrast: float = 6.0
    # Foreground threshold as a fraction of Otsu's: pale red cells (faint rims, centres like the
    # glass) fall below Otsu's split between glass and well-stained cells.
    foreground_otsu_fraction: float = 0.8
    # Lobes of one nucleus (neutrophils) closer than this are one nucleus.
    nucleus_merge_radius: float = 0.35
    # Smallest nucleus; platelets (about 0.05-0.15 of a red cell's area) stay below it.
    min_nucleus_area: float = 0.45
    # A nucleus is split into several cells only at distance peaks this deep and this far apart.
    nucleus_split_depth: float = 0.9
    nucleus_split_distance: float = 1.0
    nucleus_split_min_area: float = 1.6
    # A clump of touching blasts: a nucleus component of at least this many red-cell areas, with at
    # least this many distance peaks `nucleus_clump_depth` deep, and no more convex than this. No single
    # white cell of the CBC set gives one; packed ALL blasts, whose nuclei are 1-1.5 red cells in area
    # and fill their cells, give many. It is split at all those peaks, keeping parts down to
    # `nucleus_clump_min_part` red cells (docs/counting.md, "Packed blasts").
    nucleus_clump_min_area: float = 4.0
    nucleus_clump_min_peaks: int = 3
    nucleus_clump_max_solidity: float = 0.8
    nucleus_clump_depth: float = 0.7
    nucleus_clump_min_part: float = 0.7
    # Red-cell markers: distance-transform peaks at least this far apart and this deep.
    marker_min_distance: float = 0.7
    marker_min_depth: float = 0.35
    # Foreground this close to a nucleus goes to that nucleated cell first, and red-cell markers are
    # found on the rest: a red cell touching a white cell otherwise has no distance peak of its own
    # (the distance keeps rising towards the larger white cell) and is swallowed by it. At 1 r the
    # zone also swallowed red cells lying against a white cell (CBC recount error 13.4 %, 9.2 % at
    # 0.5 r); below 0.5 r more white-cell cytoplasm goes to red cells (docs/counting.md).
    nucleus_zone: float = 0.5
    # Pale centres of red cells are holes in the mask; holes up to this area are filled.
    max_hole_area: float = 1.0
    # A red-cell region smaller than this (a fragment) is not counted.
    min_cell_area: float = 0.3
    # `min_border_cell_area` and the `clump_*_cells` sizes are in units of the field's typical red cell:
    # the median area of its single red-cell regions away from the border (r, the radius of the packing
    # discs, can be smaller than the cells').
    # A region cut by the image border is counted only when at least this much of a cell is in the
    # field. Counters by eye count a cut cell when about 40-45% of its width is inside, about 35-40%
    # of its area; the typical cell's region is also somewhat larger than a cut cell's visible part.
    min_border_cell_area: float = 0.35
    # Regions of at least this many cells whose outline is concave (solidity at most
    # `clump_max_solidity`: overlapping discs) are split into that many cells.
    clump_split_cells: float = 1.3
    clump_max_solidity: float = 0.93
    # A region this many cells large is split whatever its shape: no red cell is twice the field's
    # typical one, and a ring of cells whose enclosed glass was filled as a pale centre looks convex.
    clump_any_shape_cells: float = 2.0
    # Two red cells that overlap widely leave a nearly convex but long region: such a region (of at
    # least `clump_split_cells` cells) is split too when its elongation (the ratio of its principal
    # axes) is at least this. A region is a single cell, for the typical cell's area, only when it is
    # convex and rounder than `single_cell_max_elongation`: taking convex pairs in made the typical
    # cell about 1.2 cells large in dense fields, and their pairs then stayed whole.
    clump_min_elongation: float = 1.5
    single_cell_max_elongation: float = 1.3
    # Second opinion of the centre network (`red_cell_centres`): each clump of touching red-cell
    # regions holds the mean of the watershed's cells and the network's peaks in it, and is re-cut
    # when that differs (docs/counting.md). Peaks at least `centre_threshold` high (None: the
    # network's own `peak_threshold`, chosen for it on recounted fields by `choose_centre_threshold`;
    # the mean's weight was chosen on cross-fitted marked fields too) and `centre_min_distance` r apart
    # (0.6 r is closer than two overlapping cells' centres come).
    use_centre_network: bool = True
    centre_threshold: float | None = None
    centre_min_distance: float = 0.6
    # Learned-radius mode (`red_cell_radius`; off by default, turned on per laboratory after its own
    # recount shows it helps, docs/counting.md): the radius is `radius_factor` (None: the radius
    # network's own, chosen by `choose_radius_factor`) times the median cell half-size the radius
    # network gives at the centre network's peaks, and of the segmentations at `_RADIUS_STEPS` times
    # it the one with the median red-cell count is kept. Ignored when `cell_radius_px` is set.
    learned_radius: bool = False
    radius_factor: float | None = None
