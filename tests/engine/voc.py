"""Pascal VOC files for the counting tests: annotation XML, and a folder of generated fields."""

from __future__ import annotations

from pathlib import Path

import cv2

from tests.engine.synthetic import touching_field


def voc_xml(objects: list[tuple[str, tuple[int, int, int, int]]], filename: str = "a.jpg") -> str:
    body = "".join(
        f"<object><name>{name}</name><truncated>0</truncated><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
        f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for name, (x0, y0, x1, y1) in objects
    )
    return (
        f"<annotation><filename>{filename}</filename><size><width>640</width><height>480</height>"
        f"<depth>3</depth></size>{body}</annotation>"
    )


def write_generated_voc_folder(root: Path) -> None:
    """Two generated fields with every cell boxed (red cells by their true discs)."""
    (root / "Images").mkdir()
    (root / "Annotations").mkdir()
    for index, radius in enumerate((10, 14)):
        field = touching_field(radius=radius, seed=index)
        name = f"img_{index}"
        cv2.imwrite(str(root / "Images" / f"{name}.png"), cv2.cvtColor(field.rgb, cv2.COLOR_RGB2BGR))
        objects = [("WBC", (0, 0, 5, 5))] * field.n_nucleated
        objects += [("RBC", (x - radius, y - radius, x + radius, y + radius)) for x, y in field.red_centres]
        objects += [("Platelets", (0, 0, 2, 2))] * field.n_platelets
        (root / "Annotations" / f"{name}.xml").write_text(voc_xml(objects, f"{name}.png"))
