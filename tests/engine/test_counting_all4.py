"""Counts on 76 ALL fields (all4 val) against three raters counting by eye; skipped where the data is
absent. The fields are 224x224, packed with blasts and blue-grey red cells (docs/counting.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.engine.eye_counts import evaluate_eye_counts, load_eye_counts

ALL4_VAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "all4" / "val"
RECOUNT = Path(__file__).resolve().parents[2] / "docs" / "data" / "all4-val-recount.csv"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ALL4_VAL.is_dir(), reason=f"all4 val images not found at {ALL4_VAL}"),
]


def test_counts_against_the_raters_on_the_all_fields() -> None:
    # What `evaluate_counting --data ALL4_VAL --counts RECOUNT` reports.
    counts = load_eye_counts(RECOUNT)
    assert len(counts) == 76
    summary = evaluate_eye_counts(ALL4_VAL, counts, progress=False)["summary"]
    # 1.33 nucleated cells per field off over the 76 fields. It was 2.42 on the first 40, before
    # clumps of touching blasts were split at every peak and the radius was measured without the
    # nuclei where they crowd the field. Batches 5 and 6 were each counted after one of those rules
    # was fixed: batch 5 went from 3.56 to 2.56, batch 6 from 2.00 to 1.44. On 48 fields the three
    # raters gave the same count; they differ by seven at most, over smudge cells.
    assert summary["nucleated"]["mae"] <= 1.45
    # Red cells: 10.1% (14.7% on the first 58 before the radius change; batch 6 8.8% -> 6.3%).
    # WBC-Malignant-Pre-818 had its radius estimated at 15 pixels for about 10 and found 22 of 58.
    assert summary["red"]["mape_percent"] <= 11.0
    assert len(summary["batches"]) == 6
