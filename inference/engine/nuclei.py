"""Nuclei of a field: lobes merged, platelets dropped, touching nuclei of neighbouring cells split
(docs/counting.md, step 3)."""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage.segmentation import watershed

from .mask_ops import disk, fill_holes, local_maxima, remove_small, solidity
from .segmentation_params import SegmentationParams


def split_nuclei(nucleus: np.ndarray, r: float, params: SegmentationParams) -> np.ndarray:
    """Label nuclei: merge lobes, drop platelets, split touching nuclei of neighbouring cells."""
    cell_area = math.pi * r * r
    merged = cv2.morphologyEx(
        nucleus.astype(np.uint8), cv2.MORPH_CLOSE, disk(params.nucleus_merge_radius * r)
    )
    merged = cv2.morphologyEx(merged, cv2.MORPH_OPEN, disk(0.1 * r)).astype(bool)
    merged = fill_holes(merged)
    merged = remove_small(merged, params.min_nucleus_area * cell_area)
    n, comp = cv2.connectedComponents(merged.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(nucleus.shape, dtype=np.int32)
    dist = cv2.distanceTransform(merged.astype(np.uint8), cv2.DIST_L2, 5)
    shallowest = min(params.nucleus_split_depth, params.nucleus_clump_depth) * r
    peaks = local_maxima(dist, params.nucleus_split_distance * r, shallowest, merged)
    clumps = _blast_clumps(comp, n, peaks, r, params)
    deep = dist[tuple(peaks.T)] >= params.nucleus_split_depth * r
    peaks = peaks[deep | clumps[comp[tuple(peaks.T)]]]
    per_component = np.bincount(comp[tuple(peaks.T)], minlength=n)
    markers = np.zeros(nucleus.shape, dtype=np.int32)
    for index, (y, x) in enumerate(peaks):
        if per_component[comp[y, x]] > 1:
            markers[y, x] = index + 1
    split = None
    if markers.any():
        split = watershed(-dist, markers, mask=(comp > 0) & (per_component[comp] > 1))
    # A part smaller than a nucleus joins the neighbour it shares most outline with: the lobes of a
    # neutrophil are each smaller, and become one nucleus again, while a clump of touching blasts
    # keeps its nucleus-sized parts even when one part is a sliver (docs/counting.md).
    nuclei = np.zeros(nucleus.shape, dtype=np.int32)
    next_id = 1
    for comp_id in range(1, n):
        inside = comp == comp_id
        if split is not None and per_component[comp_id] > 1:
            part_bound = params.nucleus_clump_min_part if clumps[comp_id] else params.nucleus_split_min_area
            rows, cols = np.nonzero(inside)
            window = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
            parts = merge_small_parts(np.where(inside[window], split[window], 0), part_bound * cell_area)
            for part in np.unique(parts[parts > 0]):
                nuclei[window][parts == part] = next_id
                next_id += 1
            continue
        nuclei[inside] = next_id
        next_id += 1
    return nuclei


def _blast_clumps(
    comp: np.ndarray, n: int, peaks: np.ndarray, r: float, params: SegmentationParams
) -> np.ndarray:
    """Per nucleus component: is it a clump of touching blasts (see `nucleus_clump_min_area`)."""
    areas = np.bincount(comp.ravel(), minlength=n)
    peak_counts = np.bincount(comp[tuple(peaks.T)], minlength=n)
    clumps = (areas >= params.nucleus_clump_min_area * math.pi * r * r) & (
        peak_counts >= params.nucleus_clump_min_peaks
    )
    clumps[0] = False
    for comp_id in np.nonzero(clumps)[0]:
        clumps[comp_id] = solidity(comp == comp_id) <= params.nucleus_clump_max_solidity
    return clumps


def merge_small_parts(parts: np.ndarray, min_area: float) -> np.ndarray:
    """Merge the smallest part under `min_area` pixels into the neighbour it touches most, until every
    part is at least that large or one part is left."""
    parts = parts.copy()
    while True:
        ids, areas = np.unique(parts[parts > 0], return_counts=True)
        smallest = int(np.argmin(areas)) if len(ids) > 1 else 0
        if len(ids) <= 1 or areas[smallest] >= min_area:
            return parts
        small = parts == ids[smallest]
        ring = cv2.dilate(small.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~small
        neighbours = parts[ring]
        neighbours = neighbours[neighbours > 0]
        if neighbours.size == 0:
            return parts
        parts[small] = np.bincount(neighbours).argmax()
