"""Training the classifier: presets, a resumable loop, evaluation and shipping the artifact.

Presets:
- `seed`: the published recipe (Adam 1e-6, 25 epochs, sparse categorical cross-entropy, whole
  network trainable, no augmentation) for fine-tuning from ImageNet weights.
- `robust`: what works on this data and on other laboratories' colours: a head-only phase then the
  unfrozen network (skipped when the backbone starts from random weights), cosine learning-rate
  decay, class-balanced loss weights, geometric plus colour/stain augmentation, selection and early
  stopping on the validation split, a checkpoint every epoch, and resumption from it.

Images are read and preprocessed (CLAHE + resize) once and kept in memory as uint8; augmentation
runs per batch in NumPy/OpenCV; the train and eval steps are compiled `tf.function`s.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .augment import NO_AUGMENTATION, AugmentConfig, augment_batch, shift_hue
from .backbones import get_backbone, resolve_weights
from .classes import CLASS_CODES
from .datasets import ArrayDataset, find_manifest, images_sha256, load_image_folder, sha256_file
from .errors import DatasetError, EngineError

log = logging.getLogger(__name__)

PRESETS = ("seed", "robust")
STATE_FILE = "state.json"
HISTORY_FILE = "history.jsonl"
# Checkpoint files of one epoch (`checkpoint_name`); state.json names the ones it commits.
CHECKPOINT_NAMES = {
    "last": "last-{epoch:04d}.weights.npz",
    "best": "best-{epoch:04d}.weights.npz",
    "optimizer": "last-{epoch:04d}.optimizer.npz",
}
# The fixed names of run folders written before state.json named its files (still resumed).
LAST_WEIGHTS = "last.weights.npz"
BEST_WEIGHTS = "best.weights.npz"
OPTIMIZER_FILE = "last.optimizer.npz"
LEGACY_CHECKPOINTS = {"last": LAST_WEIGHTS, "best": BEST_WEIGHTS, "optimizer": OPTIMIZER_FILE}
# What `_prune_checkpoints` may delete: checkpoint files and the temporary files of their writes.
_CHECKPOINT_GLOBS = (
    "last-*.npz",
    "best-*.npz",
    ".last-*",
    ".best-*",
    "last.*",
    "best.*",
    ".last.*",
    ".best.*",
)
# Hue rotations (degrees of the colour wheel, as `evaluation.py --perturb hue=N`) for robustness figures.
HUE_TEST_DEGREES = (20, 40)


@dataclass(frozen=True)
class Phase:
    name: str
    epochs: int
    learning_rate: float
    train_backbone: bool
    schedule: str = "constant"  # "constant" or "cosine" (per epoch, down to lr * min_lr_factor)
    min_lr_factor: float = 0.02
    warmup_epochs: int = 0  # linear ramp at the start, so unfreezing does not wreck the features


@dataclass(frozen=True)
class TrainConfig:
    preset: str
    backbone: str
    weights: str | None
    phases: tuple[Phase, ...]
    augment: AugmentConfig
    batch_size: int = 32
    class_weighting: bool = True
    freeze_batchnorm: bool = True
    patience: int | None = 6  # early stopping in the last phase, epochs without a better val score
    seed: int = 42
    max_minutes: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["phases"] = [dataclasses.asdict(phase) for phase in self.phases]
        return data

    @property
    def total_epochs(self) -> int:
        return sum(phase.epochs for phase in self.phases)


def preset_config(
    preset: str,
    *,
    backbone: str = "mobilenet",
    weights: str | Path | None = "imagenet",
    epochs: int | None = None,
    head_epochs: int | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    seed: int = 42,
    max_minutes: float | None = None,
    patience: int | None = None,
    augment: AugmentConfig | None = None,
    train_batchnorm: bool | None = None,
) -> TrainConfig:
    """The configuration of a preset, with the command line's overrides (None: the preset's value)."""
    get_backbone(backbone)  # refuse unknown names early
    for option, value, low in (
        ("epochs", epochs, 1),
        ("head_epochs", head_epochs, 0),
        ("batch_size", batch_size, 1),
    ):
        if value is not None and value < low:
            raise EngineError(f"{option} must be at least {low}, got {value}.")
    resolved = resolve_weights(weights)
    if preset == "seed":
        phases: tuple[Phase, ...] = (
            Phase("all", epochs if epochs is not None else 25, learning_rate or 1e-6, True),
        )
        return TrainConfig(
            preset=preset,
            backbone=backbone,
            weights=resolved,
            phases=phases,
            augment=augment or NO_AUGMENTATION,
            batch_size=batch_size if batch_size is not None else 32,
            class_weighting=False,
            freeze_batchnorm=False,
            patience=patience,
            seed=seed,
            max_minutes=max_minutes,
        )
    if preset == "robust":
        pretrained = resolved is not None
        head = head_epochs if head_epochs is not None else (3 if pretrained else 0)
        main_lr = learning_rate or (2e-4 if pretrained else 1e-3)
        main_epochs = epochs if epochs is not None else 30
        phases = tuple(
            phase
            for phase in (
                Phase("head", head, 1e-3, False) if head > 0 else None,
                Phase(
                    "finetune", main_epochs, main_lr, True, "cosine", warmup_epochs=min(2, main_epochs // 4)
                ),
            )
            if phase is not None
        )
        return TrainConfig(
            preset=preset,
            backbone=backbone,
            weights=resolved,
            phases=phases,
            augment=augment or AugmentConfig(),
            batch_size=batch_size if batch_size is not None else (32 if backbone != "resnet50" else 16),
            class_weighting=True,
            freeze_batchnorm=pretrained if train_batchnorm is None else not train_batchnorm,
            patience=patience if patience is not None else 8,
            seed=seed,
            max_minutes=max_minutes,
        )
    raise EngineError(f"Unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}.")


# -- metrics ---------------------------------------------------------------------------------------


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...] = CLASS_CODES
) -> dict[str, Any]:
    """Accuracy, weighted F1, Cohen's kappa, log loss, per-class recall and the confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    from .metrics import cohen_kappa

    y_pred = probabilities.argmax(axis=1)
    labels = list(range(len(classes)))
    picked = probabilities[np.arange(len(y_true)), y_true]
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    support = matrix.sum(axis=1)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_weighted": float(f1_score(y_true, y_pred, average="weighted", labels=labels, zero_division=0)),
        "kappa": cohen_kappa(y_true, y_pred, labels),
        "log_loss": float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0)))),
        "recall": {
            code: (float(matrix[i, i] / support[i]) if support[i] else None) for i, code in enumerate(classes)
        },
        "confusion_matrix": matrix.tolist(),
    }


_EVAL_FNS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def predict_probabilities(model: Any, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Probabilities for prepared uint8 images, through one compiled function, in chunks."""
    import tensorflow as tf

    fn = _EVAL_FNS.get(model)
    if fn is None:
        size = int(model.inputs[0].shape[1])
        fn = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)],
            reduce_retracing=True,
        )
        _EVAL_FNS[model] = fn
    chunks = [
        fn(tf.constant(images[start : start + batch_size].astype(np.float32))).numpy()
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(CLASS_CODES)), np.float32)


def evaluate_model(model: Any, dataset: ArrayDataset) -> dict[str, Any]:
    return classification_metrics(
        dataset.labels, predict_probabilities(model, dataset.images), dataset.classes
    )


def load_hue_shifted(folder: str | Path, degrees: float = 20, every: int = 1) -> ArrayDataset:
    """A data set with every raw image's hue rotated by `degrees` before preprocessing (staining)."""
    return load_image_folder(folder, transform=lambda image: shift_hue(image, degrees / 2), every=every)


# -- the loop --------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    model: Any
    config: TrainConfig
    best: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = "completed"


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    if (counts == 0).any():
        raise DatasetError("Every class needs at least one training image.")
    return (len(labels) / (num_classes * counts)).astype(np.float32)


def _save_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _save_optimizer(optimizer: Any, path: Path) -> None:
    arrays = {f"v{index:05d}": np.asarray(var.numpy()) for index, var in enumerate(optimizer.variables)}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def _load_optimizer(optimizer: Any, path: Path) -> bool:
    with np.load(path, allow_pickle=False) as stored:
        if len(stored.files) != len(optimizer.variables):
            log.warning("Optimizer state in %s does not fit this phase; starting the optimizer afresh.", path)
            return False
        for index, var in enumerate(optimizer.variables):
            var.assign(stored[f"v{index:05d}"])
    return True


def checkpoint_name(kind: str, epoch: int) -> str:
    """The file of an epoch's checkpoint (`kind`: last, best or optimizer); `epoch` counts from 1."""
    return CHECKPOINT_NAMES[kind].format(epoch=epoch)


def checkpoint_files(state: dict[str, Any]) -> dict[str, str]:
    """The checkpoint files (kind -> file name) that a state.json commits; the fixed names of older runs."""
    files = state.get("files")
    return dict(files) if files else dict(LEGACY_CHECKPOINTS)


def _prune_checkpoints(run_dir: Path, keep: set[str]) -> None:
    """Delete checkpoint files (and leftovers of interrupted writes) that state.json does not name."""
    for pattern in _CHECKPOINT_GLOBS:
        for path in run_dir.glob(pattern):
            if path.name not in keep and path.is_file():
                path.unlink(missing_ok=True)


def _read_history(path: Path, epochs: int) -> list[dict[str, Any]]:
    """The records of epochs 1..`epochs` in history.jsonl: lines of epochs that state.json does not
    count (written before a kill) are dropped, and of a repeated epoch the last line is kept."""
    records: dict[int, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if (
                isinstance(record, dict)
                and isinstance(record.get("epoch"), int)
                and record["epoch"] <= epochs
            ):
                records[record["epoch"]] = record
    return [records[epoch] for epoch in sorted(records)]


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(record) + "\n" for record in history), encoding="utf-8")
    os.replace(tmp, path)


def seed_generators(model: Any) -> list[Any]:
    """Every `SeedGenerator` of the model's layers (Dropout, random augmentation layers), nested
    models and layers included, in a fixed order."""
    found: list[Any] = []
    seen: set[int] = set()

    def visit(layer: Any) -> None:
        if id(layer) in seen:
            return
        seen.add(id(layer))
        for generator in (getattr(layer, "seed_generator", None), *getattr(layer, "_seed_generators", ())):
            if generator is not None and hasattr(generator, "state") and id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
        for sublayer in getattr(layer, "layers", None) or getattr(layer, "_layers", None) or ():
            visit(sublayer)

    visit(model)
    return found


def reseed_layers(model: Any, seed: int, epoch: int) -> None:
    """Set every layer's seed generator from (seed, epoch, its position), so the dropout masks of an
    epoch do not depend on what the process ran before it: a resumed run trains as an uninterrupted one."""
    for index, generator in enumerate(seed_generators(model)):
        value = int(np.random.default_rng([seed, epoch, index]).integers(1, 2**31))
        generator.state.assign(np.array([value, 0], dtype=np.dtype(generator.state.dtype)))


def _phase_lr(phase: Phase, epoch_in_phase: int, continued: dict[str, Any] | None = None) -> float:
    """The rate of an epoch; `continued` ({"epoch", "lr"}, see `_continue_schedules`): from that
    epoch on, a cosine from that rate reaching the phase's floor on its last epoch."""
    if continued is not None and epoch_in_phase >= continued["epoch"]:
        floor = phase.learning_rate * phase.min_lr_factor
        progress = (epoch_in_phase - continued["epoch"] + 1) / (phase.epochs - continued["epoch"])
        return float(floor + 0.5 * (continued["lr"] - floor) * (1 + math.cos(math.pi * progress)))
    if epoch_in_phase < phase.warmup_epochs:
        return phase.learning_rate * (epoch_in_phase + 1) / (phase.warmup_epochs + 1)
    decay_epochs = phase.epochs - phase.warmup_epochs
    if phase.schedule == "cosine" and decay_epochs > 1:
        floor = phase.learning_rate * phase.min_lr_factor
        progress = (epoch_in_phase - phase.warmup_epochs) / (decay_epochs - 1)
        return float(floor + 0.5 * (phase.learning_rate - floor) * (1 + math.cos(math.pi * progress)))
    return phase.learning_rate


def _locate(phases: tuple[Phase, ...], global_epoch: int) -> tuple[int, int]:
    """(phase index, epoch within it) of the next epoch to run; (len(phases), 0) when all are done."""
    for index, phase in enumerate(phases):
        if global_epoch < phase.epochs:
            return index, global_epoch
        global_epoch -= phase.epochs
    return len(phases), 0


def _continue_schedules(saved: dict[str, Any], config: TrainConfig, run_name: str) -> dict[str, Any]:
    """The learning-rate continuations (phase name -> {"epoch", "lr"}) of a resumed run, once the
    resume is checked to leave the phases it has run as they ran.

    A cosine is planned over its phase's epoch count. Were it recomputed when a resume changes the
    count of the phase under way, the rate would go back up the curve (or drop at once when
    shortened); so the phase goes on from the rate of its last epoch along a fresh cosine that
    reaches the floor on its new last epoch: the rate never rises on resume. A phase still in its
    warm-up ramp takes the new count's schedule, climbing to its peak as any run does. The
    continuation is kept in state.json, so a kill and a resume with the same options follow it.
    """
    continued = dict(saved.get("lr_continued") or {})
    fields = {item.name for item in dataclasses.fields(Phase)}
    ran_phases = [
        Phase(**{k: v for k, v in phase.items() if k in fields}) for phase in saved["config"]["phases"]
    ]
    index, done = _locate(tuple(ran_phases), int(saved["global_epoch"]))
    if index == len(ran_phases):  # all run: the last phase may be lengthened
        index, done = index - 1, ran_phases[-1].epochs
    for position, old in enumerate(ran_phases[: index + 1]):
        ran = old.epochs if position < index else done
        new = config.phases[position] if position < len(config.phases) else None
        if ran == 0 or (new is not None and new == old):
            continue
        # A phase over cannot change its length (the epochs after it would be counted in it);
        # the one under way may, but not below what it has run unless it is the last.
        is_last = position == len(config.phases) - 1
        if (
            new is None
            or new.name != old.name
            or (position < index and new.epochs != old.epochs)
            or (new.epochs < ran and not is_last)
        ):
            raise EngineError(
                f"Cannot resume from {run_name}: its {old.name} phase has run {ran} of {old.epochs} "
                "epoch(s); resume with the epochs it was started with."
            )
        if dataclasses.replace(new, epochs=old.epochs, warmup_epochs=old.warmup_epochs) != old:
            raise EngineError(
                f"Cannot resume from {run_name}: its {old.name} phase has begun with learning rate "
                f"{old.learning_rate:g}; resume with the same learning rate."
            )
    if done == 0:
        return continued
    old, new = ran_phases[index], config.phases[index]
    past_ramp = done > old.warmup_epochs or old.name in continued
    if new.schedule == "cosine" and new.epochs != old.epochs and new.epochs > done and past_ramp:
        continued[old.name] = {"epoch": done, "lr": _phase_lr(old, done - 1, continued.get(old.name))}
    return continued


def _score(metrics: dict[str, Any]) -> tuple[float, float]:
    """Model selection: higher val accuracy, then lower val log loss."""
    return (round(float(metrics["accuracy"]), 6), -float(metrics["log_loss"]))


def _make_train_step(model: Any, optimizer: Any, trainable: list[Any], loss_fn: Any, size: int) -> Any:
    """The compiled step of one phase (its trainable variables and optimizer are fixed)."""
    import tensorflow as tf

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, size, size, 3], tf.float32),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None], tf.float32),
        ],
        reduce_retracing=True,
    )
    def train_step(x: Any, y: Any, w: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            probs = model(x, training=True)
            loss = loss_fn(y, probs, sample_weight=w)
            total = loss + tf.add_n(model.losses) if model.losses else loss
        grads = tape.gradient(total, trainable)
        optimizer.apply_gradients(zip(grads, trainable, strict=True))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probs, axis=1), y), tf.float32))
        return loss, correct

    return train_step


def train_classifier(
    train: ArrayDataset,
    val: ArrayDataset,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train with checkpoints in `run_dir`; the returned model holds the best val weights."""
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    from .artifact import load_weights, save_weights
    from .classifier import ClassifierConfig, build_classifier, set_backbone_trainable

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / STATE_FILE
    if len(train) == 0 or len(val) == 0:
        raise DatasetError("Training and validation sets must both have images.")

    keras.utils.set_random_seed(config.seed)
    num_classes = len(train.classes)
    model = build_classifier(
        ClassifierConfig(backbone=config.backbone, num_classes=num_classes), config.weights
    )

    state: dict[str, Any] = {
        "config": config.to_dict(),
        "total_epochs": config.total_epochs,
        "phase_index": 0,
        "epoch_in_phase": 0,
        "global_epoch": 0,
        "best": None,
        "bad_epochs": 0,
        "elapsed_s": 0.0,
        "done": False,
        "files": {},
        "lr_continued": {},
    }
    history: list[dict[str, Any]] = []
    history_path = run_dir / HISTORY_FILE
    if resume and state_path.is_file():
        saved = json.loads(state_path.read_text(encoding="utf-8"))
        mismatched = [
            key
            for key in ("preset", "backbone", "weights", "batch_size", "seed")
            if saved["config"].get(key) != state["config"].get(key)
        ]
        if mismatched:
            raise EngineError(
                f"Cannot resume from {run_dir.name}: the run was started with a different "
                f"{', '.join(mismatched)}."
            )
        continued = _continue_schedules(saved, config, run_dir.name)
        saved_total = int(
            saved.get("total_epochs") or sum(int(phase["epochs"]) for phase in saved["config"]["phases"])
        )
        state.update({key: value for key, value in saved.items() if key not in ("config", "total_epochs")})
        state["lr_continued"] = continued
        # state.json is the commit point: what was written after it (a kill between the files of an
        # epoch and its state.json) is dropped, and that epoch is trained again from the files it names.
        files = state["files"] = checkpoint_files(saved)
        _prune_checkpoints(run_dir, set(files.values()))
        history = _read_history(history_path, int(state["global_epoch"]))
        _write_history(history_path, history)
        if saved.get("done") and config.total_epochs <= saved_total:
            stopped = str(saved.get("stopped") or "completed")
            log.info("%s already finished (%s); nothing to train.", run_dir.name, stopped)
            load_weights(model, run_dir / files["best"])
            return TrainResult(
                model=model, config=config, best=state["best"] or {}, history=history, stopped=stopped
            )
        # Position from the epoch count (the phases run keep their lengths: `_continue_schedules`), so
        # a finished run resumed with more epochs continues.
        patience = saved["config"].get("patience")
        if saved.get("done") and patience is not None and int(state["bad_epochs"]) >= int(patience):
            # Its patience ran out and the epochs were raised: with the spent count it would stop
            # after one epoch, so patience counts afresh from here (the best so far is kept). An
            # interrupted run, not done, keeps its count, as an uninterrupted run would.
            state["bad_epochs"] = 0
        state["done"] = False
        state.pop("stopped", None)  # a reason for stopping, stale until the run stops again
        state["phase_index"], state["epoch_in_phase"] = _locate(config.phases, int(state["global_epoch"]))
        load_weights(model, run_dir / files["last"])
        log.info(
            "Resuming %s at global epoch %d (phase %d).",
            run_dir.name,
            state["global_epoch"],
            state["phase_index"],
        )
    else:
        if resume:
            log.warning("No %s in %s: nothing to resume, starting afresh.", STATE_FILE, run_dir)
        state_path.unlink(missing_ok=True)
        history_path.unlink(missing_ok=True)
        _prune_checkpoints(run_dir, set())

    weights_per_class = (
        balanced_class_weights(train.labels, num_classes)
        if config.class_weighting
        else np.ones(num_classes, dtype=np.float32)
    )
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    size = int(model.inputs[0].shape[1])
    stopped = "completed"
    # elapsed_s is the run's training time over all its invocations; --max-minutes is this
    # invocation's, the time given to the command, so a resume has its whole budget again.
    started = time.monotonic() - float(state["elapsed_s"])
    deadline = time.monotonic() + config.max_minutes * 60 if config.max_minutes is not None else None
    out_of_time = False

    while not state["done"] and not out_of_time and state["phase_index"] < len(config.phases):
        phase = config.phases[state["phase_index"]]
        if state["epoch_in_phase"] >= phase.epochs:
            state["phase_index"] += 1
            state["epoch_in_phase"] = 0
            state["bad_epochs"] = 0
            continue
        set_backbone_trainable(model, phase.train_backbone, freeze_batchnorm=config.freeze_batchnorm)
        trainable = model.trainable_variables
        optimizer = keras.optimizers.Adam(learning_rate=phase.learning_rate)
        optimizer.build(trainable)
        optimizer_file = state["files"].get("optimizer")
        if state["epoch_in_phase"] > 0 and optimizer_file and (run_dir / optimizer_file).is_file():
            _load_optimizer(optimizer, run_dir / optimizer_file)

        train_step = _make_train_step(model, optimizer, trainable, loss_fn, size)

        while state["epoch_in_phase"] < phase.epochs:
            epoch = int(state["global_epoch"])
            lr = _phase_lr(phase, int(state["epoch_in_phase"]), state["lr_continued"].get(phase.name))
            optimizer.learning_rate.assign(lr)
            reseed_layers(model, config.seed, epoch)
            rng = np.random.default_rng([config.seed, epoch])
            order = rng.permutation(len(train))
            steps = math.ceil(len(order) / config.batch_size)
            loss_sum, correct_sum, seen, partial = 0.0, 0.0, 0, False
            bar = tqdm(
                range(steps),
                desc=f"epoch {epoch + 1}/{config.total_epochs} {phase.name}",
                disable=not progress,
                mininterval=2.0,
                leave=True,
            )
            for step in bar:
                index = order[step * config.batch_size : (step + 1) * config.batch_size]
                x = augment_batch(train.images[index], rng, config.augment)
                y = train.labels[index]
                w = weights_per_class[y]
                loss, correct = train_step(tf.constant(x), tf.constant(y), tf.constant(w))
                loss_sum += float(loss) * len(index)
                correct_sum += float(correct)
                seen += len(index)
                bar.set_postfix(
                    loss=f"{loss_sum / seen:.4f}", acc=f"{correct_sum / seen:.4f}", lr=f"{lr:.2e}"
                )
                if deadline is not None and time.monotonic() > deadline:
                    # A slow epoch (a big backbone on a shared CPU) must not overrun the time box.
                    partial = step + 1 < steps
                    break
            bar.close()
            val_metrics = evaluate_model(model, val)
            record = {
                "epoch": epoch + 1,
                "phase": phase.name,
                "lr": lr,
                "train_loss": loss_sum / seen,
                "train_accuracy": correct_sum / seen,
                "val_loss": val_metrics["log_loss"],
                "val_accuracy": val_metrics["accuracy"],
                "val_f1_weighted": val_metrics["f1_weighted"],
                "val_kappa": val_metrics["kappa"],
                "elapsed_s": round(time.monotonic() - started, 1),
                "steps": seen // config.batch_size + (seen % config.batch_size > 0),
                "partial": partial,
            }
            improved = state["best"] is None or _score(val_metrics) > tuple(state["best"]["score"])
            # This epoch's files get new names: the files state.json names stay intact until the new
            # state.json (the commit point) replaces it; only then are the old ones deleted.
            files = dict(state["files"])
            if improved:
                files["best"] = checkpoint_name("best", epoch + 1)
                save_weights(model, run_dir / files["best"])
                state["best"] = {"epoch": epoch + 1, "score": list(_score(val_metrics)), "val": val_metrics}
                state["bad_epochs"] = 0
            else:
                state["bad_epochs"] += 1
            record["best"] = improved
            log.info("epoch %s", json.dumps(record))
            files["last"] = checkpoint_name("last", epoch + 1)
            save_weights(model, run_dir / files["last"])
            files["optimizer"] = checkpoint_name("optimizer", epoch + 1)
            _save_optimizer(optimizer, run_dir / files["optimizer"])
            state["files"] = files
            state["epoch_in_phase"] += 1
            state["global_epoch"] += 1
            state["elapsed_s"] = time.monotonic() - started
            history.append(record)
            _write_history(history_path, history)  # lines past state.json's count are dropped on resume
            is_last_phase = state["phase_index"] == len(config.phases) - 1
            if is_last_phase and config.patience is not None and state["bad_epochs"] >= config.patience:
                stopped, state["done"] = (
                    f"early stopping after {config.patience} epochs without improvement",
                    True,
                )
            epochs_left = state["global_epoch"] < config.total_epochs
            if not state["done"] and epochs_left and deadline is not None and time.monotonic() > deadline:
                stopped, out_of_time = f"time budget of {config.max_minutes:g} minutes reached", True
            if state["done"] or out_of_time:
                state["stopped"] = stopped
            _save_json(state_path, state)  # the commit point of the epoch
            _prune_checkpoints(run_dir, set(files.values()))
            if on_epoch is not None:
                on_epoch(record)
            if state["done"] or out_of_time:
                break
    state["done"] = not out_of_time  # out of time is a pause, as a kill is: --resume continues the run
    state["stopped"] = stopped
    _save_json(state_path, state)
    log.info(
        "Training finished (%s); best val epoch %s.",
        stopped,
        state["best"]["epoch"] if state["best"] else "-",
    )
    load_weights(model, run_dir / state["files"]["best"])
    return TrainResult(model=model, config=config, best=state["best"] or {}, history=history, stopped=stopped)


# -- from folders to a shipped artifact ------------------------------------------------------------


def fit_trust_hook(
    predictor: Any, train_dir: str | Path, val_dir: str | Path, folder: str | Path | None = None
) -> dict[str, Any] | None:
    """Fit model.json's `trust` (temperature, OOD statistics, thresholds) with `trust.fit_trust`.

    Returns None, and the artifact keeps `trust: null`, when that module is not installed.
    """
    try:
        from .trust import fit_trust
    except ImportError:
        log.warning("inference.engine.trust is not available: trust not fitted (model.json trust is null).")
        return None
    log.info("Fitting trust (temperature, OOD statistics, thresholds) on %s and %s...", train_dir, val_dir)
    return dict(fit_trust(predictor, train_dir, val_dir, folder=folder))


def fit_trust_for_artifact(
    model_dir: str | Path, train_dir: str | Path, val_dir: str | Path
) -> dict[str, Any] | None:
    """Fit (or refit) `trust` of an existing artifact and write it into its model.json."""
    from .artifact import update_model_info
    from .predictor import Predictor

    trust = fit_trust_hook(Predictor.from_artifact(model_dir), train_dir, val_dir, model_dir)
    if trust is not None:
        update_model_info(model_dir, trust=trust)
    return trust


def train_from_folders(
    *,
    train_dir: str | Path,
    val_dir: str | Path,
    out_dir: str | Path,
    run_dir: str | Path,
    config: TrainConfig,
    command: str,
    name: str | None = None,
    resume: bool = False,
    weights_dtype: str = "float32",
    fit_trust: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Load the folders, train, evaluate (val and val with hue +20) and write the artifact.

    Paths are recorded in model.json as given, so pass them relative to the project root.
    """
    log.info("Loading %s and %s (CLAHE + resize, cached in memory)...", train_dir, val_dir)
    t0 = time.monotonic()
    train = load_image_folder(train_dir)
    val = load_image_folder(val_dir)
    log.info("Loaded %d train and %d val images in %.1f s.", len(train), len(val), time.monotonic() - t0)
    result = train_classifier(train, val, config, run_dir, resume=resume, progress=progress)
    weights_desc = config.weights or "random initialisation"
    if config.weights and config.weights != "imagenet":
        weights_desc = (
            f"ImageNet, local file {Path(config.weights).name} (sha256 {sha256_file(config.weights)})"
        )
    return write_classifier_artifact(
        result.model,
        train=train,
        val=val,
        train_dir=train_dir,
        val_dir=val_dir,
        out_dir=out_dir,
        backbone=config.backbone,
        initial_weights=weights_desc,
        hyperparameters={
            **config.to_dict(),
            "stopped": result.stopped,
            "best_epoch": result.best.get("epoch"),
            "epochs_run": len(result.history),
        },
        command=command,
        name=name,
        weights_dtype=weights_dtype,
        fit_trust=fit_trust,
    )


def write_classifier_artifact(
    model: Any,
    *,
    train: ArrayDataset,
    val: ArrayDataset,
    train_dir: str | Path,
    val_dir: str | Path,
    out_dir: str | Path,
    backbone: str,
    initial_weights: str,
    hyperparameters: dict[str, Any],
    command: str,
    name: str | None = None,
    weights_dtype: str = "float32",
    fit_trust: bool = True,
) -> dict[str, Any]:
    """Evaluate a trained model (val, and val with hue shifts), write its artifact, fit its trust.

    The trust is fitted on the artifact's temporary folder, before it is renamed into place: a
    kill while fitting leaves no artifact (so `--resume` can write it), never one without its trust.
    """
    from .artifact import save_artifact
    from .classifier import ClassifierConfig
    from .predictor import Predictor
    from .preprocess import CLAHE_CLIP_LIMIT, CLAHE_TILES

    metrics = {"val": evaluate_model(model, val)}
    for degrees in HUE_TEST_DEGREES:
        metrics[f"val_hue+{degrees}"] = evaluate_model(model, load_hue_shifted(val_dir, degrees))
    log.info(
        "Best model: %s",
        json.dumps({k: {m: v[m] for m in ("accuracy", "f1_weighted", "kappa")} for k, v in metrics.items()}),
    )
    spec = get_backbone(backbone)
    manifest = find_manifest(train_dir)
    info: dict[str, Any] = {
        "name": name or Path(out_dir).name,
        "architecture": {
            **ClassifierConfig(backbone=backbone, num_classes=len(train.classes)).to_dict(),
            "head": "GlobalAveragePooling2D > Flatten > Dense(256, relu, L2 0.01) 'features' > Dropout(0.5) "
            "> Dense(4) 'logits' > Softmax 'probabilities'",
        },
        "classes": list(train.classes),
        "backbone": {
            "name": spec.name,
            "description": spec.description,
            "initial_weights": initial_weights,
            "last_conv_layer": spec.last_conv_layer,
        },
        "input": {
            "size": spec.input_size,
            "dtype": "float32",
            "channels": "RGB",
            "range": [0, 255],
            "description": f"{spec.input_size}x{spec.input_size} RGB float32 in 0..255",
        },
        "preprocessing": {
            "outside_model": f"CLAHE on the L channel of Lab (clip {CLAHE_CLIP_LIMIT}, tiles "
            f"{CLAHE_TILES[0]}x{CLAHE_TILES[1]}), then bilinear resize to "
            f"{spec.input_size}x{spec.input_size}",
            "inside_model": spec.preprocess_name,
        },
        "hyperparameters": hyperparameters,
        "data": {
            "train_dir": str(train_dir),
            "val_dir": str(val_dir),
            "manifest_sha256": sha256_file(manifest) if manifest else None,
            "images_sha256": images_sha256(train.paths, train_dir),
            "val_images_sha256": images_sha256(val.paths, val_dir),
            "train_class_counts": {
                code: int((train.labels == i).sum()) for i, code in enumerate(train.classes)
            },
            "val_class_counts": {code: int((val.labels == i).sum()) for i, code in enumerate(val.classes)},
        },
        "metrics": metrics,
        "training_command": command,
        "trust": None,
    }

    def fit_trust_before_publishing(partial: Path, saved: dict[str, Any]) -> dict[str, Any] | None:
        trust = fit_trust_hook(Predictor(model, saved), train_dir, val_dir, partial)
        return {"trust": trust} if trust is not None else None

    saved = save_artifact(
        out_dir,
        model,
        info=info,
        weights_dtype=weights_dtype,
        before_publish=fit_trust_before_publishing if fit_trust else None,
    )
    log.info("Artifact written to %s (weights sha256 %s).", out_dir, saved["weights"]["sha256"])
    return saved


__all__ = [
    "PRESETS",
    "Phase",
    "TrainConfig",
    "TrainResult",
    "classification_metrics",
    "evaluate_model",
    "fit_trust_for_artifact",
    "fit_trust_hook",
    "load_hue_shifted",
    "predict_probabilities",
    "preset_config",
    "train_classifier",
    "train_from_folders",
    "write_classifier_artifact",
]
