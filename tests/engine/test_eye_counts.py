"""Counting evaluation against counts made by eye (a CSV of fields, no boxes) on generated fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.engine.errors import DatasetError
from inference.engine.eye_counts import EyeCount, evaluate_eye_counts, load_eye_counts
from inference.engine.perturbation import Perturbation
from tests.engine.voc import write_generated_voc_folder


def test_load_eye_counts_reads_both_kinds_batches_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "counts.csv"
    path.write_text(
        "image,nucleated,red_cells,red_1,batch\nA/one.jpg,3,41,40,1\nA/two.jpg,,12,12,2\nthree.png,4,,,\n"
    )
    assert load_eye_counts(path) == [
        EyeCount("A/one.jpg", 3, 41, "1"),
        EyeCount("A/two.jpg", None, 12, "2"),
        EyeCount("three.png", 4, None, ""),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image,batch\na.jpg,1\n", "at least one of nucleated, red_cells"),
        ("nucleated\n3\n", "needs the column image"),
        ("image,nucleated\na.jpg,three\n", "nucleated is 'three', not a whole number"),
        ("image,nucleated\na.jpg,-1\n", "not a whole number"),
        ("image,nucleated\na.jpg,1\na.jpg,2\n", "listed twice"),
        ("image,nucleated,red_cells\na.jpg,,\n", "has no count"),
        ("image,nucleated\n../outside.jpg,1\n", "not a path inside the folder"),
        ("image,nucleated\n/etc/a.jpg,1\n", "not a path inside the folder"),
        ("image,nucleated\n", "no fields listed"),
        ("image,nucleated\na.jpg,\u00b2\n", "nucleated is '\u00b2', not a whole number"),
        ("image,red_cells\na.jpg,\u0661\n", "red_cells is '\u0661', not a whole number"),
        ("image,nucleated\n./A/a.jpg,1\nA/a.jpg,2\n", r"line 3: 'A/a\.jpg' is listed twice"),
        (
            "image,nucleated\nA/a.jpg,1\n./A//a.jpg,2\n",
            r"'A/a\.jpg' \(written '\./A//a\.jpg'\) is listed twice",
        ),
        ("image,nucleated\n./,1\n", "not a path inside the folder"),
    ],
)
def test_a_malformed_count_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "counts.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_eye_counts(path)


def test_a_path_is_read_normalised(tmp_path: Path) -> None:
    path = tmp_path / "counts.csv"
    path.write_text("image,nucleated\n./A/one.jpg,3\nB//two.jpg,4\n")
    assert [count.image for count in load_eye_counts(path)] == ["A/one.jpg", "B/two.jpg"]


def test_fields_are_compared_per_kind_and_per_batch(tmp_path: Path) -> None:
    write_generated_voc_folder(tmp_path)
    # The generated fields hold 2 nucleated and 10 red cells each, and the counter finds them all.
    counts = [
        EyeCount("Images/img_0.png", 2, 12, "a"),
        EyeCount("Images/img_1.png", 3, 10, "b"),
    ]
    report = evaluate_eye_counts(tmp_path, counts, progress=False)
    summary = report["summary"]
    assert summary["fields"] == 2
    assert summary["nucleated"]["mae"] == pytest.approx(0.5)
    assert summary["nucleated"]["exact_fraction"] == pytest.approx(0.5)
    assert summary["nucleated"]["mean_error"] == pytest.approx(-0.5)
    assert summary["red"]["mape_percent"] == pytest.approx(100 * (2 / 12) / 2, abs=0.01)
    assert summary["red"]["mean_signed_percent"] == pytest.approx(100 * (-2 / 12) / 2, abs=0.01)
    assert summary["batches"]["a"]["red"]["mae"] == pytest.approx(2.0)
    assert summary["batches"]["b"]["nucleated"]["mean_error"] == pytest.approx(-1.0)
    assert report["fields"][0] == {
        "image": "Images/img_0.png",
        "batch": "a",
        "true_nucleated": 2,
        "pred_nucleated": 2,
        "true_red": 12,
        "pred_red": 10,
        "cautions": (),
    }
    assert summary["cautions"] == {}


def test_a_kind_not_counted_is_left_out_of_its_figures(tmp_path: Path) -> None:
    write_generated_voc_folder(tmp_path)
    report = evaluate_eye_counts(tmp_path, [EyeCount("Images/img_0.png", None, 9)], progress=False)
    assert "nucleated" not in report["summary"]
    assert report["summary"]["red"]["mean_error"] == pytest.approx(1.0)
    assert "batches" not in report["summary"]


def test_a_listed_field_missing_from_the_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    write_generated_voc_folder(tmp_path)
    counts = [EyeCount("Images/img_0.png", 2, 10), EyeCount("Images/gone.png", 1, 5)]
    with pytest.raises(DatasetError, match=r"1 listed fields are not in .*gone\.png"):
        evaluate_eye_counts(tmp_path, counts, progress=False)


def test_a_tiled_field_is_compared_with_its_counts_times_the_copies(tmp_path: Path) -> None:
    write_generated_voc_folder(tmp_path)
    counts = [EyeCount("Images/img_0.png", 2, 10), EyeCount("Images/img_1.png", None, 11)]
    report = evaluate_eye_counts(tmp_path, counts, progress=False, perturb=Perturbation(tile=2))
    assert report["summary"]["perturbation"] == "tile=2"
    assert report["fields"][0] == {
        "image": "Images/img_0.png",
        "batch": "",
        "true_nucleated": 8,
        "pred_nucleated": 8,
        "true_red": 40,
        "pred_red": 40,
        "cautions": (),
    }
    assert report["fields"][1]["true_nucleated"] is None
    assert report["fields"][1]["true_red"] == 44
