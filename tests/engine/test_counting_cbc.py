"""Counting on the real BCCD/CBC fields (a slice, to stay quick); skipped where the data is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.engine.counting import evaluate_counting, load_recount

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
    # 0.786 on this slice with long pairs split (0.766 before, 0.753 with a nucleus zone of 1 r, 0.694
    # before the single-cell size, 0.636 before the nucleus zone), 0.883 on the whole set.
    assert summary["red"]["box_recall"] >= 0.775


def test_red_counts_against_the_recount() -> None:
    recount = load_recount(RECOUNT)
    summary = evaluate_counting(CBC, recount=recount, progress=False, limit=None)["summary"]
    assert summary["red_recount"]["mape_images"] == len(recount)
    # Against cells counted by eye: 6.6% with the default parameters (9.2% before long pairs were split,
    # 13.4% with a nucleus zone of 1 r, 19.1% before the single-cell size, 27.6% before the nucleus
    # zone). Nine images: one cell more or less on one of them moves this by about half a point.
    assert summary["red_recount"]["mape_percent"] <= 8.0
    # The boxes themselves hold about half the red cells of these fields.
    assert summary["red_recount"]["boxes_per_recounted_cell"] <= 0.6


def test_red_counts_against_the_held_out_recount() -> None:
    # Twelve other images, counted by three raters (the median is the reference) after the parameters
    # were chosen: 15.8% (20.0% before long pairs were split). Higher than on the tuning recount, which
    # is the honest figure to expect on fields the parameters were not chosen on.
    recount = load_recount(HELD_OUT)
    summary = evaluate_counting(CBC, recount=recount, progress=False)["summary"]
    assert summary["red_recount"]["mape_images"] == len(recount) == 12
    assert summary["red_recount"]["mape_percent"] <= 17.0
