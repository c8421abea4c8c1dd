"""Counting evaluation against counts made by eye: a CSV naming fields of an image folder with the
nucleated and red cells someone counted on each, no boxes needed (`docs/data/all4-val-recount.csv`).

This is how a laboratory checks the counter on its own smears: count some fields by eye, list them,
and compare (`manage.py evaluate_counting --data DIR --counts FILE.csv`, docs/counting.md).
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm import tqdm

from .count_cautions import caution_tally
from .counting import distinct_networks, kind_metrics
from .datasets import read_image_file
from .errors import DatasetError
from .perturbation import Perturbation
from .segmentation import SegmentationParams, segment_cells
from .stain_calibration import StainCalibration

_COUNT_COLUMNS = ("nucleated", "red_cells")


@dataclass(frozen=True)
class EyeCount:
    """One field counted by eye; a kind left blank in the CSV was not counted (None)."""

    image: str
    nucleated: int | None
    red: int | None
    batch: str = ""


@dataclass(frozen=True)
class EyeCountResult:
    image: str
    batch: str
    true_nucleated: int | None
    pred_nucleated: int
    true_red: int | None
    pred_red: int
    cautions: tuple[str, ...] = ()


def load_eye_counts(path: Path) -> list[EyeCount]:
    """Fields from a CSV with the columns `image` (a path inside the image folder), `nucleated` and/or
    `red_cells`, and optionally `batch`; other columns (each rater's count) are ignored. Paths are
    normalised (`./A/x.jpg` and `A//x.jpg` are `A/x.jpg`), so one field cannot be listed twice."""
    try:
        # utf-8-sig: Excel's "CSV UTF-8" begins with a byte-order mark, which would stick to the
        # first column's name (\ufeffimage).
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or ())
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path.name}: not a readable CSV file ({exc}).") from exc
    if "image" not in columns or not columns & set(_COUNT_COLUMNS):
        raise DatasetError(f"{path.name}: needs the column image and at least one of nucleated, red_cells.")
    counts: list[EyeCount] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        written = (row["image"] or "").strip()
        parts = PurePosixPath(written).parts
        if not written or written.startswith("/") or ".." in parts or not parts:
            raise DatasetError(
                f"{path.name}, line {line}: image {written!r} is not a path inside the folder."
            )
        # PurePosixPath drops "." parts and doubled slashes: "./A/x.jpg" and "A//x.jpg" are "A/x.jpg".
        image = PurePosixPath(written).as_posix()
        if image in seen:
            written_as = f" (written {written!r})" if written != image else ""
            raise DatasetError(f"{path.name}, line {line}: {image!r}{written_as} is listed twice.")
        seen.add(image)
        values = {column: _count(row.get(column), path, line, column) for column in _COUNT_COLUMNS}
        if all(value is None for value in values.values()):
            raise DatasetError(f"{path.name}, line {line}: {image!r} has no count.")
        counts.append(
            EyeCount(image, values["nucleated"], values["red_cells"], (row.get("batch") or "").strip())
        )
    if not counts:
        raise DatasetError(f"{path.name}: no fields listed.")
    return counts


def _count(text: str | None, path: Path, line: int, column: str) -> int | None:
    value = (text or "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise DatasetError(f"{path.name}, line {line}: {column} is {value!r}, not a whole number.")
    return int(value)


def evaluate_eye_counts(
    data_dir: str | Path,
    counts: list[EyeCount],
    params: SegmentationParams | None = None,
    *,
    limit: int | None = None,
    progress: bool = True,
    perturb: Perturbation | None = None,
) -> dict[str, Any]:
    """Segment every listed field and compare its counts with the eye's: per kind the MAE, MAPE, exact
    fraction and mean signed error, over all fields and per batch; plus per-field rows. Under a `tile`
    perturbation the eye's counts are multiplied by the number of copies."""
    data_dir = Path(data_dir)
    missing = [count.image for count in counts if not (data_dir / count.image).is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} listed fields are not in {data_dir.name}: {missing[:3]}.")
    rows: list[EyeCountResult] = []
    centre_networks: list[dict[str, Any] | None] = []
    radius_networks: list[dict[str, Any] | None] = []
    copies = perturb.copies if perturb is not None else 1
    for count in tqdm(counts[:limit], desc="counting", unit="field", disable=not progress):
        rgb = read_image_file(data_dir / count.image)
        if perturb is not None:
            rgb = perturb.apply(rgb)
        result = segment_cells(rgb, params, measure=False)
        centre_networks.append(result.centre_network)
        radius_networks.append(result.radius_network)
        rows.append(
            EyeCountResult(
                count.image,
                count.batch,
                _times(count.nucleated, copies),
                result.n_nucleated,
                _times(count.red, copies),
                result.n_red,
                result.cautions,
            )
        )
    # Batch names in numeric order where they are numbers ("2" before "10").
    batches = sorted({row.batch for row in rows if row.batch}, key=lambda b: (not b.isdigit(), b.zfill(12)))
    summary: dict[str, Any] = {
        "fields": len(rows),
        **_summary(rows),
        "cautions": caution_tally(r.cautions for r in rows),
    }
    if batches:
        summary["batches"] = {
            batch: _summary([row for row in rows if row.batch == batch]) for batch in batches
        }
    summary["perturbation"] = perturb.describe() if perturb is not None else "none"
    # As `counting.evaluate_counting` names them: the red-cell networks the fields were counted with.
    summary["centre_networks"] = distinct_networks(centre_networks)
    summary["radius_networks"] = distinct_networks(radius_networks)
    return {"summary": summary, "fields": [asdict(row) for row in rows]}


def _times(count: int | None, copies: int) -> int | None:
    return None if count is None else count * copies


def _summary(rows: list[EyeCountResult]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for kind in ("nucleated", "red"):
        pairs = [
            (true, pred)
            for true, pred in ((getattr(row, f"true_{kind}"), getattr(row, f"pred_{kind}")) for row in rows)
            if true is not None
        ]
        if not pairs:
            continue
        metrics = kind_metrics(pairs)
        metrics["fields"] = len(pairs)
        metrics["mean_error"] = round(sum(pred - true for true, pred in pairs) / len(pairs), 3)
        signed = [(pred - true) / true for true, pred in pairs if true > 0]
        metrics["mean_signed_percent"] = round(100.0 * sum(signed) / len(signed), 2) if signed else None
        summary[kind] = metrics
    return summary


# The figure each kind is judged by when a stain calibration is checked against counts by eye.
_CHECKED_METRICS = (("nucleated", "mae"), ("red", "mape_percent"))


def check_stain_calibration(
    data_dir: str | Path,
    counts: list[EyeCount],
    calibration: StainCalibration,
    *,
    params: SegmentationParams | None = None,
    perturb: Perturbation | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The counted fields' summary without and with `calibration`, and the kinds it counts worse
    (nucleated by MAE, red by MAPE): a calibration should be kept only where `worse` is empty."""
    plain = params or SegmentationParams()
    without = evaluate_eye_counts(data_dir, counts, plain, progress=progress, perturb=perturb)["summary"]
    calibrated = calibration.applied_to(plain)
    with_it = evaluate_eye_counts(data_dir, counts, calibrated, progress=progress, perturb=perturb)["summary"]
    worse = [
        kind
        for kind, metric in _CHECKED_METRICS
        if kind in without
        and without[kind][metric] is not None
        and with_it[kind][metric] is not None
        and with_it[kind][metric] > without[kind][metric]
    ]
    return {"without": without, "with": with_it, "worse": worse}
