"""Counting evaluation against Pascal VOC boxes (BCCD / CBC layout: `Images/*.jpg`, `Annotations/*.xml`).

Object names `WBC`, `RBC` and `Platelets` (in any case, `Platelet` too) are counted; a nucleated-cell
prediction is compared with `WBC`, a red-cell prediction with `RBC`; platelets are annotated but never
predicted as cells.

Where the red-cell boxes are incomplete (many BCCD fields box about half the red cells), two figures
stay sound: the box recall (boxed red cells found, one predicted cell per box, which missing boxes
cannot inflate) and the error against a recount (`load_recount`: a CSV of red cells counted by eye).
"""

from __future__ import annotations

import csv
import math
import re
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm import tqdm

from .count_cautions import caution_tally
from .datasets import read_image_file
from .errors import DatasetError
from .metrics import wilson_interval
from .perturbation import Perturbation
from .segmentation import SegmentationParams, SegmentationResult, segment_cells

VOC_KINDS: tuple[str, ...] = ("WBC", "RBC", "Platelets")
# Other annotators of these data sets write the names in lower case or the singular ("rbc",
# "Platelet"); each spelling maps to the one name the counts are kept under.
_VOC_NAMES = {"wbc": "WBC", "rbc": "RBC", "platelets": "Platelets", "platelet": "Platelets"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class VocBox:
    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    truncated: bool

    def scaled(self, sx: float, sy: float) -> VocBox:
        """The box on an image resized by (sx, sy)."""
        return replace(
            self, xmin=self.xmin * sx, ymin=self.ymin * sy, xmax=self.xmax * sx, ymax=self.ymax * sy
        )

    def in_copy(self, col: int, row: int, width: int, height: int) -> VocBox:
        """The box in copy (col, row) of a `width` x `height` field mirrored into copies, as the
        `tile` perturbation lays them out: odd columns and rows are flipped."""
        xmin, xmax = _mirrored(self.xmin, self.xmax, col, width)
        ymin, ymax = _mirrored(self.ymin, self.ymax, row, height)
        return replace(self, xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax)


def _mirrored(low: float, high: float, copy: int, size: int) -> tuple[float, float]:
    if copy % 2 == 0:
        return low + copy * size, high + copy * size
    return (copy + 1) * size - high, (copy + 1) * size - low


@dataclass(frozen=True)
class VocAnnotation:
    filename: str
    width: int
    height: int
    boxes: tuple[VocBox, ...]

    def count(self, name: str) -> int:
        return sum(1 for box in self.boxes if box.name == name)


@dataclass(frozen=True)
class ImageCount:
    image: str
    true_nucleated: int
    true_red: int
    pred_nucleated: int
    pred_red: int
    # RBC boxes holding a predicted red cell's centre, one cell per box.
    red_boxes_found: int = 0
    # Red cells counted by eye, where the image was recounted.
    recount_red: int | None = None
    # Why the counts may be wrong (`count_cautions`).
    cautions: tuple[str, ...] = ()

    @property
    def true_total(self) -> int:
        return self.true_nucleated + self.true_red

    @property
    def pred_total(self) -> int:
        return self.pred_nucleated + self.pred_red

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "true_total": self.true_total, "pred_total": self.pred_total}


def _text(element: ET.Element, tag: str, source: Path) -> str:
    found = element.find(tag)
    if found is None or found.text is None or not found.text.strip():
        raise DatasetError(f"{source.name}: missing <{tag}>.")
    return found.text.strip()


def _number(element: ET.Element, tag: str, source: Path) -> float:
    text = _text(element, tag, source)
    try:
        return float(text)
    except ValueError:
        raise DatasetError(f"{source.name}: <{tag}> is {text!r}, not a number.") from None


def parse_voc(path: Path) -> VocAnnotation:
    """Parse one Pascal VOC file; raise DatasetError when it is not well-formed or lacks fields."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - annotation files of a data set, never user uploads
    except (ET.ParseError, OSError) as exc:
        raise DatasetError(f"{path.name}: not a readable Pascal VOC XML file ({exc}).") from exc
    if root.tag != "annotation":
        raise DatasetError(f"{path.name}: the root element is <{root.tag}>, not <annotation>.")
    size = root.find("size")
    width = int(_number(size, "width", path)) if size is not None else 0
    height = int(_number(size, "height", path)) if size is not None else 0
    boxes = []
    for obj in root.iter("object"):
        written = _text(obj, "name", path)
        name = _VOC_NAMES.get(written.lower(), "")
        if not name:
            raise DatasetError(f"{path.name}: unknown object name {written!r}; expected one of {VOC_KINDS}.")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise DatasetError(f"{path.name}: an object {name!r} has no <bndbox>.")
        xmin, ymin, xmax, ymax = (_number(bndbox, tag, path) for tag in ("xmin", "ymin", "xmax", "ymax"))
        if xmax < xmin or ymax < ymin:
            raise DatasetError(f"{path.name}: a {name} box has its max before its min.")
        truncated = obj.find("truncated")
        boxes.append(
            VocBox(
                name=name,
                xmin=xmin,
                ymin=ymin,
                xmax=xmax,
                ymax=ymax,
                truncated=truncated is not None and (truncated.text or "").strip() == "1",
            )
        )
    filename = root.findtext("filename", default=path.with_suffix(".jpg").name).strip()
    return VocAnnotation(filename=filename, width=width, height=height, boxes=tuple(boxes))


def load_recount(path: Path) -> dict[str, int]:
    """Red-cell recounts from a CSV with the columns `image` (file name) and `red_cells`; others ignored."""
    try:
        # utf-8-sig: Excel's "CSV UTF-8" begins with a byte-order mark, which would stick to the
        # first column's name (\ufeffimage).
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not {"image", "red_cells"} <= set(reader.fieldnames or ()):
                raise DatasetError(f"{path.name}: needs the columns image and red_cells.")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path.name}: not a readable CSV file ({exc}).") from exc
    recount: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        image, value = (row["image"] or "").strip(), (row["red_cells"] or "").strip()
        if not (value.isascii() and value.isdigit()):
            raise DatasetError(f"{path.name}, line {line}: red_cells is {value!r}, not a whole number.")
        if image in recount:
            raise DatasetError(f"{path.name}, line {line}: {image!r} is recounted twice.")
        recount[image] = int(value)
    return recount


def red_cell_centres(result: SegmentationResult) -> np.ndarray:
    """(x, y) centroid of every red cell of a segmentation, shape (n_red, 2)."""
    labels = result.labels.ravel()
    size = result.n_nucleated + result.n_red + 1
    ys, xs = np.indices(result.labels.shape)
    areas = np.bincount(labels, minlength=size)[result.n_nucleated + 1 :]
    sum_x = np.bincount(labels, xs.ravel(), minlength=size)[result.n_nucleated + 1 :]
    sum_y = np.bincount(labels, ys.ravel(), minlength=size)[result.n_nucleated + 1 :]
    areas = np.maximum(areas, 1)
    return np.stack([sum_x / areas, sum_y / areas], axis=1)


def boxes_found(centres: np.ndarray, boxes: Iterable[VocBox]) -> int:
    """How many boxes hold a centre, each centre serving one box (the nearest-to-centre assignment).

    Two cells merged into one region leave one of their two boxes unfound; one cell cut in two still
    finds only its own box, so over-splitting cannot raise the figure much.
    """
    box_array = np.array([(b.xmin, b.ymin, b.xmax, b.ymax) for b in boxes], dtype=np.float64).reshape(-1, 4)
    if len(centres) == 0 or len(box_array) == 0:
        return 0
    half_w = np.maximum((box_array[:, 2] - box_array[:, 0]) / 2, 0.5)
    half_h = np.maximum((box_array[:, 3] - box_array[:, 1]) / 2, 0.5)
    dx = (centres[:, None, 0] - (box_array[:, 0] + box_array[:, 2]) / 2) / half_w
    dy = (centres[:, None, 1] - (box_array[:, 1] + box_array[:, 3]) / 2) / half_h
    inside = (np.abs(dx) <= 1) & (np.abs(dy) <= 1)
    unusable = 1e6
    cost = np.where(inside, np.hypot(dx, dy), unusable)
    rows, cols = linear_sum_assignment(cost)
    return int(np.count_nonzero(cost[rows, cols] < unusable))


def find_pairs(data_dir: Path) -> list[tuple[Path, Path]]:
    """(image, annotation) pairs of a VOC folder; every image needs its XML and every XML its image."""
    images_dir, annotations_dir = data_dir / "Images", data_dir / "Annotations"
    if not images_dir.is_dir() or not annotations_dir.is_dir():
        raise DatasetError(f"{data_dir.name}: expected the folders Images/ and Annotations/.")
    images = {p.stem: p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    annotations = {p.stem: p for p in annotations_dir.iterdir() if p.suffix.lower() == ".xml"}
    missing_xml = sorted(set(images) - set(annotations))
    missing_image = sorted(set(annotations) - set(images))
    if missing_xml or missing_image:
        raise DatasetError(
            f"{data_dir.name}: {len(missing_xml)} images without annotation (e.g. {missing_xml[:3]}), "
            f"{len(missing_image)} annotations without image (e.g. {missing_image[:3]})."
        )
    if not images:
        raise DatasetError(f"{data_dir.name}: no images in Images/.")
    pairs = [(images[stem], annotations[stem]) for stem in sorted(images)]
    mismatched = [(image, xml, written) for image, xml, written in _named_images(pairs) if written]
    if mismatched:
        image, xml, written = mismatched[0]
        raise DatasetError(
            f"{data_dir.name}: {xml.name} is paired with the image {image.name}, but its <filename> is "
            f"{written!r}, another image ({len(mismatched)} such annotations); correct its <filename> or "
            "pair the files by name."
        )
    return pairs


def _named_images(pairs: list[tuple[Path, Path]]) -> Iterable[tuple[Path, Path, str]]:
    """(image, annotation, its <filename> where that names another image, else ""), per pair.

    Annotation tools write the file name with another extension or with a folder, so only the name
    without folder and extension counts, in any case; an annotation without <filename> names nothing,
    and one that is not well-formed is left for `parse_voc` to refuse."""
    for image, xml in pairs:
        try:
            written = (ET.parse(xml).getroot().findtext("filename") or "").strip()  # noqa: S314 - as parse_voc
        except (ET.ParseError, OSError):
            written = ""
        base = re.split(r"[\\/]", written)[-1]
        named = {base.lower(), Path(base).stem.lower()} if base else {image.stem.lower()}
        yield image, xml, "" if image.stem.lower() in named else written


def kind_metrics(pairs: list[tuple[int, int]]) -> dict[str, float | int | list[float] | None]:
    """MAE over all images; MAPE over images whose true count is not zero (undefined otherwise), with
    its standard error (the spread of the images' errors over the root of their number: what another
    sample of as many fields might give); the exact fraction with its 95% Wilson interval."""
    errors = [abs(pred - true) for true, pred in pairs]
    relative = [abs(pred - true) / true for true, pred in pairs if true > 0]
    exact = sum(1 for e in errors if e == 0)
    return {
        "mae": round(sum(errors) / len(errors), 4) if errors else None,
        "mape_percent": round(100.0 * sum(relative) / len(relative), 2) if relative else None,
        "mape_standard_error": (
            round(100.0 * statistics.stdev(relative) / math.sqrt(len(relative)), 2)
            if len(relative) > 1
            else None
        ),
        "mape_images": len(relative),
        "exact_fraction": round(exact / len(errors), 4) if errors else None,
        "exact_fraction_95ci": wilson_interval(exact, len(errors)),
        "mean_true": round(sum(t for t, _ in pairs) / len(pairs), 3) if pairs else None,
        "mean_pred": round(sum(p for _, p in pairs) / len(pairs), 3) if pairs else None,
    }


def summarise(counts: Iterable[ImageCount]) -> dict[str, Any]:
    """Per-kind MAE, MAPE and exact fraction; `nucleated_exact_fraction` is the headline figure.

    `red` also carries `box_recall`; `red_recount` (the red-cell metrics against the recount, over the
    recounted images) is there when any image was recounted.
    """
    counts = list(counts)
    summary: dict[str, Any] = {
        "images": len(counts),
        "nucleated": kind_metrics([(c.true_nucleated, c.pred_nucleated) for c in counts]),
        "red": kind_metrics([(c.true_red, c.pred_red) for c in counts]),
        "total": kind_metrics([(c.true_total, c.pred_total) for c in counts]),
    }
    boxed = sum(c.true_red for c in counts)
    summary["red"]["box_recall"] = round(sum(c.red_boxes_found for c in counts) / boxed, 4) if boxed else None
    recounted = [(c.recount_red, c.pred_red, c.true_red) for c in counts if c.recount_red is not None]
    if recounted:
        summary["red_recount"] = kind_metrics([(recount, pred) for recount, pred, _ in recounted])
        total_recount = sum(recount for recount, _, _ in recounted)
        summary["red_recount"]["boxes_per_recounted_cell"] = round(
            sum(boxed for _, _, boxed in recounted) / max(1, total_recount), 3
        )
    summary["nucleated_exact_fraction"] = summary["nucleated"]["exact_fraction"]
    summary["cautions"] = caution_tally(c.cautions for c in counts)
    return summary


def _perturbed_boxes(
    boxes: list[VocBox], perturb: Perturbation, shape: tuple[int, ...], changed: tuple[int, ...]
) -> list[VocBox]:
    """`boxes` of an image of `shape` on its perturbed copy of shape `changed`: resized with a `scale`,
    and mirrored into every copy of a `tile`."""
    height, width = changed[0] // perturb.tile, changed[1] // perturb.tile
    scaled = [box.scaled(width / shape[1], height / shape[0]) for box in boxes]
    return [
        box.in_copy(col, row, width, height)
        for row in range(perturb.tile)
        for col in range(perturb.tile)
        for box in scaled
    ]


def evaluate_counting(
    data_dir: str | Path,
    params: SegmentationParams | None = None,
    *,
    limit: int | None = None,
    recount: dict[str, int] | None = None,
    progress: bool = True,
    perturb: Perturbation | None = None,
) -> dict[str, Any]:
    """Segment every image of a VOC folder and compare counts; JSON-ready summary plus per-image rows.

    `recount` maps image file names to red cells counted by eye (see `load_recount`); every name in it
    must be an image of the folder. `perturb` changes each image as read (its boxes follow a `scale`;
    a `tile` multiplies the counts and mirrors the boxes into every copy), to check that the counts
    hold under another stain, camera, magnification or field size. The summary names the red-cell
    networks counted with once (`centre_networks`, `radius_networks`: `distinct_networks`), so that
    a report can be traced to them as a result can.
    """
    data_dir = Path(data_dir)
    pairs = find_pairs(data_dir)
    recount = recount or {}
    unknown = sorted(set(recount) - {image.name for image, _ in pairs})
    if unknown:
        raise DatasetError(f"The recount names images that are not in {data_dir.name}: {unknown[:3]}.")
    if limit is not None:
        pairs = pairs[:limit]
    rows: list[ImageCount] = []
    centre_networks: list[dict[str, Any] | None] = []
    radius_networks: list[dict[str, Any] | None] = []
    for image_path, xml_path in tqdm(pairs, desc="counting", unit="image", disable=not progress):
        annotation = parse_voc(xml_path)
        rgb = read_image_file(image_path)
        red_boxes = [box for box in annotation.boxes if box.name == "RBC"]
        copies = 1
        if perturb is not None:
            changed = perturb.apply(rgb)
            red_boxes, copies = _perturbed_boxes(red_boxes, perturb, rgb.shape, changed.shape), perturb.copies
            rgb = changed
        result = segment_cells(rgb, params, measure=False)
        centre_networks.append(result.centre_network)
        radius_networks.append(result.radius_network)
        recounted = recount.get(image_path.name)
        rows.append(
            ImageCount(
                image=image_path.name,
                true_nucleated=annotation.count("WBC") * copies,
                true_red=len(red_boxes),
                pred_nucleated=result.n_nucleated,
                pred_red=result.n_red,
                red_boxes_found=boxes_found(red_cell_centres(result), red_boxes),
                recount_red=None if recounted is None else recounted * copies,
                cautions=result.cautions,
            )
        )
    summary = summarise(rows)
    summary["perturbation"] = perturb.describe() if perturb is not None else "none"
    summary["centre_networks"] = distinct_networks(centre_networks)
    summary["radius_networks"] = distinct_networks(radius_networks)
    return {"summary": summary, "images": [row.to_dict() for row in rows]}


def distinct_networks(records: Iterable[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The networks (`SegmentationResult.centre_network` or `radius_network`) a run's fields were
    counted with, each once, in the order first used; none where none was used. One network is the rule;
    more than one says that a folder changed during the run (a threshold chosen again, a network
    retrained into it), which the workers' cache follows field by field, so the counts mix networks."""
    distinct: list[dict[str, Any]] = []
    for record in records:
        if record is not None and record not in distinct:
            distinct.append(record)
    return distinct
