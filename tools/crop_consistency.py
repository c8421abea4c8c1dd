"""How steady the counts stay when a field is cut smaller, as a camera with a smaller sensor or a field
centred on a few cells would take it. Needs no counts by eye: each crop's counts are compared with its
whole field's cells whose centre lies in the crop.

    .venv/bin/python tools/crop_consistency.py --data ../shared/data/counting/cbc/Images \
        [--side 360] [--scale auto|none] [--limit N]

Per crop kind (the top-left and bottom-right `side`-pixel squares; the centre square of the field's
height resized to `side` pixels), it prints as JSON: the share of crops whose nucleated count is the
whole field's in the crop, the red cells' mean absolute percentage error against the whole field's in
the crop, and how far the crop's red-cell radius is from the whole field's (root mean square of the
log ratio, and how many are more than 28% off). With `--scale auto` each kind of crop, and the whole
fields, are counted under a scale calibration measured on their own set (docs/counting.md, "A
laboratory's scale calibration"). The whole field's border rule differs from the crop's, so even a
perfect counter is a few percent off.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.engine.cli_checks import positive_int
from inference.engine.imageio import read_image
from inference.engine.scale_calibration import ScaleCalibrationError, calibrate_scale
from inference.engine.segmentation import (
    SegmentationParams,
    SegmentationResult,
    field_radius,
    segment_cells,
)

# A crop's radius this far (log ratio) from its whole field's is counted as off: 28%.
_OFF = 0.25


def _crops(rgb: np.ndarray, side: int) -> dict[str, tuple[np.ndarray, tuple[int, int, int, int], float]]:
    """Per kind: (the crop, its window x0, y0, x1, y1 on the field, the factor it was resized by)."""
    height, width = rgb.shape[:2]
    square = min(height, width)
    x0 = (width - square) // 2
    centre = cv2.resize(rgb[:square, x0 : x0 + square], (side, side), interpolation=cv2.INTER_AREA)
    return {
        "top_left": (rgb[:side, :side], (0, 0, side, side), 1.0),
        "bottom_right": (
            rgb[height - side :, width - side :],
            (width - side, height - side, width, height),
            1.0,
        ),
        "centre_resized": (centre, (x0, 0, x0 + square, square), side / square),
    }


def _centres(result: SegmentationResult, red: bool) -> np.ndarray:
    """(x, y) of the nucleated or the red cells' label centroids."""
    labels = result.labels
    first, last = (result.n_nucleated + 1, result.total_cells) if red else (1, result.n_nucleated)
    ys, xs = np.nonzero((labels >= first) & (labels <= last))
    ids = labels[ys, xs]
    counts = np.bincount(ids, minlength=last + 1)
    kept = counts > 0
    return (
        np.stack([np.bincount(ids, xs, last + 1)[kept], np.bincount(ids, ys, last + 1)[kept]], 1)
        / counts[kept, None]
    )


def _inside(points: np.ndarray, window: tuple[int, int, int, int]) -> int:
    x0, y0, x1, y1 = window
    return int(
        np.count_nonzero(
            (points[:, 0] >= x0) & (points[:, 0] < x1) & (points[:, 1] >= y0) & (points[:, 1] < y1)
        )
    )


def _params(images: list[np.ndarray], scale: str) -> SegmentationParams:
    """The defaults, or under a scale calibration measured on `images` (`scale` "auto")."""
    if scale == "none":
        return SegmentationParams()
    return calibrate_scale(field_radius(rgb) for rgb in images).applied_to(SegmentationParams())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of fields (*.jpg, *.png)")
    parser.add_argument("--side", type=positive_int, default=360, help="crop side in pixels (default 360)")
    parser.add_argument("--scale", choices=("auto", "none"), default="none", help="scale calibration")
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N fields")
    args = parser.parse_args(argv)
    paths = sorted(p for p in args.data.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[
        : args.limit
    ]
    fields = [read_image(path) for path in tqdm(paths, desc="reading", unit="field")]
    fields = [rgb for rgb in fields if min(rgb.shape[:2]) > args.side]
    crops = [_crops(rgb, args.side) for rgb in fields]
    if not crops:
        parser.error(f"no field under {args.data} is larger than {args.side} pixels a side")
    kinds = list(crops[0])
    try:
        params = {"whole": _params(fields, args.scale)}
        for kind in kinds:
            params[kind] = _params([field[kind][0] for field in crops], args.scale)
    except ScaleCalibrationError as exc:
        parser.error(str(exc))
    rows: dict[str, list[tuple[int, int, int, int, float]]] = {kind: [] for kind in kinds}
    for rgb, field_crops in tqdm(list(zip(fields, crops, strict=True)), desc="counting", unit="field"):
        whole = segment_cells(rgb, params["whole"], measure=False)
        white, red = _centres(whole, red=False), _centres(whole, red=True)
        for kind, (crop, window, factor) in field_crops.items():
            part = segment_cells(np.ascontiguousarray(crop), params[kind], measure=False)
            off = math.log(part.cell_radius_px / factor / whole.cell_radius_px)
            rows[kind].append(
                (part.n_nucleated, _inside(white, window), part.n_red, _inside(red, window), off)
            )
    report = {"fields": len(fields), "side": args.side, "scale": args.scale, "kinds": {}}
    for kind, values in rows.items():
        table = np.array(values, dtype=np.float64)
        counted = table[:, 3] > 0
        errors = np.abs(table[counted, 2] - table[counted, 3]) / table[counted, 3]
        report["kinds"][kind] = {
            "nucleated_same": round(float(np.mean(table[:, 0] == table[:, 1])), 4),
            "red_mape_percent": round(100 * float(errors.mean()), 2),
            "red_crop_total": int(table[:, 2].sum()),
            "red_whole_total": int(table[:, 3].sum()),
            "radius_log_rms": round(float(np.sqrt(np.mean(table[:, 4] ** 2))), 3),
            "radius_off": int(np.count_nonzero(np.abs(table[:, 4]) > _OFF)),
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
