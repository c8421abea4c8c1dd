"""Pascal VOC parsing and counting metrics against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from inference.engine.counting import ImageCount, evaluate_counting, find_pairs, parse_voc, summarise
from inference.engine.errors import DatasetError
from tests.engine.synthetic import touching_field


def _voc(objects: list[tuple[str, tuple[int, int, int, int]]], filename: str = "a.jpg") -> str:
    body = "".join(
        f"<object><name>{name}</name><truncated>0</truncated><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
        f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for name, (x0, y0, x1, y1) in objects
    )
    return (
        f"<annotation><filename>{filename}</filename><size><width>640</width><height>480</height>"
        f"<depth>3</depth></size>{body}</annotation>"
    )


def test_parse_voc_counts_each_kind(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    boxes = [
        ("WBC", (1, 2, 30, 40)),
        ("RBC", (5, 5, 9, 9)),
        ("RBC", (0, 0, 4, 4)),
        ("Platelets", (1, 1, 2, 2)),
    ]
    path.write_text(_voc(boxes))
    annotation = parse_voc(path)
    assert (annotation.width, annotation.height) == (640, 480)
    assert (annotation.count("WBC"), annotation.count("RBC"), annotation.count("Platelets")) == (1, 2, 1)
    assert annotation.boxes[0].xmax == 30


@pytest.mark.parametrize(
    "text",
    [
        "<annotation><object>",
        "<notvoc/>",
        _voc([("Neutrophil", (1, 1, 2, 2))]),
        _voc([("RBC", (1, 1, 2, 2))]).replace("<xmax>2</xmax>", "<xmax>two</xmax>"),
        _voc([("RBC", (5, 1, 2, 2))]),
        _voc([("RBC", (1, 1, 2, 2))]).replace("<ymin>1</ymin>", ""),
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
    (tmp_path / "Annotations" / "b.xml").write_text(_voc([]))
    with pytest.raises(DatasetError, match="without annotation"):
        find_pairs(tmp_path)
    with pytest.raises(DatasetError, match="Images/ and Annotations/"):
        find_pairs(tmp_path / "Images")


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


def test_evaluate_counting_on_generated_folder(tmp_path: Path) -> None:
    (tmp_path / "Images").mkdir()
    (tmp_path / "Annotations").mkdir()
    for index, radius in enumerate((10, 14)):
        field = touching_field(radius=radius, seed=index)
        name = f"img_{index}"
        cv2.imwrite(str(tmp_path / "Images" / f"{name}.png"), cv2.cvtColor(field.rgb, cv2.COLOR_RGB2BGR))
        objects = [("WBC", (0, 0, 5, 5))] * field.n_nucleated + [("RBC", (0, 0, 5, 5))] * field.n_red
        objects += [("Platelets", (0, 0, 2, 2))] * field.n_platelets
        (tmp_path / "Annotations" / f"{name}.xml").write_text(_voc(objects, f"{name}.png"))
    report = evaluate_counting(tmp_path, progress=False)
    summary = report["summary"]
    assert summary["images"] == 2
    assert summary["nucleated_exact_fraction"] == 1.0
    assert summary["red"]["mae"] == 0.0
    assert report["images"][0] == {
        "image": "img_0.png",
        "true_nucleated": 2,
        "true_red": 10,
        "pred_nucleated": 2,
        "pred_red": 10,
        "true_total": 12,
        "pred_total": 12,
    }
