"""Counts on 20 ALL fields (all4 val) against three raters counting by eye; skipped where the data is
absent. The fields are 224x224, packed with blasts and blue-grey red cells (docs/counting.md)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from inference.engine.imageio import read_image
from inference.engine.segmentation import segment_cells

ALL4_VAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "all4" / "val"
RECOUNT = Path(__file__).resolve().parents[2] / "docs" / "data" / "all4-val-recount.csv"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ALL4_VAL.is_dir(), reason=f"all4 val images not found at {ALL4_VAL}"),
]


def test_counts_against_the_raters_on_the_all_fields() -> None:
    with RECOUNT.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 20
    predicted = [segment_cells(read_image(ALL4_VAL / row["image"]), measure=False) for row in rows]
    nucleated = np.array([result.n_nucleated for result in predicted])
    true_nucleated = np.array([int(row["nucleated"]) for row in rows])
    red = np.array([result.n_red for result in predicted])
    true_red = np.array([int(row["red_cells"]) for row in rows])
    # 1.8 nucleated cells per field off (2.8 before an undersized part of touching nuclei stopped
    # undoing their split, and a nucleus of 0.4 of the red-cell radius estimate started to cap it).
    # The three raters gave the same count on 16 fields and differ by two cells at most.
    assert np.abs(nucleated - true_nucleated).mean() <= 2.0
    # Red cells: 15.1% (the watershed alone 17.0%); WBC-Benign-131, a dense pale field, found 22 of
    # 116 before the cap (its radius estimated at 25 pixels for about 8) and 72 now.
    assert 100 * np.mean(np.abs(red - true_red) / true_red) <= 16.5
