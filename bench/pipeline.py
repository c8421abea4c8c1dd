"""Benchmark of the one-image analysis pipeline against a naive reference, in one warm process.

    python bench/pipeline.py [--model DIR] [--n 50] [--images DIR] [--skip-naive]

Prints JSON: per-stage and end-to-end median and p95 (milliseconds) of `inference.engine.pipeline`,
and of a naive reference run on the same images in the same process: `model.predict` for the image
and for the cell crops, Grad-CAM with an eager `GradientTape`, and the OpenCV tutorial watershed
(markers from `dist > 0.7 * max`) with scikit-image `regionprops` per region. Reading, preprocessing
and overlays are shared code in both, so the ratio shows what compilation, batching and the
segmentation design buy.

Images: `--images` (a folder with one sub-folder per class, listed as the engine lists a data set:
hidden and system files left out; refused when it does not exist or holds no images), else
`../shared/data/all4/val` relative to the project root, classes interleaved; only when `--images`
is not given and that folder is absent, generated smear-like fields (the JSON says so). Model:
`--model`, else the workers' default model (`MARROWFIND_MODEL_DIR`, else `models/marrowfind-resnet50-v1`),
else a tiny random network saved in a temporary folder (timings then say little about the shipped
model). The JSON says which model ran and why (`model_dir`, `model_choice`); a folder named that
holds no model is refused before any timing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.engine.cli_checks import positive_int  # noqa: E402
from inference.engine.datasets import scan_image_folder  # noqa: E402
from inference.engine.errors import DatasetError, ModelArtifactError  # noqa: E402
from inference.engine.imageio import read_image  # noqa: E402
from inference.engine.pipeline import CELL_METHODS, DEFAULT_CELL_METHOD, END_TO_END, STAGES, Pipeline  # noqa: E402
from inference.engine.preprocess import prepare_for_model  # noqa: E402

DEFAULT_IMAGES_NAME = "shared/data/all4/val"
DEFAULT_IMAGES = ROOT.parent / DEFAULT_IMAGES_NAME
TARGET_MEDIAN_MS = 150.0
# The model the workers serve by default: marrowfind/settings.py's DEFAULT_MODEL_DIR, mirrored here since
# the benchmark runs without Django (tests/test_bench_arguments.py checks they agree).
MODEL_ENV = "MARROWFIND_MODEL_DIR"
PRODUCT_MODEL = ROOT / "models" / "marrowfind-resnet50-v1"


def find_images(folder: Path, n: int) -> list[Path]:
    """Up to n images of a class-per-folder set, taking the classes in turn so every class is
    represented. Listed by the engine's own scan, so a macOS `._` file or a `.DS_Store` beside the
    images is not timed (or crashes the run) as an image."""
    scanned = scan_image_folder(folder, require_all=False)
    groups = [
        [path for path, label in zip(scanned.paths, scanned.labels, strict=True) if label == index]
        for index in range(len(scanned.classes))
    ]
    picked: list[Path] = []
    for i in range(max((len(g) for g in groups), default=0)):
        picked.extend(g[i] for g in groups if i < len(g))
    return picked[:n]


def choose_images(images: Path | None, n: int, tmp: Path) -> tuple[list[Path], dict[str, str]]:
    """(images to time, what the JSON says of them). A folder given must hold images: a mistyped one
    is refused (`DatasetError`), never replaced by generated fields; those are drawn only when no
    folder is given and the default one is absent."""
    if images is None and not DEFAULT_IMAGES.is_dir():
        note = (
            f"no --images given and the default {DEFAULT_IMAGES_NAME} is absent: generated smear-like fields"
        )
        return generated_images(tmp, n), {"images": "generated", "images_note": note}
    folder = images if images is not None else DEFAULT_IMAGES
    paths = find_images(folder, n)
    name = str(folder.relative_to(ROOT.parent)) if folder.is_relative_to(ROOT.parent) else folder.name
    return paths, {"images": name}


def generated_images(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        img = np.full((224, 224, 3), (235, 200, 205), np.uint8)
        for _ in range(25):
            c = (int(rng.integers(10, 214)), int(rng.integers(10, 214)))
            cv2.circle(img, c, int(rng.integers(9, 13)), (215, 150, 160), -1)
        for _ in range(int(rng.integers(1, 4))):
            c = (int(rng.integers(20, 204)), int(rng.integers(20, 204)))
            cv2.circle(img, c, int(rng.integers(14, 20)), (120, 50, 150), -1)
        path = folder / f"gen{i:03d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def choose_model(model: Path | None, tmp: Path) -> tuple[Path, str]:
    """(model folder to time, why it was chosen, for the JSON): the one given, else the workers' default."""
    if model is not None:
        return model, "--model"
    configured = os.environ.get(MODEL_ENV, "").strip()
    if configured:
        return Path(configured), f"no --model: {MODEL_ENV}, the workers' default model"
    if (PRODUCT_MODEL / "model.json").is_file():
        why = f"no --model and no {MODEL_ENV}: models/{PRODUCT_MODEL.name}, the workers' default model"
        return PRODUCT_MODEL, why
    why = (
        f"no --model, no {MODEL_ENV} and no models/{PRODUCT_MODEL.name}: a tiny random network "
        "(its timings say little about the shipped model)"
    )
    return tiny_random_model(tmp), why


def tiny_random_model(tmp: Path) -> Path:
    from inference.engine.artifact import save_artifact
    from inference.engine.classifier import ClassifierConfig, build_classifier

    config = ClassifierConfig(backbone="tiny_cnn")
    folder = tmp / "tiny-model"
    save_artifact(
        folder, build_classifier(config), info={"name": "tiny-random", "architecture": config.to_dict()}
    )
    return folder


# -- the naive reference ------------------------------------------------------------------------------


def tutorial_watershed(rgb: np.ndarray) -> tuple[np.ndarray, list[dict[str, float]]]:
    """The OpenCV tutorial's watershed, then regionprops morphometrics of every region."""
    from skimage.measure import regionprops

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    _, thresh = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    kernel = np.ones((3, 3), np.uint8)
    opening = cv2.morphologyEx(thresh, cv2.MORPH_OPEN, kernel, iterations=2)
    sure_bg = cv2.dilate(opening, kernel, iterations=3)
    dist = cv2.distanceTransform(opening, cv2.DIST_L2, 5)
    _, sure_fg = cv2.threshold(dist, 0.7 * dist.max(), 255, 0)
    sure_fg = sure_fg.astype(np.uint8)
    unknown = cv2.subtract(sure_bg, sure_fg)
    _, markers = cv2.connectedComponents(sure_fg)
    markers = markers + 1
    markers[unknown == 255] = 0
    markers = cv2.watershed(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), markers)
    labels = np.where(markers > 1, markers - 1, 0).astype(np.int32)
    props = [
        {
            "area": float(r.area),
            "perimeter": float(r.perimeter),
            "eccentricity": float(r.eccentricity),
            "solidity": float(r.solidity),
            "mean_intensity": float(r.intensity_mean),
        }
        for r in regionprops(labels, intensity_image=grey)
    ]
    return labels, props


class NaiveReference:
    def __init__(self, pipeline: Pipeline) -> None:
        from inference.engine.gradcam import gradcam_model

        self.pipeline = pipeline
        self.model = pipeline.predictor.model
        self.cam_model = gradcam_model(self.model, pipeline.predictor.last_conv_layer)

    def eager_gradcam(self, prepared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import tensorflow as tf

        x = tf.convert_to_tensor(prepared[None].astype(np.float32))
        with tf.GradientTape() as tape:
            conv, logits = self.cam_model(x, training=False)
            score = logits[0, int(tf.argmax(logits[0]))]
        grads = tape.gradient(score, conv)
        weights = tf.reduce_mean(grads, axis=(1, 2))
        cam = tf.nn.relu(tf.reduce_sum(conv * weights[:, None, None, :], axis=-1))[0].numpy()
        return cam / (cam.max() or 1.0), logits.numpy()[0]

    def run(self, path: Path, timer: dict[str, float]) -> None:
        from inference.engine.gradcam import overlay_heatmap, resize_heatmap

        t = time.perf_counter()
        rgb = read_image(path)
        prepared = prepare_for_model(rgb)
        t = _lap(timer, "read_preprocess", t)
        self.model.predict(prepared[None].astype(np.float32), verbose=0)
        cam, _ = self.eager_gradcam(prepared)
        t = _lap(timer, "classify_gradcam", t)
        tutorial_watershed(rgb)
        _lap(timer, "segmentation_morphometrics", t)
        # The tutorial's regions are not cells, so the crops come from the pipeline's segmentation
        # (computed outside the clock); the crop extraction is timed, then one model.predict.
        segmentation = self.pipeline_segmentation(rgb)
        t = time.perf_counter()
        crops = self.pipeline.crops(rgb, segmentation)
        if len(crops):
            self.model.predict(crops.astype(np.float32), verbose=0)
        t = _lap(timer, "per_cell_classification", t)
        heatmap = resize_heatmap(cam, rgb.shape[0], rgb.shape[1])
        overlay_heatmap(rgb, heatmap)
        _lap(timer, "overlays", t)

    def pipeline_segmentation(self, rgb: np.ndarray) -> Any:
        from inference.engine.segmentation import segment_cells

        return segment_cells(rgb, self.pipeline.segmentation_params, measure=True)


def _lap(timer: dict[str, float], name: str, start: float) -> float:
    now = time.perf_counter()
    timer[name] = (now - start) * 1000.0
    return now


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values)
    return {"median_ms": round(float(np.median(arr)), 2), "p95_ms": round(float(np.percentile(arr, 95)), 2)}


def _summarise(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Per-stage and end-to-end statistics. The pipeline reports its wall time (its segmentation runs
    beside its classification, so the stages overlap); the naive reference's stages run in turn."""
    stages = {stage: _stats([r[stage] for r in rows]) for stage in STAGES}
    walls = [r.get(END_TO_END, sum(r[s] for s in STAGES)) for r in rows]
    return {"stages": stages, "end_to_end": _stats(walls)}


def _measure(paths: list[Path], run: Callable[[Path], dict[str, float]]) -> list[dict[str, float]]:
    rows = []
    for path in paths:
        rows.append(run(path))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help=f"model folder (default: {MODEL_ENV}, else models/{PRODUCT_MODEL.name}, else tiny)",
    )
    parser.add_argument("--n", type=positive_int, default=50, help="number of images (default 50)")
    parser.add_argument("--images", type=Path, default=None, help="image folder with class sub-folders")
    parser.add_argument("--skip-naive", action="store_true", help="time the pipeline only")
    parser.add_argument(
        "--cell-method", default=DEFAULT_CELL_METHOD, choices=CELL_METHODS, help="per-cell method"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:  # before any model is loaded
            paths, source = choose_images(args.images, args.n, tmp)
        except DatasetError as exc:
            parser.error(f"--images {args.images or DEFAULT_IMAGES}: {exc}")
        model_dir, model_choice = choose_model(args.model, tmp)
        try:
            pipeline = Pipeline(model_dir, cell_method=args.cell_method)
        except ModelArtifactError as exc:
            parser.error(f"model {model_dir} ({model_choice}): {exc}")
        pipeline.warm_up()
        pipeline.run(paths[0])  # first real image: lazy imports, allocator growth

        def run_pipeline(path: Path) -> dict[str, float]:
            return dict(pipeline.run(path).timings_ms)

        rows = _measure(paths, run_pipeline)
        cells = [pipeline.run(p).segmentation.n_nucleated for p in paths[:5]]
        report: dict[str, Any] = {
            **source,
            "n": len(paths),
            "model": pipeline.model_facts,
            "model_dir": model_dir.name,
            "model_choice": model_choice,
            "cpu_count": os.cpu_count(),
            "cell_method": args.cell_method,
            "load_average_1min": round(os.getloadavg()[0], 2),
            "nucleated_cells_first5": cells,
            "pipeline": _summarise(rows),
            "target_median_ms": TARGET_MEDIAN_MS,
        }
        report["meets_target"] = report["pipeline"]["end_to_end"]["median_ms"] <= TARGET_MEDIAN_MS
        if not args.skip_naive:
            naive = NaiveReference(pipeline)
            naive.run(paths[0], {})  # warm up predict and the eager path too

            def run_naive(path: Path) -> dict[str, float]:
                timer: dict[str, float] = {}
                naive.run(path, timer)
                return timer

            naive_rows = _measure(paths, run_naive)
            report["naive"] = _summarise(naive_rows)
            fast = report["pipeline"]["end_to_end"]["median_ms"]
            slow = report["naive"]["end_to_end"]["median_ms"]
            report["speedup_median"] = round(slow / fast, 2) if fast else None
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
