"""Counts on 58 ALL fields (all4 val) against three raters counting by eye; skipped where the data is
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
    assert len(rows) == 58
    predicted = [segment_cells(read_image(ALL4_VAL / row["image"]), measure=False) for row in rows]
    nucleated = np.array([result.n_nucleated for result in predicted])
    true_nucleated = np.array([int(row["nucleated"]) for row in rows])
    red = np.array([result.n_red for result in predicted])
    true_red = np.array([int(row["red_cells"]) for row in rows])
    # 1.76 nucleated cells per field off over the 58 (2.42 on the first 40 before clumps of touching
    # blasts were split at every peak; batch 5, counted after that rule was fixed, went from 3.56 to
    # 2.56). The three raters gave the same count on 40 fields and differ by five cells at most.
    assert np.abs(nucleated - true_nucleated).mean() <= 1.9
    # Red cells: 14.7% (15.1%, 12.8% and 16.5% on batches 1-2, 3-4 and 5). Most of it is a radius
    # estimated 20-50% high in fields packed with blasts (WBC-Malignant-Pre-818: 15 pixels for about
    # 10, 22 red cells found for 58).
    assert 100 * np.mean(np.abs(red - true_red) / true_red) <= 15.5
