"""Turn weights trained in PyTorch (`tools/torch_resnet50.py`) into Keras variables, by layer name.

The GPU machines lent for training have PyTorch and no TensorFlow, so the ResNet50 is trained
there as a layer-for-layer copy of the Keras graph and its `state_dict` comes back as NumPy
arrays named `layer.<keras layer>.<parameter>`. Only NumPy here: no PyTorch needed to import.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import softmax
from .datasets import ArrayDataset, load_image_folder
from .errors import ModelArtifactError

log = logging.getLogger(__name__)

PREFIX = "layer."
# PyTorch parameter or buffer -> Keras variable, for convolutions / dense layers and BatchNorm.
_DENSE_OR_CONV = {"weight": "kernel", "bias": "bias"}
_BATCHNORM = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
_IGNORED = ("num_batches_tracked",)


def _keras_kernel(array: np.ndarray) -> np.ndarray:
    if array.ndim == 4:  # (out, in, kh, kw) -> (kh, kw, in, out)
        return np.transpose(array, (2, 3, 1, 0))
    if array.ndim == 2:  # (out, in) -> (in, out)
        return array.T
    raise ModelArtifactError(f"A kernel of {array.ndim} dimensions cannot be converted.")


def keras_arrays_from_torch(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras variable path -> array (`conv1_conv/kernel`, `conv1_bn/moving_mean`, `logits/bias`...)."""
    converted: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if not key.startswith(PREFIX):
            continue  # buffers outside the layers (e.g. the preprocessing means) are not weights
        layer, _, parameter = key[len(PREFIX) :].rpartition(".")
        if parameter in _IGNORED:
            continue
        table = _BATCHNORM if layer.endswith("_bn") else _DENSE_OR_CONV
        if parameter not in table:
            raise ModelArtifactError(f"Unexpected PyTorch parameter {key!r}.")
        array = np.asarray(value)
        converted[f"{layer}/{table[parameter]}"] = (
            _keras_kernel(array) if table[parameter] == "kernel" else array
        )
    return converted


# -- a run of tools/train_resnet50_gpu.py -> a Marrow-Find artifact ---------------------------------

RUN_SUMMARY = "summary.json"
RUN_VAL_LOGITS = "val_logits.npz"
RUN_RECORD = "training_run.json"
TRAINING_SCRIPT = "tools/train_resnet50_gpu.py"
# The float16 weights that come back move a probability by about 5e-4 (measured); far more means
# the graphs differ, and such a model must not be written.
MAX_PROBABILITY_DIFFERENCE = 0.01


_NUMBER = (int, float)
# What the importer reads from summary.json: key -> (accepted JSON types, description); None: any value.
_SUMMARY_KEYS: dict[str, tuple[tuple[type, ...], str] | None] = {
    "weights_parts": ((list,), "a list of weights file names"),
    "classes": ((list,), "a list of class codes"),
    "best": ((dict,), "an object"),
    "args": ((dict,), "an object"),
    "device": ((str,), "a string"),
    "torch": ((str,), "a string"),
    "recipes": None,
    "warmup_epochs": None,
    "schedule": None,
    "ema_decay": None,
    "precision": None,
    "augment": None,
    "epochs_planned": None,
    "epochs_run": None,
    "seconds_per_epoch": None,
    "train_seconds": None,
}
_SUMMARY_ARGS: dict[str, tuple[tuple[type, ...], str]] = {
    "data": ((str,), "a string"),
    "val": ((str,), "a string"),
    "minutes": (_NUMBER, "a number"),
    "max_epochs": ((int,), "an integer"),
    "batch_size": ((int,), "an integer"),
    "workers": ((int,), "an integer"),
    "seed": ((int,), "an integer"),
}


def check_summary(summary: Any, run_dir: Path) -> dict[str, Any]:
    """summary.json must be an object with every key the importer reads, each of the right type."""
    where = f"{RUN_SUMMARY} in {run_dir}"
    if not isinstance(summary, dict):
        raise ModelArtifactError(f"{where} is not a JSON object: not a run of {TRAINING_SCRIPT}.")
    checks: list[tuple[str, Any, tuple[tuple[type, ...], str] | None]] = [
        (key, summary.get(key, ...), shape) for key, shape in _SUMMARY_KEYS.items()
    ]
    if isinstance(summary.get("args"), dict):
        checks += [(f"args.{key}", summary["args"].get(key, ...), s) for key, s in _SUMMARY_ARGS.items()]
    for key, value, shape in checks:
        if value is ...:
            raise ModelArtifactError(
                f"{where} has no {key!r} entry: not a complete run of {TRAINING_SCRIPT}."
            )
        if shape is not None and (not isinstance(value, shape[0]) or isinstance(value, bool)):
            raise ModelArtifactError(f"{where}: {key!r} must be {shape[1]}, not {value!r:.60}.")
    for key in ("weights_parts", "classes"):
        if not summary[key] or not all(isinstance(item, str) and item for item in summary[key]):
            raise ModelArtifactError(f"{where}: {key!r} must be a non-empty list of strings.")
    return summary


def read_torch_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """summary.json (checked) and the PyTorch state (all weight parts) of a GPU run."""
    summary_path = run_dir / RUN_SUMMARY
    if not summary_path.is_file():
        raise ModelArtifactError(f"{run_dir} holds no {RUN_SUMMARY}: not a run of {TRAINING_SCRIPT}.")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelArtifactError(f"{RUN_SUMMARY} in {run_dir} is not valid JSON: {exc}") from exc
    check_summary(summary, run_dir)
    state: dict[str, np.ndarray] = {}
    for part in summary["weights_parts"]:
        path = run_dir / part
        if not path.is_file():
            raise ModelArtifactError(f"Weights part {part} named in {RUN_SUMMARY} is missing.")
        try:
            with np.load(path, allow_pickle=False) as stored:
                state.update({key: stored[key] for key in stored.files})
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelArtifactError(f"Weights part {part} cannot be read (truncated?): {exc}") from exc
    if not state:
        raise ModelArtifactError(f"{RUN_SUMMARY} in {run_dir} names no weights.")
    _check_layer_arrays(state, run_dir)
    return summary, state


def _check_layer_arrays(state: Mapping[str, np.ndarray], run_dir: Path) -> None:
    """Refuse weights with no `layer.*` array at once: the converter skips other keys (buffers such as
    the preprocessing means), so a `model.state_dict()` saved under other names, or a `torch.save`
    file renamed .npz, would convert to nothing and be refused only after the images are loaded, as
    weights that "do not fit the architecture"."""
    if any(key.startswith(PREFIX) for key in state):
        return
    keys = sorted(state)
    found = ", ".join(repr(key) for key in keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
    torch_save = (
        " (a torch.save file: its state must be saved with NumPy)"
        if any(key.endswith("data.pkl") for key in keys)
        else ""
    )
    raise ModelArtifactError(
        f"The weights parts in {run_dir.name} hold no '{PREFIX}' arrays, only {found}{torch_save}; "
        f"expected the NumPy arrays {TRAINING_SCRIPT} writes, one per parameter, named "
        f"{PREFIX}<keras layer>.<parameter> (e.g. {PREFIX}conv1_conv.weight)."
    )


def check_agreement(model: Any, val: ArrayDataset, run_dir: Path) -> float:
    """The Keras model must give the GPU run's val predictions; returns the largest probability gap."""
    from .training import predict_probabilities

    with np.load(run_dir / RUN_VAL_LOGITS, allow_pickle=False) as stored:
        files, logits = [str(name) for name in stored["files"]], np.asarray(stored["logits"])
    if files != [path.name for path in val.paths]:
        raise ModelArtifactError(f"The run was checked on other val images than {len(val)} given here.")
    if logits.ndim != 2 or len(logits) != len(files):
        raise ModelArtifactError(
            f"{RUN_VAL_LOGITS} holds logits of shape {logits.shape} for {len(files)} images."
        )
    _refuse_non_finite(
        logits,
        files,
        f"The run's val logits ({RUN_VAL_LOGITS}) are",
        "a run that diverged or overflowed (float16) gives nothing to check the import against",
    )
    probabilities = predict_probabilities(model, val.images)
    _refuse_non_finite(
        probabilities,
        files,
        "The imported model computes probabilities that are",
        "its weights hold NaN or infinities (a diverged run)",
    )
    expected = softmax(logits)
    gap = float(np.abs(probabilities - expected).max())
    if gap > MAX_PROBABILITY_DIFFERENCE or (probabilities.argmax(1) != expected.argmax(1)).any():
        raise ModelArtifactError(
            f"The imported model does not reproduce the run's val predictions (largest probability "
            f"difference {gap:.4f}); the PyTorch and Keras graphs differ."
        )
    return gap


def _refuse_non_finite(values: np.ndarray, files: list[str], what: str, why: str) -> None:
    """Refuse rows (one per val image) holding NaN or an infinity: NaN compares false with the
    agreement limit and a NaN row argmaxes to class 0 on both sides, so a diverged run would pass."""
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        named = ", ".join(files[row] for row in bad[:3])
        raise ModelArtifactError(
            f"{what} not finite numbers for {len(bad)} of {len(files)} val images (e.g. {named}): {why}; "
            "such a model is not written."
        )


def gpu_command(summary: dict[str, Any]) -> str:
    args = summary["args"]
    return (
        f"python3 {TRAINING_SCRIPT} --data {args['data']} --val {args['val']} --out RUN_DIR "
        f"--minutes {args['minutes']:g} --max-epochs {args['max_epochs']} --batch-size {args['batch_size']} "
        f"--workers {args['workers']} --seed {args['seed']}"
    )


def import_torch_run(
    run_dir: str | Path,
    *,
    train_dir: str | Path,
    val_dir: str | Path,
    out_dir: str | Path,
    command: str,
    name: str | None = None,
    weights_dtype: str = "float16",
    fit_trust: bool = True,
) -> dict[str, Any]:
    """Build, check and write the artifact of a ResNet50 trained by `tools/train_resnet50_gpu.py`.

    `out_dir` must not exist or be empty; it and the run's summary are checked before any work."""
    from .artifact import assign_weights, check_new_artifact_folder
    from .classifier import ClassifierConfig, build_classifier
    from .training import write_classifier_artifact

    run_dir = Path(run_dir)
    check_new_artifact_folder(out_dir)
    summary, state = read_torch_run(run_dir)
    train, val = load_image_folder(train_dir), load_image_folder(val_dir)
    if list(train.classes) != list(summary["classes"]):
        raise ModelArtifactError(f"The run's classes {summary['classes']} are not {list(train.classes)}.")
    model = build_classifier(ClassifierConfig(backbone="resnet50", num_classes=len(train.classes)), None)
    assign_weights(model, keras_arrays_from_torch(state), source=f"The run in {run_dir.name}")
    gap = check_agreement(model, val, run_dir)
    log.info("The Keras model reproduces the run's val predictions (largest gap %.5f).", gap)
    hyperparameters = {
        key: summary[key]
        for key in (
            "recipes",
            "warmup_epochs",
            "schedule",
            "ema_decay",
            "precision",
            "augment",
            "epochs_planned",
            "epochs_run",
            "seconds_per_epoch",
            "train_seconds",
        )
    }
    hyperparameters.update(
        preset="gpu (tools/train_resnet50_gpu.py)",
        backbone="resnet50",
        weights=None,
        batch_size=summary["args"]["batch_size"],
        seed=summary["args"]["seed"],
        class_weighting=True,
        selected=summary["best"],
        trained_on=f"{summary['device']}, PyTorch {summary['torch']}",
        keras_agreement_max_probability_difference=round(gap, 6),
    )
    saved = write_classifier_artifact(
        model,
        train=train,
        val=val,
        train_dir=train_dir,
        val_dir=val_dir,
        out_dir=out_dir,
        backbone="resnet50",
        initial_weights="random initialisation",
        hyperparameters=hyperparameters,
        command=f"{gpu_command(summary)}; then {command}",
        name=name,
        weights_dtype=weights_dtype,
        fit_trust=fit_trust,
    )
    # The per-epoch scores of every recipe, for whoever audits the selection on val; the GPU
    # machine's output folder is named as the command names it, not by its path there.
    summary["args"] = {**summary["args"], "out": "RUN_DIR"}
    (Path(out_dir) / RUN_RECORD).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return saved
