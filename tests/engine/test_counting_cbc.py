"""Counting on the real BCCD/CBC fields (a slice, to stay quick); skipped where the data is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.engine.counting import evaluate_counting, load_recount
from inference.engine.red_cell_radius_training import factor_errors

CBC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "counting" / "cbc"
RECOUNTS = Path(__file__).resolve().parents[2] / "docs" / "data"
RECOUNT = RECOUNTS / "cbc-red-cell-recount.csv"
HELD_OUT = RECOUNTS / "cbc-red-cell-recount-held-out.csv"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CBC / "Annotations").is_dir(), reason=f"CBC counting data not found at {CBC}"),
]


def test_counts_on_a_slice_of_the_cbc_fields() -> None:
    summary = evaluate_counting(CBC, limit=60, progress=False)["summary"]
    assert summary["images"] == 60
    # The whole set reaches 95% exact nucleated counts; a slice of 60 has room for three misses.
    assert summary["nucleated_exact_fraction"] >= 0.95
    assert summary["nucleated"]["mae"] <= 0.05
    # Red cells: many fields leave about half the red cells unboxed (docs/counting.md), so the MAPE
    # against the boxes says little; the boxed cells found (one cell per box) does.
    # 0.882 on this slice with the centre network's second opinion (most of these fields trained it, so
    # this is optimistic for it; 0.855 with its first version, 0.827 without it, 0.786 before the
    # border rule and clump sizes were set by the blind recount, 0.766 before long pairs were split,
    # 0.694 before the single-cell size, 0.636 before the nucleus zone), 0.931 on the whole set.
    assert summary["red"]["box_recall"] >= 0.87


def test_red_counts_against_the_recount() -> None:
    recount = load_recount(RECOUNT)
    summary = evaluate_counting(CBC, recount=recount, progress=False)["summary"]
    assert summary["red_recount"]["mape_images"] == len(recount) == 33
    # Against the median of three raters counting apart: 6.8% with the centre network's second opinion
    # (its peak threshold was chosen here; 7.5% with its second version, 9.1% with its first),
    # 11.1% without (16.2% before the border rule and clump sizes
    # were set on it, 18.7% before long pairs were split). These images were in view while tuning;
    # the held-out test below is the honest figure.
    assert summary["red_recount"]["mape_percent"] <= 7.8
    # The boxes themselves hold about half the red cells of these fields.
    assert summary["red_recount"]["boxes_per_recounted_cell"] <= 0.55


def test_red_counts_against_the_held_out_recount() -> None:
    recount = load_recount(HELD_OUT)
    summary = evaluate_counting(CBC, recount=recount, progress=False)["summary"]
    assert summary["red_recount"]["mape_images"] == len(recount) == 99
    # Six batches, each counted by three other raters after the parameters were fixed, and scored:
    # 11.2% over the 99 with the centre network's second opinion (batches 4-8, 14 fields each: 7.5%,
    # 10.1%, 11.8%, 11.2% and 11.6%; batch 9, 29 fields: 12.9%; over batches 4-7, 11.3% with the
    # network's second version, 12.5% with its first), 13.9% without it (18.4%, 9.4%, 14.1%, 15.3%,
    # 15.8% and 12.0%). No recounted field's count trained the network; the boxes of batches 8 and 9
    # did (docs/counting.md). The raters differ from each other by 2.4-7.2%.
    assert summary["red_recount"]["mape_percent"] <= 11.9


def test_the_learned_radius_mode_against_the_held_out_recount() -> None:
    recount = load_recount(HELD_OUT)
    # The shipped radius network's factor (0.80) was chosen on the 33 tuning fields: 7.3% there. On
    # the 99 held-out fields 10.1% (9.3% on batches 4-8, 12.1% on batch 9), against 11.2% for the
    # default radius estimate (docs/counting.md, step 7); the white cells are the estimate's.
    errors = factor_errors(CBC, recount, [0.8], progress=False)
    assert errors[0.8] <= 10.8
