"""What the PyTorch import refuses, and early: a run that diverged (NaN in its val logits or in the
weights) cannot pass the agreement check, since NaN compares false with every limit and its rows
argmax to class 0 on both sides; and weights that are not the run's `layer.*` arrays are refused as
they are read, before the training and validation images are loaded."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.engine.classifier import ClassifierConfig, build_classifier, head_outputs_model
from inference.engine.datasets import ArrayDataset, load_image_folder
from inference.engine.errors import ModelArtifactError
from inference.engine.torch_import import check_agreement, import_torch_run, read_torch_run
from tests.engine.test_torch_import import run_summary


def _tiny_model(*, class_0_bias: float = 0.0) -> Any:
    model = build_classifier(ClassifierConfig(backbone="tiny_cnn", head_units=16), None)
    bias = model.get_layer("logits").bias
    bias.assign(bias.numpy() + np.array([class_0_bias, 0, 0, 0], np.float32))
    return model


def _logits(model: Any, val: ArrayDataset) -> np.ndarray:
    _, logits = head_outputs_model(model)([val.images.astype(np.float32)], training=False)
    return np.array(logits)  # a writable copy


def _save_val_logits(run: Path, val: ArrayDataset, logits: np.ndarray) -> Path:
    run.mkdir(exist_ok=True)
    np.savez(run / "val_logits.npz", logits=logits, files=[p.name for p in val.paths])
    return run


def test_val_logits_with_nan_are_refused(tiny_dataset_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    val = load_image_folder(tiny_dataset_dirs[1])
    model = _tiny_model(class_0_bias=100.0)  # calls every image class 0, as a NaN row argmaxes
    logits = _logits(model, val)
    logits[0, 1] = np.nan  # a float16 overflow on the GPU for one image
    run = _save_val_logits(tmp_path / "run", val, logits)
    with pytest.raises(ModelArtifactError, match=r"val logits .* not finite .* 1 of 12") as refused:
        check_agreement(model, val, run)
    assert val.paths[0].name in str(refused.value)


def test_a_model_that_computes_nan_is_refused(tiny_dataset_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    val = load_image_folder(tiny_dataset_dirs[1])
    model = _tiny_model()
    for variable in model.weights:  # a diverged run: every weight NaN
        variable.assign(np.full(variable.shape, np.nan, np.float32))
    calls_class_0 = np.tile(np.array([[5.0, 0.0, 0.0, 0.0]], np.float32), (len(val), 1))
    run = _save_val_logits(tmp_path / "run", val, calls_class_0)
    with pytest.raises(ModelArtifactError, match=r"imported model computes .* not finite .* 12 of 12"):
        check_agreement(model, val, run)


@pytest.mark.parametrize(
    ("state", "found"),
    [
        ({"conv1.weight": np.ones((2, 3, 7, 7), np.float32)}, "conv1.weight"),  # model.state_dict()
        ({"model.layer.conv1_conv.weight": np.ones(3, np.float32)}, "model.layer.conv1_conv.weight"),
    ],
)
def test_weights_without_layer_keys_are_refused_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: dict[str, np.ndarray], found: str
) -> None:
    def no_images(folder: Any) -> Any:
        raise AssertionError("images were loaded before the weights were checked")

    monkeypatch.setattr("inference.engine.torch_import.load_image_folder", no_images)
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(run_summary(["benign", "early_pre_b", "pre_b", "pro_b"])))
    for part in ("weights_part0.npz", "weights_part1.npz"):
        np.savez(run / part, **state)
    with pytest.raises(ModelArtifactError, match=re.escape(found)) as refused:
        read_torch_run(run)
    assert "layer.<keras layer>.<parameter>" in str(refused.value)
    with pytest.raises(ModelArtifactError, match=re.escape("no 'layer.' arrays")):
        import_torch_run(run, train_dir="x", val_dir="y", out_dir=tmp_path / "out", command="test")
    assert not (tmp_path / "out").exists()


def test_a_torch_save_file_renamed_npz_is_refused_as_read(tmp_path: Path) -> None:
    import pickle
    import zipfile

    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(run_summary(["benign", "early_pre_b", "pre_b", "pro_b"])))
    for part in ("weights_part0.npz", "weights_part1.npz"):
        with zipfile.ZipFile(run / part, "w") as archive:  # what torch.save writes
            archive.writestr("archive/data.pkl", pickle.dumps({"layer.conv1_conv.weight": [1.0]}))
            archive.writestr("archive/version", "3\n")
    with pytest.raises(ModelArtifactError, match=re.escape("archive/data.pkl")):
        read_torch_run(run)


def test_val_logits_of_another_shape_are_refused(
    tiny_dataset_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    val = load_image_folder(tiny_dataset_dirs[1])
    run = tmp_path / "run"
    run.mkdir()
    np.savez(run / "val_logits.npz", logits=np.zeros(len(val) * 4), files=[p.name for p in val.paths])
    with pytest.raises(ModelArtifactError, match=r"logits of shape \(48,\) for 12 images"):
        check_agreement(_tiny_model(), val, run)
