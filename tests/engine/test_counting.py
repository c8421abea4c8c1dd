"""Pascal VOC parsing and counting metrics against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.engine.counting import (
    ImageCount,
    VocBox,
    boxes_found,
    evaluate_counting,
    find_pairs,
    load_recount,
    parse_voc,
    summarise,
)
from inference.engine.errors import DatasetError
from inference.engine.metrics import wilson_interval
from inference.engine.perturbation import parse_perturbation
from tests.engine.voc import voc_xml, write_generated_voc_folder


def test_parse_voc_counts_each_kind(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    boxes = [
        ("WBC", (1, 2, 30, 40)),
        ("RBC", (5, 5, 9, 9)),
        ("RBC", (0, 0, 4, 4)),
        ("Platelets", (1, 1, 2, 2)),
    ]
    path.write_text(voc_xml(boxes))
    annotation = parse_voc(path)
    assert (annotation.width, annotation.height) == (640, 480)
    assert (annotation.count("WBC"), annotation.count("RBC"), annotation.count("Platelets")) == (1, 2, 1)
    assert annotation.boxes[0].xmax == 30


def test_parse_voc_accepts_other_spellings_of_the_kinds(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    path.write_text(voc_xml([("wbc", (1, 2, 30, 40)), ("Rbc", (5, 5, 9, 9)), ("platelet", (1, 1, 2, 2))]))
    annotation = parse_voc(path)
    assert [box.name for box in annotation.boxes] == ["WBC", "RBC", "Platelets"]


@pytest.mark.parametrize(
    "text",
    [
        "<annotation><object>",
        "<notvoc/>",
        voc_xml([("Neutrophil", (1, 1, 2, 2))]),
        voc_xml([("RBC", (1, 1, 2, 2))]).replace("<xmax>2</xmax>", "<xmax>two</xmax>"),
        voc_xml([("RBC", (5, 1, 2, 2))]),
        voc_xml([("RBC", (1, 1, 2, 2))]).replace("<ymin>1</ymin>", ""),
    ],
)
def test_malformed_voc_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(DatasetError):
        parse_voc(path)


def test_missing_pairs_are_refused(tmp_path: Path) -> None:
    (tmp_path / "Images").mkdir()
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Images" / "a.jpg").write_bytes(b"x")
    (tmp_path / "Annotations" / "b.xml").write_text(voc_xml([]))
    with pytest.raises(DatasetError, match="without annotation"):
        find_pairs(tmp_path)
    with pytest.raises(DatasetError, match="Images/ and Annotations/"):
        find_pairs(tmp_path / "Images")


def _voc_pair(root: Path, stem: str, written: str | None) -> None:
    (root / "Images").mkdir(exist_ok=True)
    (root / "Annotations").mkdir(exist_ok=True)
    (root / "Images" / f"{stem}.jpg").write_bytes(b"x")
    text = voc_xml([("RBC", (1, 1, 2, 2))], written or "")
    if written is None:
        text = text.replace("<filename></filename>", "")
    (root / "Annotations" / f"{stem}.xml").write_text(text)


@pytest.mark.parametrize(
    "written", [None, "a.jpg", "a.png", "A.JPG", "a", "folder/a.jpg", "C:\\scans\\a.tif", "  a.jpg  "]
)
def test_an_annotation_naming_its_own_image_any_way_is_paired(tmp_path: Path, written: str | None) -> None:
    _voc_pair(tmp_path, "a", written)
    assert [(i.name, x.name) for i, x in find_pairs(tmp_path)] == [("a.jpg", "a.xml")]


def test_an_annotation_naming_another_image_is_refused(tmp_path: Path) -> None:
    _voc_pair(tmp_path, "a", "a.jpg")
    _voc_pair(tmp_path, "b", "folder/c.jpg")
    _voc_pair(tmp_path, "d", "a.jpg")
    with pytest.raises(
        DatasetError,
        match=r"b\.xml is paired with the image b\.jpg, but its <filename> is 'folder/c\.jpg'.*2 such",
    ):
        find_pairs(tmp_path)


def test_summary_metrics_match_hand_computed_values() -> None:
    rows = [
        ImageCount("a", true_nucleated=1, true_red=10, pred_nucleated=1, pred_red=12),
        ImageCount("b", true_nucleated=2, true_red=20, pred_nucleated=1, pred_red=19),
        ImageCount("c", true_nucleated=0, true_red=0, pred_nucleated=1, pred_red=3),
    ]
    summary = summarise(rows)
    assert summary["images"] == 3
    nucleated, red, total = summary["nucleated"], summary["red"], summary["total"]
    assert nucleated["mae"] == pytest.approx((0 + 1 + 1) / 3, abs=1e-4)
    # MAPE leaves out the image whose true count is zero: (0/1 + 1/2) / 2.
    assert nucleated["mape_percent"] == pytest.approx(25.0)
    assert nucleated["mape_images"] == 2
    assert summary["nucleated_exact_fraction"] == pytest.approx(1 / 3, abs=1e-4)
    assert red["mae"] == pytest.approx((2 + 1 + 3) / 3, abs=1e-4)
    assert red["mape_percent"] == pytest.approx(100 * (2 / 10 + 1 / 20) / 2)
    assert total["mae"] == pytest.approx((2 + 2 + 4) / 3, abs=1e-4)
    assert red["mean_true"] == pytest.approx(10.0)
    assert red["mean_pred"] == pytest.approx(34 / 3, abs=1e-3)
    # Standard error of the MAPE: the errors 20% and 5% spread by 10.61 (sample sd), over sqrt(2).
    assert red["mape_standard_error"] == pytest.approx(7.5, abs=0.01)
    assert nucleated["exact_fraction_95ci"] == wilson_interval(1, 3)


def _box(x0: float, y0: float, x1: float, y1: float) -> VocBox:
    return VocBox("RBC", x0, y0, x1, y1, truncated=False)


def test_boxes_found_gives_each_centre_one_box() -> None:
    left, right, apart = _box(0, 0, 20, 20), _box(10, 0, 30, 20), _box(100, 100, 120, 120)
    # One centre inside two overlapping boxes finds only one of them.
    assert boxes_found(np.array([[15.0, 10.0]]), [left, right]) == 1
    # Two centres there find both: the assignment gives each its own box.
    assert boxes_found(np.array([[12.0, 10.0], [18.0, 10.0]]), [left, right]) == 2
    # Two centres in one box (a cell cut in two) still find that box once; a centre outside finds none.
    assert boxes_found(np.array([[105.0, 105.0], [115.0, 115.0], [60.0, 60.0]]), [apart]) == 1
    assert boxes_found(np.zeros((0, 2)), [apart]) == 0
    assert boxes_found(np.array([[5.0, 5.0]]), []) == 0


def test_load_recount_reads_counts_and_refuses_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "recount.csv"
    path.write_text("image,red_cells,note\na.jpg,17,pale\nb.jpg,0,\n")
    assert load_recount(path) == {"a.jpg": 17, "b.jpg": 0}
    for text, message in (
        ("image,count\na.jpg,3\n", "columns image and red_cells"),
        ("image,red_cells\na.jpg,many\n", "line 2: red_cells is 'many'"),
        ("image,red_cells\na.jpg,-1\n", "not a whole number"),
        ("image,red_cells\na.jpg,\u00b2\n", "line 2: red_cells is '\u00b2', not a whole number"),
        ("image,red_cells\na.jpg,1\na.jpg,2\n", "line 3: 'a.jpg' is recounted twice"),
    ):
        path.write_text(text)
        with pytest.raises(DatasetError, match=message):
            load_recount(path)
    path.write_bytes(b"\xff\xfe\x00image")
    with pytest.raises(DatasetError, match="not a readable CSV"):
        load_recount(path)


def test_summary_reports_box_recall_and_recount_error() -> None:
    rows = [
        ImageCount("a", 1, true_red=10, pred_nucleated=1, pred_red=15, red_boxes_found=9, recount_red=20),
        ImageCount("b", 1, true_red=5, pred_nucleated=1, pred_red=8, red_boxes_found=3, recount_red=10),
        ImageCount("c", 1, true_red=5, pred_nucleated=1, pred_red=5, red_boxes_found=5),
    ]
    summary = summarise(rows)
    assert summary["red"]["box_recall"] == pytest.approx(17 / 20)
    recount = summary["red_recount"]
    assert recount["mape_images"] == 2
    assert recount["mae"] == pytest.approx((5 + 2) / 2)
    assert recount["mape_percent"] == pytest.approx(100 * (5 / 20 + 2 / 10) / 2)
    assert recount["boxes_per_recounted_cell"] == pytest.approx(15 / 30)
    assert "red_recount" not in summarise(rows[2:])


def test_evaluate_counting_onwrite_generated_voc_folder(tmp_path: Path) -> None:
    write_generated_voc_folder(tmp_path)
    report = evaluate_counting(tmp_path, recount={"img_1.png": 12}, progress=False)
    summary = report["summary"]
    assert summary["images"] == 2
    assert summary["nucleated_exact_fraction"] == 1.0
    assert summary["red"]["mae"] == 0.0
    assert summary["red"]["box_recall"] == 1.0
    assert summary["red_recount"]["mae"] == 2.0
    assert report["images"][0] == {
        "image": "img_0.png",
        "true_nucleated": 2,
        "true_red": 10,
        "pred_nucleated": 2,
        "pred_red": 10,
        "red_boxes_found": 10,
        "recount_red": None,
        "cautions": (),
        "true_total": 12,
        "pred_total": 12,
    }
    assert summary["cautions"] == {}


def test_recount_of_an_unknown_image_is_refused(tmp_path: Path) -> None:
    write_generated_voc_folder(tmp_path)
    with pytest.raises(DatasetError, match="not in"):
        evaluate_counting(tmp_path, recount={"other.png": 3}, progress=False)


@pytest.mark.parametrize(
    "spec", ["scale=0.5", "scale=2", "hue=20,brightness=0.9", "tile=3", "scale=0.5,tile=2"]
)
def test_counts_hold_under_a_perturbation_and_the_boxes_follow_the_scale(tmp_path: Path, spec: str) -> None:
    write_generated_voc_folder(tmp_path)
    report = evaluate_counting(tmp_path, progress=False, perturb=parse_perturbation(spec))
    summary = report["summary"]
    assert summary["perturbation"] == spec
    assert summary["nucleated_exact_fraction"] == 1.0
    assert summary["red"]["mae"] == 0.0
    # A box left at its old place would hold no centroid of the resized field.
    assert summary["red"]["box_recall"] == 1.0


def test_a_tiled_field_multiplies_the_reference_counts_and_mirrors_the_boxes(tmp_path: Path) -> None:
    write_generated_voc_folder(tmp_path)
    report = evaluate_counting(
        tmp_path, recount={"img_1.png": 12}, progress=False, perturb=parse_perturbation("tile=2")
    )
    first, second = report["images"]
    assert (first["true_nucleated"], first["true_red"], first["red_boxes_found"]) == (8, 40, 40)
    assert (first["pred_nucleated"], first["pred_red"]) == (8, 40)
    assert second["recount_red"] == 48


def test_a_box_in_a_mirrored_copy_is_flipped_in_odd_columns_and_rows() -> None:
    box = VocBox("RBC", xmin=10, ymin=20, xmax=30, ymax=50, truncated=False)
    assert box.in_copy(0, 0, 100, 80) == box
    assert box.in_copy(1, 0, 100, 80) == VocBox("RBC", 170, 20, 190, 50, False)
    assert box.in_copy(2, 1, 100, 80) == VocBox("RBC", 210, 110, 230, 140, False)
