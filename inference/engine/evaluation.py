"""Evaluate a model artifact on a folder of labelled images, optionally under a perturbation.

    python -m inference.engine.evaluation MODEL_DIR DATA_DIR [--perturb hue=20] [--plots OUT_DIR]
    python -m inference.engine.evaluation MODEL_DIR IMAGES_DIR --unlabelled   # flagged rate only
    python -m inference.engine.evaluation MODEL_DIR DATA_DIR --cells [--limit N]  # per-cell calls

DATA_DIR has one sub-folder per class: the public names (`Benign`, `Early`, `Pre`, `Pro`) or our
codes, matched case-insensitively. Each image goes through exactly the inference path
(`read_image`, optional perturbation, `prepare_for_model`, one batched forward pass giving logits and
penultimate features, then the trust assessment), so the figures are those a user would get.

Perturbations (`--perturb hue=20,saturation=0.8`, see `perturbation.py`) are applied to the RGB
image as read, before preprocessing.

Every image is read once before any model work, so that all that cannot be used are named in one
error. An image whose model output is not finite (NaN from a diverged network) gets no call, is
flagged `invalid_model_output`, and is counted in `n_invalid_output`, apart from every figure; with
`--cells`, such a cell is counted in `n_cells_invalid_output`. Every report names the model's weights
and model.json (`model_json_sha256`). The report (`--out`, strict JSON: a number that is not finite is
null) replaces an existing file only with `--force`, and is written whole or not at all.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import model_json_sha256
from .calibration import softmax
from .classes import CLASS_CODES
from .cli_checks import UsageError, check_output_file, check_output_folder, positive_int, write_output_file
from .datasets import (
    list_image_files,
    read_every_image,
    read_image_file,
    refuse_conflicting_labels,
    scan_image_folder,
)
from .errors import DatasetError, EngineError, ModelArtifactError
from .field_views import field_views, pooled_assessment, view_inputs, whole_at_any_radius
from .metrics import classification_metrics, ece_sampling_floor
from .perturbation import Perturbation, parse_perturbation
from .pipeline import CELL_METHODS, DEFAULT_CELL_METHOD
from .plots import CONFUSION_PNG, RELIABILITY_PNG, ROC_PNG
from .preprocess import MODEL_INPUT_SIZE, prepare_for_model
from .trust import REASON_INVALID_OUTPUT

DEFAULT_BATCH_SIZE = 32

log = logging.getLogger(__name__)


# -- data folders -------------------------------------------------------------------------------------


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name; refused when it holds pictures that
    would be left out (in sub-folders, or in a format that cannot be read)."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder.")
    return list_image_files(root)


def list_labelled_images(data_dir: str | Path) -> list[tuple[Path, int]]:
    """(path, class index) for every image in the class sub-folders of `data_dir`.

    The layout rules are those of training (`datasets.scan_image_folder`), except that a class may be
    missing: a test set need not have every class.
    """
    folder = scan_image_folder(data_dir, require_all=False)
    return [(path, int(label)) for path, label in zip(folder.paths, folder.labels, strict=True)]


def _read_before_the_model(items: Sequence[tuple[Path, int]], root: Path) -> None:
    """Read every image once before any model work, so that all that cannot be used are named in one
    `DatasetError` in seconds, not one per run after the model has run; and refuse the same picture
    under two classes, which would be scored against both."""
    paths = [path for path, _ in items]
    labels = np.array([label for _, label in items], dtype=np.int64)
    refuse_conflicting_labels(paths, labels, read_every_image(paths, root), root)


def iter_prepared(
    items: Iterable[tuple[Path, int]] | Iterable[Path], perturb: Perturbation | None = None
) -> Iterator[np.ndarray]:
    """Read, perturb and prepare each image (224x224x3 uint8), in order."""
    for item in items:
        path = item[0] if isinstance(item, tuple) else item
        rgb = read_image_file(path)
        if perturb is not None:
            rgb = perturb.apply(rgb)
        yield prepare_for_model(rgb)


def iter_prepared_views(paths: Iterable[Path], perturb: Perturbation | None = None) -> Iterator[np.ndarray]:
    """Per image, read and perturbed, its model-ready views (k, 224, 224, 3) uint8: the whole field,
    or the views of a field too large to classify whole (`field_views`), as the pipeline does."""
    from .laboratory import laboratory_params
    from .segmentation import field_radius

    params = laboratory_params()
    for path in paths:
        rgb = read_image_file(path)
        if perturb is not None:
            rgb = perturb.apply(rgb)
        views = None
        if not whole_at_any_radius(rgb.shape, MODEL_INPUT_SIZE):
            views = field_views(rgb.shape, field_radius(rgb, params), MODEL_INPUT_SIZE)
        yield view_inputs(rgb, views, MODEL_INPUT_SIZE)


# -- evaluation ---------------------------------------------------------------------------------------


def _batches(images: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    batch: list[np.ndarray] = []
    for image in images:
        batch.append(image)
        if len(batch) == size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def _run_model(
    model_dir: str | Path,
    paths: Sequence[Path],
    perturb: Perturbation | None,
    batch_size: int,
    show_progress: bool,
) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any], np.ndarray]:
    """Calibrated probabilities (n, C), per-image trust fields, model facts, and which images have a
    finite output (`_mark_invalid_outputs`)."""
    from tqdm import tqdm

    from .predictor import get_predictor
    from .trust import load_trust

    predictor = get_predictor(model_dir)
    trust = load_trust(predictor.info.get("trust"), model_dir)
    logits_parts: list[np.ndarray] = []
    feature_parts: list[np.ndarray] = []
    colour_parts: list[np.ndarray] = []
    acquisition_parts: list[np.ndarray] = []
    views_per_image: list[int] = []

    def every_view() -> Iterator[np.ndarray]:
        for views in iter_prepared_views(paths, perturb):
            views_per_image.append(len(views))
            yield from views

    with tqdm(total=len(paths), desc="evaluate", unit="img", disable=not show_progress) as bar:
        for batch in _batches(every_view(), batch_size):
            features, logits = predictor.features_and_logits(batch, batch_size=batch_size)
            logits_parts.append(np.asarray(logits, dtype=np.float64))
            feature_parts.append(np.asarray(features, dtype=np.float64).reshape(len(batch), -1))
            if trust is not None:
                colours, acquisition = trust.image_checks(batch)
                colour_parts += [] if colours is None else [colours]
                acquisition_parts += [] if acquisition is None else [acquisition]
            bar.update(len(views_per_image) - bar.n)
    logits_all = np.concatenate(logits_parts)
    features_all = np.concatenate(feature_parts)
    ends = np.cumsum(views_per_image)
    starts = ends - np.array(views_per_image)
    if trust is None:
        # No fitted trust state: raw softmax, nothing can be judged out of distribution.
        view_probs = softmax(logits_all)
        probs = np.array([view_probs[a:b].mean(axis=0) for a, b in zip(starts, ends, strict=True)])
        fields: list[dict[str, Any]] = [
            {
                "confidence": float(p.max()),
                "ood_score": None,
                "stain_score": None,
                "acquisition_score": None,
                "flagged": False,
                "reasons": [],
            }
            for p in probs
        ]
    else:
        per_view = trust.assess(
            logits_all,
            features_all,
            np.concatenate(colour_parts) if colour_parts else None,
            np.concatenate(acquisition_parts) if acquisition_parts else None,
        )
        assessments = [
            per_view[a] if b - a == 1 else pooled_assessment(per_view[a:b])
            for a, b in zip(starts, ends, strict=True)
        ]
        probs = np.array([a.probabilities for a in assessments])
        fields = [
            {
                "confidence": a.confidence,
                "ood_score": a.ood_score,
                "stain_score": None if math.isnan(a.stain_score) else a.stain_score,
                "acquisition_score": None if math.isnan(a.acquisition_score) else a.acquisition_score,
                "flagged": a.flagged,
                "reasons": list(a.reasons),
            }
            for a in assessments
        ]
    facts = {"model": _model_facts(predictor.info), "trust_fitted": trust is not None}
    return probs, fields, facts, _mark_invalid_outputs(probs, fields)


def _model_facts(info: dict[str, Any]) -> dict[str, Any]:
    """The model a report was made with, as a result names it: the weights, and the model.json read
    with them (`model_json_sha256`, as the registry records it): trust thresholds edited in place
    change the calls, not the weights."""
    return {
        "name": info.get("name"),
        "backbone": info.get("architecture", {}).get("backbone"),
        "weights_sha256": info.get("weights", {}).get("sha256"),
        "model_json_sha256": model_json_sha256(info),
    }


def _mark_invalid_outputs(probs: np.ndarray, fields: list[dict[str, Any]]) -> np.ndarray:
    """Which images have finite probabilities. The others (a diverged network gives NaN) get no
    confidence, are flagged `invalid_model_output`, and are left out of every figure, with a warning:
    NaN made sklearn refuse the whole report, and was counted as a call of the first class. A model
    with no finite output at all is refused: there is nothing to score."""
    valid = np.isfinite(probs).all(axis=1)
    if not valid.any():
        raise ModelArtifactError(
            f"The model gave no finite output for any of the {len(valid)} images (NaN or infinite "
            "probabilities): its weights are broken, e.g. by a training run that diverged. Nothing to score."
        )
    for field in (field for field, ok in zip(fields, valid, strict=True) if not ok):
        field.update(confidence=None, flagged=True)
        if REASON_INVALID_OUTPUT not in field["reasons"]:
            field["reasons"].append(REASON_INVALID_OUTPUT)
    n_invalid = int((~valid).sum())
    if n_invalid:
        log.warning(
            "%d of the %d images have no finite model output (NaN or infinite): they are flagged %s, "
            "counted in n_invalid_output, and left out of every figure.",
            n_invalid,
            len(valid),
            REASON_INVALID_OUTPUT,
        )
    return valid


def evaluate_classifier(
    model_dir: str | Path,
    data_dir: str | Path,
    perturb: Perturbation | str | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    show_progress: bool = True,
    plots_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Metrics of the model in `model_dir` on the labelled images in `data_dir` (JSON-ready dict).

    Keys: n, accuracy, accuracy_95ci (Wilson), weighted_f1, macro_f1 (over the classes in the sample
    or called), cohen_kappa, ece (calibrated, 15 bins), ece_floor (the ECE a perfectly calibrated
    model with these confidences would show on this many images), labels, confusion_matrix (rows
    true, columns predicted), per_class {code: precision, recall, f1, auc, support; null where the
    class is neither in the sample nor called}, flagged_rate, accepted {n, accuracy} (the images not
    flagged), perturbation, model, per_image [{file, true, pred, confidence, ood_score, flagged,
    reasons}], plots (file names). Images without a finite model output are counted in
    n_invalid_output, with pred and confidence null, and are in none of the figures (`n` is the rest).
    """
    if isinstance(perturb, str):
        perturb = parse_perturbation(perturb)
    root = Path(data_dir)
    items = list_labelled_images(root)
    _read_before_the_model(items, root)
    paths = [p for p, _ in items]
    y_true = np.array([label for _, label in items], dtype=np.int64)
    probs, fields, facts, valid = _run_model(model_dir, paths, perturb, batch_size, show_progress)
    scored_true, scored_probs = y_true[valid], probs[valid]
    report: dict[str, Any] = dict(classification_metrics(scored_true, scored_probs, list(CLASS_CODES)))
    report["n_invalid_output"] = int((~valid).sum())
    report["ece_floor"] = ece_sampling_floor(scored_probs)
    scored_pred = scored_probs.argmax(axis=1)
    flagged = np.array([f["flagged"] for f in fields], dtype=bool)[valid]
    report["flagged_rate"] = float(flagged.mean())
    kept = ~flagged
    report["accepted"] = {
        "n": int(kept.sum()),
        "accuracy": float((scored_pred[kept] == scored_true[kept]).mean()) if kept.any() else None,
    }
    report["perturbation"] = perturb.describe() if perturb else "none"
    report.update(facts)
    report["per_image"] = [
        {
            "file": path.relative_to(root).as_posix(),
            "true": CLASS_CODES[int(t)],
            "pred": CLASS_CODES[int(p)] if ok else None,
            **field,
        }
        for path, t, p, ok, field in zip(paths, y_true, probs.argmax(axis=1), valid, fields, strict=True)
    ]
    if plots_dir is not None:
        from .plots import save_evaluation_plots

        try:
            report["plots"] = save_evaluation_plots(scored_true, scored_probs, list(CLASS_CODES), plots_dir)
        except OSError as exc:
            raise UsageError(f"--plots {plots_dir} cannot be written: {exc.strerror or exc}.") from exc
    return report


def screen_images(
    model_dir: str | Path,
    images_dir: str | Path,
    perturb: Perturbation | str | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Trust assessment of unlabelled images (e.g. another laboratory's smears): flagged rate and rows.

    Images without a finite model output are counted in n_invalid_output (pred and confidence null),
    and left out of `n`, the flagged rate, the reasons and the predicted classes."""
    if isinstance(perturb, str):
        perturb = parse_perturbation(perturb)
    root = Path(images_dir)
    paths = list_images(root)
    if not paths:
        raise DatasetError(f"{root} has no images.")
    read_every_image(paths, root)  # all that cannot be used named at once, before any model work
    probs, fields, facts, valid = _run_model(model_dir, paths, perturb, batch_size, show_progress)
    flagged = np.array([f["flagged"] for f in fields], dtype=bool)[valid]
    reasons = [r for f, ok in zip(fields, valid, strict=True) if ok for r in f["reasons"]]
    calls = probs[valid].argmax(axis=1)
    return {
        "n": int(valid.sum()),
        "n_invalid_output": int((~valid).sum()),
        "flagged_rate": float(flagged.mean()),
        "reasons": {r: reasons.count(r) for r in sorted(set(reasons))},
        "predicted": {c: int((calls == i).sum()) for i, c in enumerate(CLASS_CODES)},
        "perturbation": perturb.describe() if perturb else "none",
        **facts,
        "per_image": [
            {"file": p.name, "pred": CLASS_CODES[int(np.argmax(pr))] if ok else None, **f}
            for p, pr, ok, f in zip(paths, probs, valid, fields, strict=True)
        ],
    }


def evaluate_cells(
    model_dir: str | Path,
    data_dir: str | Path,
    *,
    limit: int | None = None,
    show_progress: bool = True,
    cell_method: str = DEFAULT_CELL_METHOD,
    perturb: Perturbation | str | None = None,
) -> dict[str, Any]:
    """How per-cell calls agree with the image label, through the full pipeline (a field too large to
    classify whole in views, `field_views`), on the images as read or under `perturb`.

    For each labelled image: segment, classify every nucleated cell's crop. Reported:
    `cell_agreement` (share of cells whose class is the image's), `blast_agreement` (cells called
    blast in ALL images and not-blast in benign images), the same per image class, and the image-level
    accuracy of a majority vote of the cells. `limit` takes that many images, classes interleaved.
    A cell whose logits are not finite gets no call and is counted in `n_cells_invalid_output`, apart
    from every figure (`n_cells` is the rest); an image left without a called cell has no vote
    (`images_voted`), as the image-level reports leave such images out (`_mark_invalid_outputs`).
    """
    from tqdm import tqdm

    from .pipeline import BLAST_CODES, Pipeline
    from .segmentation import segment_cells

    items = list_labelled_images(data_dir)
    _read_before_the_model(items, Path(data_dir))
    if limit is not None:
        by_class: dict[int, list[tuple[Path, int]]] = {}
        for item in items:
            by_class.setdefault(item[1], []).append(item)
        interleaved = [
            g[i] for i in range(max(map(len, by_class.values()))) for g in by_class.values() if i < len(g)
        ]
        items = interleaved[:limit]
    pipeline = Pipeline(model_dir, cell_method=cell_method)
    n_classes = len(CLASS_CODES)
    cells_by_class = np.zeros((n_classes, n_classes), dtype=np.int64)  # image class x cell call
    votes_right = 0
    images_with_cells = 0
    images_voted = 0
    n_invalid = 0
    if isinstance(perturb, str):
        perturb = parse_perturbation(perturb)
    for path, label in tqdm(items, desc="cells", unit="img", disable=not show_progress):
        rgb = read_image_file(path)
        if perturb is not None:
            rgb = perturb.apply(rgb)
        # Morphometrics are not needed to crop cells: the crops take their boxes from the labels.
        segmentation = segment_cells(rgb, pipeline.segmentation_params, measure=False)
        if segmentation.n_nucleated == 0:
            continue
        images_with_cells += 1
        views = field_views(rgb.shape, segmentation.cell_radius_px, MODEL_INPUT_SIZE)
        logits = np.asarray(pipeline.cell_logits(rgb, segmentation, views))
        # NaN (a diverged network) is no call: argmax gives the first NaN's class, benign for a row
        # that is all NaN, and had counted it so.
        finite = np.isfinite(logits).all(axis=1)
        n_invalid += int((~finite).sum())
        if not finite.any():
            continue
        images_voted += 1
        counts = np.bincount(logits[finite].argmax(axis=1), minlength=n_classes)
        cells_by_class[label] += counts
        votes_right += int(counts.argmax() == label)
    blast = np.array([code in BLAST_CODES for code in CLASS_CODES])
    total = int(cells_by_class.sum())
    _check_invalid_cells(n_invalid, total)
    agree = int(np.trace(cells_by_class))
    blast_agree = int(
        cells_by_class[np.ix_(blast, blast)].sum() + cells_by_class[np.ix_(~blast, ~blast)].sum()
    )
    per_class = {
        code: {
            "cells": int(cells_by_class[i].sum()),
            "cell_agreement": _share(int(cells_by_class[i, i]), int(cells_by_class[i].sum())),
            "called_blast": _share(int(cells_by_class[i, blast].sum()), int(cells_by_class[i].sum())),
        }
        for i, code in enumerate(CLASS_CODES)
    }
    return {
        "n_images": len(items),
        "images_with_cells": images_with_cells,
        "n_cells": total,
        "n_cells_invalid_output": n_invalid,
        "images_voted": images_voted,
        "cell_agreement": _share(agree, total),
        "blast_agreement": _share(blast_agree, total),
        "majority_vote_accuracy": _share(votes_right, images_voted),
        "per_class": per_class,
        "cells_by_image_class": {
            c: dict(zip(CLASS_CODES, map(int, row), strict=True))
            for c, row in zip(CLASS_CODES, cells_by_class, strict=True)
        },
        "crops_prepared": pipeline.prepare_crops,
        "crop_margin": pipeline.crop_margin,
        "cell_method": cell_method,
        "perturbation": perturb.describe() if perturb else "none",
        "model": _model_facts(pipeline.predictor.info),
    }


def _check_invalid_cells(n_invalid: int, n_called: int) -> None:
    """Warn of cells without a finite model output, left out of the figures; refuse a model with no
    finite output for any cell: there is nothing to score."""
    if not n_invalid:
        return
    if not n_called:
        raise ModelArtifactError(
            f"The model gave no finite output for any of the {n_invalid} cells (NaN or infinite logits): "
            "its weights are broken, e.g. by a training run that diverged. Nothing to score."
        )
    log.warning(
        "%d of the %d cells have no finite model output (NaN or infinite): they get no call, are counted "
        "in n_cells_invalid_output and left out of every figure; an image without a called cell has no "
        "vote.",
        n_invalid,
        n_invalid + n_called,
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without per-image rows (for printing)."""
    return {k: v for k, v in report.items() if k != "per_image"}


def report_json(report: dict[str, Any]) -> str:
    """The report as strict JSON: a number that is not finite (the out-of-distribution score of NaN
    features) is written as null, since NaN is no JSON and a strict parser refuses the whole file."""
    return json.dumps(_finite_or_none(report), indent=2, allow_nan=False)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    return value


def _refuse_colliding_outputs(output: Path, plots_dir: Path) -> None:
    """Refuse an --out (a file) that is the --plots folder, a folder above it, or one of its plots:
    the report could not be written, after the whole run, or a plot would overwrite it."""
    out, plots = output.resolve(), plots_dir.resolve()
    plot_names = (CONFUSION_PNG, ROC_PNG, RELIABILITY_PNG)
    if out == plots or out in plots.parents or out in {plots / name for name in plot_names}:
        raise UsageError(
            f"--out {output} and --plots {plots_dir} collide: --out is the report file, --plots the folder "
            f"of the plots ({', '.join(plot_names)}). Give the report a name of its own, e.g. "
            f"{plots_dir / 'report.json'}."
        )


def run_evaluation(
    model_dir: str | Path,
    data_dir: str | Path,
    *,
    perturb: str | None = None,
    unlabelled: bool = False,
    cells: bool = False,
    limit: int | None = None,
    cell_method: str = DEFAULT_CELL_METHOD,
    plots_dir: str | Path | None = None,
    output: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    force: bool = False,
) -> dict[str, Any]:
    """What the command line and `manage.py evaluate_classifier` do: one report, optionally saved.

    The options are checked before any image is read: `limit` needs `cells`, and `output` and
    `plots_dir` must be places that can be written, apart from each other; an existing `output` is
    replaced only with `force`."""
    if limit is not None and not cells:
        raise UsageError("--limit applies to --cells only; add --cells, or leave --limit out.")
    if output is not None and plots_dir is not None:
        _refuse_colliding_outputs(Path(output), Path(plots_dir))
    if output is not None:
        check_output_file(output, "--out", overwrite=force)
    if plots_dir is not None:
        check_output_folder(plots_dir, "--plots")
    if cells:
        report = evaluate_cells(
            model_dir, data_dir, limit=limit, cell_method=cell_method, perturb=parse_perturbation(perturb)
        )
    elif unlabelled:
        report = screen_images(model_dir, data_dir, parse_perturbation(perturb), batch_size=batch_size)
    else:
        report = evaluate_classifier(
            model_dir, data_dir, parse_perturbation(perturb), batch_size=batch_size, plots_dir=plots_dir
        )
    if output is not None:
        write_output_file(output, report_json(report), "--out")
    return report


def add_arguments(parser: argparse.ArgumentParser, *, model_required: bool = True) -> None:
    """The options, shared with the Django command (where --model may name a registered version)."""
    parser.add_argument(
        "--model",
        required=model_required,
        metavar="PATH_OR_VERSION",
        help="model folder (model.json + weights)"
        + ("" if model_required else ", or a registered version; default: the active model"),
    )
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="DIR",
        help="one sub-folder per class (or plain images with --unlabelled)",
    )
    parser.add_argument(
        "--perturb",
        default=None,
        help="e.g. hue=40 (degrees), hue=40,saturation=0.8, scale=0.5, blur=2 (pixels), noise=8 (grey "
        "levels) or jpeg=30 (quality); see inference/engine/perturbation.py",
    )
    parser.add_argument("--unlabelled", action="store_true", help="no class folders: flagged rate only")
    parser.add_argument("--cells", action="store_true", help="per-cell calls against the image labels")
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="--cells only (refused without it): at most N images, the classes interleaved",
    )
    parser.add_argument(
        "--cell-method", default=DEFAULT_CELL_METHOD, choices=CELL_METHODS, help="--cells: method"
    )
    parser.add_argument("--plots", type=Path, default=None, help="write PNG plots to this folder")
    parser.add_argument(
        "--out", type=Path, default=None, metavar="FILE.json", help="write the full JSON report here"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, metavar="N")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        report = run_evaluation(
            Path(args.model),
            args.data,
            perturb=args.perturb,
            unlabelled=args.unlabelled,
            cells=args.cells,
            limit=args.limit,
            cell_method=args.cell_method,
            plots_dir=args.plots,
            output=args.out,
            batch_size=args.batch_size,
            force=args.force,
        )
    except (EngineError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report_json(summary(report)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
