"""Training: data set layout errors, presets, augmentation, a tiny run that checkpoints and resumes,
and the command line end to end (tiny network, generated images; seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.engine.augment import NO_AUGMENTATION, AugmentConfig, augment_batch, hed_jitter, shift_hue
from inference.engine.datasets import load_image_folder, scan_image_folder
from inference.engine.errors import DatasetError, EngineError
from inference.engine.training import (
    BEST_WEIGHTS,
    LAST_WEIGHTS,
    STATE_FILE,
    TrainConfig,
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
    for name in (STATE_FILE, LAST_WEIGHTS, BEST_WEIGHTS):
        assert (run_dir / name).is_file()
    state = json.loads((run_dir / STATE_FILE).read_text())
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
    assert main(argv) == 0
    info = read_model_info(out)
    assert info["training_command"].startswith("python -m inference.engine.train_cli --train")
    assert info["backbone"]["name"] == "tiny_cnn"
    assert set(info["metrics"]) == {"val", "val_hue+20", "val_hue+40"}
    assert info["hyperparameters"]["preset"] == "robust"
    assert "trust" in info
    load_artifact(out)


def test_training_metrics_of_one_class_all_right_are_json_numbers() -> None:
    # Kappa is undefined (0/0) where truth and calls are one class; it was written as NaN.
    metrics = classification_metrics(np.array([2, 2]), np.eye(4)[[2, 2]])
    assert metrics["kappa"] == 1.0
    json.dumps(metrics, allow_nan=False)
