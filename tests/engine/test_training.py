"""Training: data set layout errors, presets, augmentation, a tiny run that checkpoints and resumes,
and the command line end to end (tiny network, generated images; seconds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from inference.engine import training
from inference.engine.augment import NO_AUGMENTATION, AugmentConfig, augment_batch, hed_jitter, shift_hue
from inference.engine.datasets import ArrayDataset, load_image_folder, scan_image_folder
from inference.engine.errors import DatasetError, EngineError
from inference.engine.training import (
    BEST_WEIGHTS,
    HISTORY_FILE,
    LAST_WEIGHTS,
    OPTIMIZER_FILE,
    STATE_FILE,
    TrainConfig,
    checkpoint_files,
    classification_metrics,
    preset_config,
    train_classifier,
)

from .conftest import write_class_folders

# -- data set folders ------------------------------------------------------------------------------


def test_public_names_and_codes_in_any_case(tiny_dataset_dirs: tuple[Path, Path]) -> None:
    folder = scan_image_folder(tiny_dataset_dirs[0])
    assert folder.class_counts() == {"benign": 6, "early_pre_b": 6, "pre_b": 6, "pro_b": 6}
    assert folder.folder_names["pro_b"] == "PRO"


def test_missing_folder_and_file_instead_of_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        scan_image_folder(tmp_path / "absent")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        scan_image_folder(tmp_path / "file.txt")
    with pytest.raises(DatasetError, match="no class sub-folders"):
        scan_image_folder(tmp_path)


def test_unknown_duplicate_missing_and_empty_classes(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=1)
    (root / "Mature").mkdir()
    with pytest.raises(DatasetError, match="'Mature' is not a known class"):
        scan_image_folder(root)
    (root / "Mature").rmdir()
    (root / "benign").mkdir()
    with pytest.raises(DatasetError, match="both mean class 'benign'"):
        scan_image_folder(root)
    (root / "benign").rmdir()
    for image in (root / "Early").iterdir():
        image.unlink()
    with pytest.raises(DatasetError, match="'Early' has no images"):
        scan_image_folder(root)
    (root / "Early").rmdir()
    with pytest.raises(DatasetError, match=r"no sub-folder for class.*early_pre_b"):
        scan_image_folder(root)


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=1)
    (root / "pre_b" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"broken\.png"):
        load_image_folder(root)


def test_an_unreadable_image_keeps_its_error_type_and_names_the_file(tmp_path: Path) -> None:
    from inference.engine.datasets import read_image_file
    from inference.engine.errors import TruncatedImageError

    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    encoded = cv2.imencode(".jpg", noise)[1].tobytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(encoded[:-100])  # an interrupted copy: no end-of-image marker
    with pytest.raises(TruncatedImageError, match=r"cut\.jpg.*truncated"):
        read_image_file(path)


# -- presets and augmentation ------------------------------------------------------------------------


def test_presets() -> None:
    seed = preset_config("seed", backbone="resnet50", weights="imagenet")
    assert [(p.epochs, p.learning_rate, p.train_backbone) for p in seed.phases] == [(25, 1e-6, True)]
    assert not seed.class_weighting
    robust = preset_config("robust", backbone="mobilenet", weights="imagenet")
    assert [p.name for p in robust.phases] == ["head", "finetune"]
    assert robust.class_weighting
    assert robust.augment.hue_shift >= 20
    scratch = preset_config("robust", backbone="resnet50", weights=None)
    assert [p.name for p in scratch.phases] == ["finetune"]  # no frozen phase for random weights
    assert not scratch.freeze_batchnorm
    with pytest.raises(EngineError, match="Unknown preset"):
        preset_config("fast")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"epochs": 0}, "epochs must be at least 1, got 0"),
        ({"epochs": -1}, "epochs must be at least 1"),
        ({"head_epochs": -1}, "head_epochs must be at least 0"),
        ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
    ],
)
def test_overrides_below_their_least_value_are_refused(override: dict[str, int], message: str) -> None:
    with pytest.raises(EngineError, match=message):
        preset_config("robust", backbone="tiny_cnn", weights=None, **override)
    # None is the preset's own value.
    assert preset_config("seed", backbone="tiny_cnn", weights=None, batch_size=None).batch_size == 32


def test_augmentation_keeps_shape_and_changes_colour() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    out = augment_batch(images, rng, AugmentConfig(colour_probability=1.0))
    assert out.shape == images.shape
    assert out.dtype == np.float32
    assert 0 <= out.min() <= out.max() <= 255
    np.testing.assert_array_equal(augment_batch(images, rng, NO_AUGMENTATION), images.astype(np.float32))
    pixel = np.array([[[200, 60, 60]]], np.uint8)
    assert not np.array_equal(shift_hue(pixel, 30), pixel)
    np.testing.assert_array_equal(shift_hue(pixel, 180), pixel)  # a full turn
    same = hed_jitter(images[0], np.ones(3), np.zeros(3))
    assert np.abs(same.astype(int) - images[0]).max() <= 1


def test_classification_metrics() -> None:
    probs = np.eye(4)[[0, 1, 2, 3, 3]]
    metrics = classification_metrics(np.array([0, 1, 2, 3, 2]), probs)
    assert metrics["accuracy"] == pytest.approx(0.8)
    assert metrics["confusion_matrix"][2] == [0, 0, 1, 1]
    assert metrics["recall"]["pre_b"] == pytest.approx(0.5)


# -- a tiny run ----------------------------------------------------------------------------------------


def test_tiny_run_checkpoints_and_resumes(tiny_dataset_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    train = load_image_folder(tiny_dataset_dirs[0])
    val = load_image_folder(tiny_dataset_dirs[1])
    run_dir = tmp_path / "run"

    def config(epochs: int) -> TrainConfig:
        return preset_config(
            "robust", backbone="tiny_cnn", weights=None, epochs=epochs, batch_size=8, augment=AugmentConfig()
        )

    first = train_classifier(train, val, config(1), run_dir, progress=False)
    assert len(first.history) == 1
    state = json.loads((run_dir / STATE_FILE).read_text())
    assert set(checkpoint_files(state)) == {"last", "best", "optimizer"}
    for name in checkpoint_files(state).values():
        assert (run_dir / name).is_file()
    assert state["global_epoch"] == 1
    assert state["best"]["epoch"] == 1

    second = train_classifier(train, val, config(2), run_dir, resume=True, progress=False)
    assert [record["epoch"] for record in second.history] == [1, 2]
    assert json.loads((run_dir / STATE_FILE).read_text())["global_epoch"] == 2

    other = preset_config("robust", backbone="tiny_cnn", weights=None, epochs=3, batch_size=4)
    with pytest.raises(EngineError, match="different batch_size"):
        train_classifier(train, val, other, run_dir, resume=True, progress=False)


def test_command_line_writes_an_artifact(tiny_dataset_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    from inference.engine.artifact import load_artifact, read_model_info
    from inference.engine.train_cli import main

    out = tmp_path / "models" / "tiny-v1"
    argv = [
        "--train", str(tiny_dataset_dirs[0]), "--val", str(tiny_dataset_dirs[1]), "--out", str(out),
        "--run-dir", str(tmp_path / "runs" / "tiny"), "--backbone", "tiny_cnn", "--weights", "none",
        "--epochs", "1", "--batch-size", "8", "--no-progress",
    ]  # fmt: skip
    # One epoch leaves the network no better than chance: its trust fit is refused and nothing written
    # (test_trust_floor.py); without trust the artifact is written, every call of it referred.
    assert main(argv) == 2
    assert not out.exists()
    assert main([*argv, "--resume", "--no-trust"]) == 0  # from the finished run's checkpoints
    info = read_model_info(out)
    assert info["training_command"].startswith("python -m inference.engine.train_cli --train")
    assert info["backbone"]["name"] == "tiny_cnn"
    assert set(info["metrics"]) == {"val", "val_hue+20", "val_hue+40"}
    assert info["hyperparameters"]["preset"] == "robust"
    assert info["trust"] is None
    load_artifact(out)


def test_training_metrics_of_one_class_all_right_are_json_numbers() -> None:
    # Kappa is undefined (0/0) where truth and calls are one class; it was written as NaN.
    metrics = classification_metrics(np.array([2, 2]), np.eye(4)[[2, 2]])
    assert metrics["kappa"] == 1.0
    json.dumps(metrics, allow_nan=False)


# -- resuming: the same weights as an uninterrupted run, state.json the commit point -----------------


class Killed(Exception):
    """Stands for a kill: raised where the process would die, caught by the test."""


def _tiny_config(epochs: int, **overrides: Any) -> TrainConfig:
    return preset_config(
        "robust",
        backbone="tiny_cnn",
        weights=None,
        epochs=epochs,
        batch_size=8,
        **overrides,
    )


def _state(run_dir: Path) -> dict[str, object]:
    return dict(json.loads((run_dir / STATE_FILE).read_text()))


def _last_weights(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / checkpoint_files(_state(run_dir))["last"]) as stored:
        return {key: stored[key] for key in stored.files}


def _assert_same_weights(run_dir: Path, reference: Path) -> None:
    ours, theirs = _last_weights(run_dir), _last_weights(reference)
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def _history_epochs(run_dir: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run_dir / HISTORY_FILE).read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_sets(tiny_dataset_dirs: tuple[Path, Path]) -> tuple[ArrayDataset, ArrayDataset]:
    return load_image_folder(tiny_dataset_dirs[0]), load_image_folder(tiny_dataset_dirs[1])


@pytest.fixture(scope="module")
def reference_run(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An uninterrupted 3-epoch run (tiny_cnn; its head has Dropout 0.5)."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    train_classifier(*tiny_sets, _tiny_config(3), run_dir, progress=False)
    return run_dir


def test_reseeding_sets_every_seed_generator_from_seed_and_epoch_nested_ones_too() -> None:
    import keras

    from inference.engine.classifier import ClassifierConfig, build_classifier

    model = build_classifier(ClassifierConfig(backbone="tiny_cnn"))
    assert any(layer.__class__.__name__ == "Dropout" for layer in model.layers)
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5), keras.layers.Dense(2)])
    outer = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5), inner])
    for net in (model, outer):
        generators = training.seed_generators(net)
        assert len(generators) == (1 if net is model else 2)
        training.reseed_layers(net, 3, 5)
        states = [np.asarray(generator.state.numpy()).tolist() for generator in generators]
        assert all(state[1] == 0 and state[0] > 0 for state in states)
        assert len({state[0] for state in states}) == len(states)  # no two layers share their masks
        generators[0].next()
        training.reseed_layers(net, 3, 5)
        assert [np.asarray(g.state.numpy()).tolist() for g in generators] == states
        training.reseed_layers(net, 3, 6)
        assert [np.asarray(g.state.numpy()).tolist() for g in generators] != states


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], reference_run: Path, tmp_path: Path
) -> None:
    # The dropout masks of the resumed epochs used to depend on how many steps the process had run.
    def stop_after_first(record: dict[str, object]) -> None:
        if record["epoch"] == 1:
            raise Killed

    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        train_classifier(*tiny_sets, _tiny_config(3), run_dir, progress=False, on_epoch=stop_after_first)
    train_classifier(*tiny_sets, _tiny_config(3), run_dir, resume=True, progress=False)
    _assert_same_weights(run_dir, reference_run)
    assert _history_epochs(run_dir) == [1, 2, 3]


@pytest.mark.parametrize("where", ["_save_optimizer", "_save_json"])
def test_a_kill_inside_the_checkpoint_write_resumes_from_what_state_json_commits(
    tiny_sets: tuple[ArrayDataset, ArrayDataset],
    reference_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    # Killed while epoch 2's checkpoint is written: after its weights, before its state.json.
    real = getattr(training, where)
    calls = {"n": 0}

    def dies_on_the_second_call(*args: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Killed
        real(*args)

    run_dir = tmp_path / "run"
    monkeypatch.setattr(training, where, dies_on_the_second_call)
    with pytest.raises(Killed):
        train_classifier(*tiny_sets, _tiny_config(3), run_dir, progress=False)
    monkeypatch.undo()
    assert _state(run_dir)["global_epoch"] == 1
    result = train_classifier(*tiny_sets, _tiny_config(3), run_dir, resume=True, progress=False)
    assert [record["epoch"] for record in result.history] == [1, 2, 3]
    assert _history_epochs(run_dir) == [1, 2, 3]  # epoch 2 once, not twice
    _assert_same_weights(run_dir, reference_run)  # epoch 2 not trained on top of itself
    files = checkpoint_files(_state(run_dir))
    assert files["last"] == training.checkpoint_name("last", 3)
    assert {path.name for path in run_dir.iterdir()} == {STATE_FILE, HISTORY_FILE, *files.values()}


def test_a_run_folder_with_the_old_fixed_file_names_still_resumes(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    train_classifier(*tiny_sets, _tiny_config(2), run_dir, progress=False)
    state = _state(run_dir)
    legacy = {"last": LAST_WEIGHTS, "best": BEST_WEIGHTS, "optimizer": OPTIMIZER_FILE}
    for kind, name in checkpoint_files(state).items():
        (run_dir / name).rename(run_dir / legacy[kind])
    for key in ("files", "total_epochs", "done", "stopped"):
        state.pop(key)
    (run_dir / STATE_FILE).write_text(json.dumps(state))
    result = train_classifier(*tiny_sets, _tiny_config(3), run_dir, resume=True, progress=False)
    assert [record["epoch"] for record in result.history] == [1, 2, 3]
    files = checkpoint_files(_state(run_dir))
    assert files["last"] == training.checkpoint_name("last", 3)
    assert not (run_dir / LAST_WEIGHTS).exists()
    assert not (run_dir / OPTIMIZER_FILE).exists()
    assert {path.name for path in run_dir.iterdir()} == {STATE_FILE, HISTORY_FILE, *files.values()}


def test_resume_without_a_state_starts_afresh_and_clears_the_old_history(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / HISTORY_FILE).write_text('{"epoch": 1}\n{"epoch": 2}\n')
    (run_dir / training.checkpoint_name("last", 7)).write_bytes(b"stale")
    result = train_classifier(*tiny_sets, _tiny_config(1), run_dir, resume=True, progress=False)
    assert len(result.history) == 1
    assert _history_epochs(run_dir) == [1]
    assert not (run_dir / training.checkpoint_name("last", 7)).exists()


def test_a_finished_run_resumed_trains_no_more_unless_the_epochs_are_raised(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "_score", lambda metrics: (0.0, 0.0))  # no epoch beats the first
    run_dir = tmp_path / "run"
    first = train_classifier(*tiny_sets, _tiny_config(4, patience=1), run_dir, progress=False)
    assert first.stopped.startswith("early stopping")
    assert len(first.history) == 2
    committed = (run_dir / STATE_FILE).read_text()

    again = train_classifier(*tiny_sets, _tiny_config(4, patience=1), run_dir, resume=True, progress=False)
    assert len(again.history) == 2
    assert again.stopped == first.stopped
    assert (run_dir / STATE_FILE).read_text() == committed  # nothing trained, nothing written
    assert again.best["epoch"] == 1
    for variable, trained in zip(again.model.weights, first.model.weights, strict=True):
        np.testing.assert_array_equal(variable.numpy(), trained.numpy())  # the best weights

    more = train_classifier(*tiny_sets, _tiny_config(5, patience=1), run_dir, resume=True, progress=False)
    assert [record["epoch"] for record in more.history] == [1, 2, 3]
    assert _state(run_dir)["total_epochs"] == 5


def test_model_json_identifies_the_images_loaded_not_only_the_manifest(tmp_path: Path) -> None:
    import hashlib

    from inference.engine.classifier import ClassifierConfig, build_classifier
    from inference.engine.datasets import sha256_file
    from inference.engine.training import write_classifier_artifact

    root = tmp_path / "data"
    train_dir = write_class_folders(root / "train", per_class=2, seed=1)
    val_dir = write_class_folders(root / "val", per_class=1, seed=2)
    (root / "manifest.csv").write_text("path,label\n")
    model = build_classifier(ClassifierConfig(backbone="tiny_cnn"))

    def artifact(name: str) -> dict[str, object]:
        info = write_classifier_artifact(
            model,
            train=load_image_folder(train_dir),
            val=load_image_folder(val_dir),
            train_dir=train_dir,
            val_dir=val_dir,
            out_dir=tmp_path / "models" / name,
            backbone="tiny_cnn",
            initial_weights="random initialisation",
            hyperparameters={},
            command="test",
            fit_trust=False,
        )
        return dict(info["data"])

    def expected(folder: Path) -> str:
        lines = sorted(
            f"{path.relative_to(folder).as_posix()} {sha256_file(path)}\n" for path in folder.rglob("*.png")
        )
        return hashlib.sha256("".join(lines).encode()).hexdigest()

    full = artifact("full")
    assert full["manifest_sha256"] == sha256_file(root / "manifest.csv")
    assert full["images_sha256"] == expected(train_dir)
    assert full["val_images_sha256"] == expected(val_dir)
    (train_dir / "PRO" / "img01.png").unlink()  # a subset of the same manifest
    subset = artifact("subset")
    assert subset["manifest_sha256"] == full["manifest_sha256"]
    assert subset["images_sha256"] == expected(train_dir) != full["images_sha256"]
    assert subset["val_images_sha256"] == full["val_images_sha256"]


def test_an_early_stopped_run_resumed_with_more_epochs_gets_a_fresh_patience_window(
    tiny_sets: tuple[ArrayDataset, ArrayDataset], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its spent patience count was kept, so raising --epochs bought one epoch, not `patience` more.
    monkeypatch.setattr(training, "_score", lambda metrics: (0.0, 0.0))  # no epoch beats the first
    run_dir = tmp_path / "run"
    first = train_classifier(*tiny_sets, _tiny_config(4, patience=2), run_dir, progress=False)
    assert first.stopped.startswith("early stopping")
    assert [record["epoch"] for record in first.history] == [1, 2, 3]

    def killed_after_epoch_4(record: dict[str, object]) -> None:
        if record["epoch"] == 4:
            raise Killed

    with pytest.raises(Killed):
        train_classifier(
            *tiny_sets,
            _tiny_config(8, patience=2),
            run_dir,
            resume=True,
            progress=False,
            on_epoch=killed_after_epoch_4,
        )
    state = _state(run_dir)
    assert (state["global_epoch"], state["bad_epochs"], state["done"]) == (4, 1, False)
    assert "stopped" not in state  # a running run carries no reason for stopping

    # Resumed after that kill, the window goes on (one epoch of it is spent): it is not opened again.
    more = train_classifier(*tiny_sets, _tiny_config(8, patience=2), run_dir, resume=True, progress=False)
    assert [record["epoch"] for record in more.history] == [1, 2, 3, 4, 5]
    assert more.stopped.startswith("early stopping")
    assert more.best["epoch"] == 1  # the best so far is kept, and its weights are the ones returned
    assert checkpoint_files(_state(run_dir))["best"] == training.checkpoint_name("best", 1)
