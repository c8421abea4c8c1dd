"""A trained classifier as a folder: weights, `model.json` (provenance) and `MODEL_CARD.md`.

- `weights.npz`: one array per model variable, keyed by its Keras path. Large arrays may be stored
  as float16 so a ResNet50 fits in 50 MB; BatchNorm statistics and other small arrays stay float32.
- `model.json`: architecture, backbone, classes, input, preprocessing, hyper-parameters, data
  (sha256 of the data set manifest), metrics, weights sha256, the exact training command, creation
  time, software versions, and `trust` (temperature, OOD statistics, thresholds; filled by the
  calibration step, `null` until then).
- `MODEL_CARD.md`: intended use, data and credit, metrics, limitations.

`read_model_info` and `verify_weights` work without TensorFlow (for the web side's model registry);
`load_artifact` rebuilds the Keras model from `model.json` and loads the verified weights.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from .atomic_files import atomic_write_bytes
from .classes import CLASS_CODES, CLASS_LABELS
from .datasets import sha256_file
from .errors import ModelArtifactError

log = logging.getLogger(__name__)

MODEL_JSON = "model.json"
WEIGHTS_FILE = "weights.npz"
MODEL_CARD = "MODEL_CARD.md"
FORMAT_VERSION = 1
# Arrays smaller than this stay float32 even in a float16 artifact (BatchNorm variances, biases).
FLOAT16_MIN_SIZE = 4096
# An unlocked partial folder younger than this is left alone: its writer may have just made it and
# not yet locked it (`new_artifact_folder`).
STALE_PARTIAL_AGE_S = 60.0

DATASET_CREDIT = (
    "Aria M., Ghaderzadeh M., Bashash D., Abolghasemi H., Asadi F., Hosseini A. (2021). "
    "Acute Lymphoblastic Leukemia (ALL) image dataset. Kaggle. DOI 10.34740/KAGGLE/DSV/2175623. "
    "Paper: Ghaderzadeh M., Aria M., Hosseini A., Asadi F., Bashash D., Abolghasemi H. "
    "A fast and efficient CNN model for B-ALL diagnosis and its subtypes classification using "
    "peripheral blood smear images. Int J Intell Syst 2022;37:5113-5133, doi:10.1002/int.22753."
)


@dataclass(frozen=True)
class LoadedArtifact:
    folder: Path
    info: dict[str, Any]
    model: Any  # keras.Model


def weight_arrays(model: Any, dtype: str = "float32") -> dict[str, np.ndarray]:
    """Model variables by path; with dtype float16, only large float arrays are narrowed."""
    if dtype not in ("float32", "float16"):
        raise ModelArtifactError(f"Weights dtype must be float32 or float16, not {dtype!r}.")
    arrays: dict[str, np.ndarray] = {}
    for variable in model.weights:
        if variable.path in arrays:
            raise ModelArtifactError(f"Two model variables share the path {variable.path!r}.")
        value = np.asarray(variable.numpy())
        if dtype == "float16" and value.dtype == np.float32 and value.size >= FLOAT16_MIN_SIZE:
            value = value.astype(np.float16)
        arrays[variable.path] = value
    return arrays


def save_weights(model: Any, path: Path, dtype: str = "float32") -> str:
    """Write `weights.npz` atomically; returns its sha256."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **weight_arrays(model, dtype))  # type: ignore[arg-type]
    atomic_write_bytes(path, buffer.getvalue())
    return sha256_file(path)


def load_weights(model: Any, path: Path) -> None:
    with np.load(path, allow_pickle=False) as stored:
        assign_weights(model, stored, source=f"Weights file {path.name}")


def assign_weights(model: Any, arrays: Mapping[str, np.ndarray], *, source: str) -> None:
    """Set every variable from `arrays` (keyed by variable path); all are checked before any is set."""
    names = set(arrays.keys())
    expected = {variable.path for variable in model.weights}
    if names != expected:
        missing, extra = sorted(expected - names)[:5], sorted(names - expected)[:5]
        raise ModelArtifactError(
            f"{source} does not fit the architecture in {MODEL_JSON} "
            f"(missing: {missing or 'none'}; unexpected: {extra or 'none'})."
        )
    values = {variable.path: arrays[variable.path] for variable in model.weights}
    for variable in model.weights:
        value = values[variable.path]
        if tuple(value.shape) != tuple(variable.shape):
            raise ModelArtifactError(
                f"Weight {variable.path!r} has shape {value.shape}; "
                f"the architecture expects {variable.shape}."
            )
    for variable in model.weights:
        variable.assign(np.asarray(values[variable.path]).astype(np.float32))


# Top-level entries of model.json and the JSON types they must have (optional ones may be absent or null).
_REQUIRED_SHAPES: dict[str, tuple[tuple[type, ...], str]] = {
    "architecture": ((dict,), "an object"),
    "classes": ((list,), "a non-empty list of class codes"),
    "weights": ((dict,), "an object with 'file' and 'sha256'"),
}
_OPTIONAL_SHAPES: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a string"),
    "version": ((str,), "a string"),
    "backbone": ((str, dict), "a string or an object"),
    "preprocessing": ((dict,), "an object"),
    "metrics": ((dict,), "an object"),
    "trust": ((dict,), "an object or null"),
}
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _shape_error(folder: Path, key: str, expected: str, value: Any) -> ModelArtifactError:
    return ModelArtifactError(
        f"{MODEL_JSON} in {folder.name!r}: {key!r} must be {expected}, not {_json_type(value)}."
    )


def read_model_info(folder: str | Path) -> dict[str, Any]:
    """Parse `model.json` (no TensorFlow needed) and check the shape of the entries the registry reads."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelArtifactError(f"Model folder {str(folder)!r} does not exist.")
    path = folder / MODEL_JSON
    if not path.is_file():
        raise ModelArtifactError(f"Model folder {folder.name!r} has no {MODEL_JSON}.")

    # NaN, Infinity and numbers too large for a float are not JSON; the registry's database refuses
    # them, and a NaN threshold in `trust` would silently never flag anything.
    def finite(text: str) -> float:
        value = float(text)
        if not np.isfinite(value):
            raise ValueError(f"{text[:20]!r} is not a finite number")
        return value

    def not_a_number(text: str) -> float:
        raise ValueError(f"{text} is not a JSON number")

    try:
        info = json.loads(path.read_text(encoding="utf-8"), parse_float=finite, parse_constant=not_a_number)
    except OSError as exc:
        raise ModelArtifactError(f"Cannot read {MODEL_JSON} in {folder.name!r}: {exc}") from exc
    except RecursionError as exc:
        raise ModelArtifactError(f"{MODEL_JSON} in {folder.name!r} is nested too deeply to read.") from exc
    except ValueError as exc:  # also a bad encoding, or an integer of more than 4,300 digits
        raise ModelArtifactError(f"{MODEL_JSON} in {folder.name!r} is not valid JSON: {exc}") from exc
    if not isinstance(info, dict):
        raise ModelArtifactError(f"{MODEL_JSON} in {folder.name!r} is not a JSON object.")
    for key in ("format_version", "architecture", "classes", "weights"):
        if key not in info:
            raise ModelArtifactError(f"{MODEL_JSON} in {folder.name!r} has no {key!r} entry.")
    if info["format_version"] != FORMAT_VERSION or isinstance(info["format_version"], bool):
        raise ModelArtifactError(
            f"{MODEL_JSON} format version {info['format_version']!r} is not supported "
            f"(expected {FORMAT_VERSION})."
        )
    for key, (types, expected) in _REQUIRED_SHAPES.items():
        if not isinstance(info[key], types):
            raise _shape_error(folder, key, expected, info[key])
    for key, (types, expected) in _OPTIONAL_SHAPES.items():
        if info.get(key) is not None and not isinstance(info[key], types):
            raise _shape_error(folder, key, expected, info[key])
    classes = info["classes"]
    if not classes or not all(isinstance(code, str) and code for code in classes):
        raise ModelArtifactError(
            f"{MODEL_JSON} in {folder.name!r}: 'classes' must be a non-empty list of class codes "
            f"(strings), not {classes!r:.80}."
        )
    # The classifier's outputs are labelled by CLASS_CODES wherever the engine reads them (pipeline,
    # evaluation, trust): other classes, or these in another order, would be shown under wrong names.
    if classes != list(CLASS_CODES):
        raise ModelArtifactError(
            f"{MODEL_JSON} in {folder.name!r}: 'classes' is {classes!r:.200}; the engine's classifier "
            f"outputs are {list(CLASS_CODES)!r}, exactly these in this order."
        )
    weights_entry(folder, info)
    return info


def model_json_sha256(info: dict[str, Any]) -> str:
    """sha256 of model.json's content (as `read_model_info` parsed it); its layout (key order,
    spacing) does not count, so a file rewritten unchanged is no change. The registry records it per
    version and every analysis carries it, so a result names the model.json it was made with."""
    text = json.dumps(info, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def weights_entry(folder: str | Path, info: dict[str, Any]) -> tuple[Path, str]:
    """(path, recorded sha256) of the weights named in `model.json`; the path must stay in the folder."""
    folder = Path(folder)
    weights = info.get("weights")
    if not isinstance(weights, dict):
        raise _shape_error(folder, "weights", "an object with 'file' and 'sha256'", weights)
    name = weights.get("file", WEIGHTS_FILE)
    if not isinstance(name, str) or not name.strip():
        raise _shape_error(folder, "weights.file", "a file name", name)
    if PurePath(name).is_absolute() or ".." in PurePath(name).parts:
        raise ModelArtifactError(
            f"{MODEL_JSON} in {folder.name!r}: 'weights.file' {name!r} leaves the model folder; "
            "the weights must be a file inside it."
        )
    sha = weights.get("sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise ModelArtifactError(
            f"{MODEL_JSON} in {folder.name!r}: 'weights.sha256' must be 64 lower-case hex digits, "
            f"not {sha!r:.80}."
        )
    return folder / name, sha


def verify_weights(folder: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Check the weights file exists and its sha256 is the one in `model.json`; return its path."""
    folder = Path(folder)
    info = info if info is not None else read_model_info(folder)
    path, expected = weights_entry(folder, info)
    if not path.is_file():
        raise ModelArtifactError(f"Model folder {folder.name!r} has no weights file {path.name!r}.")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelArtifactError(
            f"Weights file {path.name!r} in {folder.name!r} has sha256 {actual}, but {MODEL_JSON} "
            f"records {expected}: the file was changed or corrupted."
        )
    return path


def load_artifact(folder: str | Path) -> LoadedArtifact:
    """Verify and load a model folder into a Keras model."""
    from .classifier import ClassifierConfig, build_classifier

    folder = Path(folder)
    info = read_model_info(folder)
    weights_path = verify_weights(folder, info)
    config = ClassifierConfig.from_dict(info["architecture"])
    model = build_classifier(config, weights=None)
    load_weights(model, weights_path)
    return LoadedArtifact(folder=folder, info=info, model=model)


def software_versions() -> dict[str, str]:
    import platform

    import cv2
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }


def write_model_json(folder: Path, info: dict[str, Any]) -> None:
    """Write `model.json` atomically. NaN and infinities are refused, as `read_model_info` refuses
    them: written, the artifact would appear whole and then never load or register."""
    try:
        text = json.dumps(info, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as exc:
        where = next(
            (path for path, leaf in json_entries(info) if isinstance(leaf, float) and not np.isfinite(leaf)),
            "an entry",
        )
        raise ModelArtifactError(
            f"{MODEL_JSON} for {folder.name!r} is not written: {where} is not a finite number ({exc})."
        ) from exc
    atomic_write_bytes(folder / MODEL_JSON, text.encode("utf-8"))


def json_entries(value: Any) -> Iterator[tuple[str, Any]]:
    """(path, leaf) of every leaf of a JSON-ready value, in document order, each dict key a leaf at its
    entry's path (`metrics.val.notes[1]`). Walked with a list, not recursion: a model.json nested as
    deep as the parser allows is walked too."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, dict):
            children: list[tuple[str, Any]] = []
            for key, child in item.items():
                entry = f"{where}.{key}" if where else str(key)
                children += [(entry, key), (entry, child)]
            pending.extend(reversed(children))
        elif isinstance(item, list | tuple):
            pending.extend(reversed([(f"{where}[{index}]", child) for index, child in enumerate(item)]))
        else:
            yield where, item


def check_new_artifact_folder(folder: str | Path, *, run_dir: str | Path | None = None) -> Path:
    """Refuse to write an artifact into a folder that exists and is not empty (a finished artifact,
    or anything else), and checkpoints (`run_dir`) inside it; commands call this before any work."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ModelArtifactError(f"{folder} exists and is not a folder; choose another output folder.")
    if folder.is_dir() and any(folder.iterdir()):
        what = "a model artifact (model.json)" if (folder / MODEL_JSON).exists() else "files"
        raise ModelArtifactError(
            f"{folder} already exists and holds {what}; it is not overwritten. Choose another output "
            "folder, or remove this one first."
        )
    if run_dir is not None:
        checkpoints = Path(run_dir).resolve()
        if checkpoints == folder.resolve() or folder.resolve() in checkpoints.parents:
            raise ModelArtifactError(
                f"The checkpoints folder {run_dir} is inside the artifact folder {folder}, which is "
                "written whole at the end; choose a checkpoints folder outside it."
            )
    return folder


def _lock(fd: int, *, wait: bool) -> bool:
    """Take the exclusive flock of an open folder; False where another process holds it or the file
    system refuses it (then no partial folder there is ever taken for stale)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def remove_stale_partials(folder: str | Path) -> list[Path]:
    """Delete the temporary siblings of `folder` (`.NAME.partial-XXXXXXXX`) that writers killed
    while writing left behind; return them.

    A writer holds an exclusive flock on its partial folder until the folder is renamed or removed,
    and the kernel drops that lock when the process ends, however it ends: a lock we can take has
    no living writer (a pid in the name could not tell once the pid is reused, or across containers).
    Left alone: folders whose lock is held or cannot be taken, folders younger than
    STALE_PARTIAL_AGE_S, and anything that is not a folder named exactly so."""
    folder = Path(folder)
    # What `tempfile.mkdtemp(prefix=...)` makes: the prefix then 8 of [a-z0-9_].
    pattern = re.compile(rf"\.{re.escape(folder.name)}\.partial-[a-z0-9_]{{8}}")
    if not folder.parent.is_dir():
        return []
    removed = []
    for path in folder.parent.iterdir():
        if not pattern.fullmatch(path.name):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue  # a file, a link, gone meanwhile, or not ours to read
        try:
            if _lock(fd, wait=False) and time.time() - os.fstat(fd).st_mtime > STALE_PARTIAL_AGE_S:
                shutil.rmtree(path)
                removed.append(path)
                log.warning("Removed %s, left by an artifact write that was killed.", path)
        except OSError as exc:
            log.warning("Could not remove %s, left by an artifact write: %s", path, exc)
        finally:
            os.close(fd)
    return removed


@contextmanager
def new_artifact_folder(folder: str | Path) -> Iterator[Path]:
    """A temporary sibling of `folder` (`.NAME.partial-XXXXXXXX`) to write an artifact in, renamed to
    `folder` when the block ends; on any error it is removed, so no half-written folder remains.
    One a kill left behind is removed by the next write of `folder` (`remove_stale_partials`)."""
    folder = check_new_artifact_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(folder)
    partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.partial-"))
    fd = -1
    try:
        # Held until the folder is renamed or removed; the kernel releases it if we are killed, which
        # is how a later write tells this folder from a dead writer's.
        fd = os.open(partial, os.O_RDONLY | os.O_DIRECTORY)
        _lock(fd, wait=True)
        os.chmod(partial, 0o755)  # noqa: S103 -- mkdtemp makes 0700; workers (other users) read it
        yield partial
        check_new_artifact_folder(folder)  # something may have appeared there meanwhile
        os.rename(partial, folder)  # replaces an empty folder; atomic on one file system
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        if fd >= 0:
            os.close(fd)


def save_artifact(
    folder: str | Path,
    model: Any,
    *,
    info: dict[str, Any],
    weights_dtype: str = "float32",
    before_publish: Callable[[Path, dict[str, Any]], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Write weights, `model.json` (from `info`, completed here) and `MODEL_CARD.md`; return the info.

    `info` should hold name, architecture, backbone, preprocessing, hyperparameters, data, metrics
    and training_command; this function adds classes, weights, created_at, software and trust.
    The folder must not exist or be empty (`check_new_artifact_folder`); it appears whole or not at all.
    `before_publish(partial, info)` runs on the written temporary folder before it is renamed into
    place (e.g. to fit the trust, which may write files there); the top-level entries it returns are
    set in `model.json`, so the folder appears with them or, when it fails or is killed, not at all.
    """
    folder = Path(folder)
    with new_artifact_folder(folder) as partial:
        sha = save_weights(model, partial / WEIGHTS_FILE, weights_dtype)
        full: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": info.get("name", folder.name),
            "classes": list(info.get("classes", CLASS_CODES)),
            "class_labels": {code: CLASS_LABELS.get(code, code) for code in info.get("classes", CLASS_CODES)},
            **{key: value for key, value in info.items() if key not in ("classes", "class_labels")},
            "weights": {
                "file": WEIGHTS_FILE,
                "format": "npz, one array per Keras variable path",
                "dtype": weights_dtype,
                "sha256": sha,
                "bytes": (partial / WEIGHTS_FILE).stat().st_size,
                "parameters": int(model.count_params()),
            },
            "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "software": software_versions(),
            "trust": info.get("trust"),
        }
        write_model_json(partial, full)
        write_model_card(partial, full)
        if before_publish is not None:
            entries = before_publish(partial, full)
            if entries:
                full.update(entries)
                write_model_json(partial, full)
                write_model_card(partial, full)
    return full


def update_model_info(folder: str | Path, **entries: Any) -> dict[str, Any]:
    """Set top-level entries of `model.json` (e.g. `trust`, `comparisons`) and refresh the card."""
    folder = Path(folder)
    info = read_model_info(folder)
    info.update(entries)
    write_model_json(folder, info)
    write_model_card(folder, info)
    return info


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _metrics_rows(metrics: dict[str, Any]) -> list[str]:
    rows = ["| Set | Images | Accuracy | Weighted F1 | Cohen's kappa |", "|---|---|---|---|---|"]
    for name, values in metrics.items():
        if isinstance(values, dict) and "accuracy" in values:
            rows.append(
                f"| {name} | {_fmt(values.get('n'))} | {_fmt(values.get('accuracy'))} | "
                f"{_fmt(values.get('f1_weighted'))} | {_fmt(values.get('kappa'))} |"
            )
    return rows


def _trust_lines(trust: dict[str, Any] | None) -> list[str]:
    if not trust:
        return ["Not fitted yet (`trust` is null in model.json); outputs are uncalibrated softmax scores."]
    lines = [
        f"- Method: {trust.get('method', 'see model.json')}.",
        f"- Temperature {_fmt(trust.get('temperature'))}; validation ECE {_fmt(trust.get('val_ece_before'))} "
        f"before, {_fmt(trust.get('val_ece_after'))} after scaling.",
        f'- An image is flagged "refer to pathologist" when its calibrated confidence is below '
        f"{_fmt(trust.get('confidence_threshold'))} or its OOD score is above "
        f"{_fmt(trust.get('ood_threshold'))}; "
        f"thresholds chosen on validation for at most {_fmt(trust.get('max_flagged_rate'))} flagged "
        f"(flagged there: {_fmt(trust.get('val_flagged_rate'))}).",
    ]
    if "val_accepted_accuracy" in trust:
        lines.append(
            f"- A call below calibrated confidence {_fmt(trust.get('confidence_floor'))} is always flagged. "
            f"On validation the calls not flagged are right {_fmt(trust['val_accepted_accuracy'])} of the "
            f"time; a fit is refused below {_fmt(trust.get('min_accepted_accuracy'))}."
        )
    stain = trust.get("stain")
    if stain:
        lines.append(
            f"- Stain check: an image is also flagged when the Mahalanobis score of its colour statistics "
            f"(Lab mean and spread, a/b 10th and 90th percentiles) is above {_fmt(stain.get('threshold'))}."
        )
    acquisition = trust.get("acquisition")
    if acquisition:
        lines.append(
            "- Focus and noise check: an image is also flagged when the Mahalanobis score of its sharpness "
            "and noise (log Laplacian and gradient energy, Immerkaer's noise estimate, on the model's "
            f"input at half its size) is above {_fmt(acquisition.get('threshold'))}; that threshold spends "
            "what the other checks left of the validation budget."
        )
    checks = trust.get("checks") or {}
    lines += [f"- {name}: {text}" for name, text in checks.items()]
    return lines


def render_model_card(info: dict[str, Any]) -> str:
    backbone = info.get("backbone", {})
    data = info.get("data", {})
    metrics = info.get("metrics", {})
    hyper = info.get("hyperparameters", {})
    lines = [
        f"# Model card: {info.get('name', 'Marrow-Find classifier')}",
        "",
        "## Intended use",
        "",
        "Decision support only. The model sorts a Giemsa/Wright-stained peripheral blood or bone-marrow "
        "smear field of view into Benign (hematogones), Early Pre-B ALL, Pre-B ALL or Pro-B ALL, with a "
        "Grad-CAM heatmap showing the regions that drove the output. Every output is an AI suggestion "
        "that a qualified pathologist must review; it is never a diagnosis on its own, and it is not a "
        "substitute for flow cytometry or any confirmatory test.",
        "",
        "## Model",
        "",
        f"- Backbone: {backbone.get('description', backbone.get('name', '-'))}; starting weights: "
        f"{backbone.get('initial_weights', '-')}.",
        "- Head: global average pooling, flatten, dense 256 ReLU (L2 0.01), dropout 0.5, dense 4, softmax.",
        f"- Input: {info.get('input', {}).get('description', '224x224 RGB')}.",
        f"- Preprocessing: {info.get('preprocessing', {}).get('outside_model', '-')}; inside the graph: "
        f"{info.get('preprocessing', {}).get('inside_model', '-')}.",
        f"- Weights: `{info['weights']['file']}`, {info['weights']['dtype']}, "
        f"{info['weights']['bytes']:,} bytes, sha256 `{info['weights']['sha256']}`.",
        f"- Training: preset `{hyper.get('preset', '-')}`; command: `{info.get('training_command', '-')}`.",
        f"- Created: {info.get('created_at', '-')}.",
        "",
        "## Data",
        "",
        f"Trained on `{data.get('train_dir', '-')}` and selected on `{data.get('val_dir', '-')}` "
        f"(manifest sha256 `{data.get('manifest_sha256', '-')}`; training class counts "
        f"{data.get('train_class_counts', '-')}).",
        "",
        f"Data credit: {DATASET_CREDIT} Images from the bone marrow laboratory of Taleqani Hospital "
        "(Tehran), Zeiss camera at 100x, classes confirmed by flow cytometry. We thank the authors for "
        "publishing it.",
        "",
        "## Metrics",
        "",
        *_metrics_rows(metrics),
        "",
        "`val` is the fixed validation split used for model selection, so it is optimistic; the held-out "
        "part of the data set kept aside by the project is the number that counts. `val_hue+N` is the "
        "same split with every image's hue rotated by N degrees before preprocessing, a proxy for another "
        "laboratory's staining.",
    ]
    comparisons = info.get("comparisons") or []
    if comparisons:
        lines += ["", "## Other runs (not shipped)", ""]
        lines += [
            "| Run | Val accuracy | Weighted F1 | Kappa | Hue+20 accuracy | Notes |",
            "|---|---|---|---|---|---|",
        ]
        for run in comparisons:
            lines.append(
                f"| {run.get('name', '-')} | {_fmt(run.get('accuracy'))} | {_fmt(run.get('f1_weighted'))} | "
                f"{_fmt(run.get('kappa'))} | {_fmt(run.get('hue20_accuracy'))} | {run.get('notes', '')} |"
            )
    trust = info.get("trust")
    lines += [
        "",
        "## Calibration and out-of-distribution checks",
        "",
        *_trust_lines(trust),
        "",
        "## Limitations",
        "",
        "- One laboratory, one camera, one staining protocol: accuracy on other sites is unknown and colour "
        "or magnification differences can degrade it (colour jitter in training reduces, not removes, this).",
        "- The split is by image, not by patient (patient ids are not published): images of one patient may "
        "be on both sides, so validation figures overestimate performance on new patients.",
        "- Only the four classes above; any other finding (AML, CLL, T-ALL, reactive changes, artefacts) is "
        "forced into one of them. Out-of-distribution scoring flags some of these, not all.",
        "- Image-level labels: the heatmap shows what influenced the output, not a segmentation of blasts.",
        "- Not validated for clinical use; not a medical device.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(folder: Path, info: dict[str, Any]) -> None:
    atomic_write_bytes(folder / MODEL_CARD, render_model_card(info).encode("utf-8"))
