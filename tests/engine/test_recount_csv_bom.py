"""Counts by eye saved by Excel ("CSV UTF-8") begin with a byte-order mark; read as plain UTF-8 it
sticks to the first column's name (`\\ufeffimage`), and the file was refused for lacking `image`."""

from __future__ import annotations

from pathlib import Path

from inference.engine.counting import load_recount
from inference.engine.eye_counts import load_eye_counts
from inference.engine.red_cell_training import load_marked_centres

BOM = "\ufeff"


def test_a_red_cell_recount_saved_by_excel_is_read(tmp_path: Path) -> None:
    path = tmp_path / "recount.csv"
    path.write_text(BOM + "image,red_cells\r\nBloodImage_00001.jpg,212\r\n", encoding="utf-8")
    assert load_recount(path) == {"BloodImage_00001.jpg": 212}


def test_counts_by_eye_saved_by_excel_are_read(tmp_path: Path) -> None:
    path = tmp_path / "counts.csv"
    path.write_text(BOM + "image,nucleated,red_cells\r\nPre/field-1.jpg,3,180\r\n", encoding="utf-8")
    (count,) = load_eye_counts(path)
    assert (count.image, count.nucleated, count.red) == ("Pre/field-1.jpg", 3, 180)


def test_marked_red_cell_centres_saved_by_excel_are_read(tmp_path: Path) -> None:
    path = tmp_path / "centres.csv"
    path.write_text(BOM + "image,x,y\r\nBloodImage_00001.jpg,12.5,30\r\n", encoding="utf-8")
    assert load_marked_centres(path) == {"BloodImage_00001.jpg": [(12.5, 30.0)]}
