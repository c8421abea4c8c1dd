"""Weights trained in PyTorch on a GPU machine, brought into the Keras ResNet50 by layer name.

The converter and the importer need no PyTorch; the one test that runs the PyTorch copy of the
graph against Keras skips where PyTorch is not installed (`pip install -r requirements-gpu.txt`).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from inference.engine.artifact import assign_weights, read_model_info
from inference.engine.classifier import ClassifierConfig, build_classifier, head_outputs_model
from inference.engine.datasets import load_image_folder
from inference.engine.errors import ModelArtifactError
from inference.engine.torch_import import (
    RUN_RECORD,
    check_agreement,
    keras_arrays_from_torch,
    read_torch_run,
)

from .conftest import PROJECT_ROOT

# The command looks --out up in the model registry before it reads the run.
pytestmark = pytest.mark.django_db

_TORCH_NAME = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
_TORCH_NAME.update(moving_mean="running_mean", moving_variance="running_var")


def torch_state_of(model: Any) -> dict[str, np.ndarray]:
    """The state PyTorch would hold for these Keras weights: the converter's inverse, by hand."""
    state: dict[str, np.ndarray] = {}
    for variable in model.weights:
        layer, name = variable.path.split("/")
        value = np.asarray(variable.numpy())
        if name == "kernel":
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
        state[f"layer.{layer}.{_TORCH_NAME[name]}"] = value
        if name == "moving_mean":
            state[f"layer.{layer}.num_batches_tracked"] = np.array(7)
    state["mean_bgr"] = np.zeros((1, 3, 1, 1), np.float32)
    return state


@pytest.fixture(scope="module")
def resnet50() -> Any:
    return build_classifier(ClassifierConfig(backbone="resnet50"), None)


def test_every_keras_variable_comes_from_its_pytorch_twin(resnet50: Any) -> None:
    state = torch_state_of(resnet50)
    state["layer.conv1_conv.weight"] = np.arange(64 * 3 * 7 * 7, dtype=np.float32).reshape(64, 3, 7, 7)
    arrays = keras_arrays_from_torch(state)
    assert set(arrays) == {variable.path for variable in resnet50.weights}
    # PyTorch's (out, in, kh, kw) kernel element lands at Keras's (kh, kw, in, out).
    assert arrays["conv1_conv/kernel"][2, 5, 1, 9] == state["layer.conv1_conv.weight"][9, 1, 2, 5]
    dense = state["layer.features.weight"]
    assert np.array_equal(arrays["features/kernel"], dense.T)
    assert np.array_equal(
        arrays["conv4_block2_2_bn/moving_variance"], state["layer.conv4_block2_2_bn.running_var"]
    )


def test_unknown_parameters_and_odd_kernels_are_refused() -> None:
    with pytest.raises(
        ModelArtifactError, match=re.escape("Unexpected PyTorch parameter 'layer.conv1_conv.scale'")
    ):
        keras_arrays_from_torch({"layer.conv1_conv.scale": np.ones(3)})
    with pytest.raises(ModelArtifactError, match="3 dimensions"):
        keras_arrays_from_torch({"layer.conv1_conv.weight": np.ones((2, 2, 2))})


def test_assign_checks_everything_before_setting_anything(resnet50: Any) -> None:
    arrays = keras_arrays_from_torch(torch_state_of(resnet50))
    before = resnet50.get_layer("conv1_conv").kernel.numpy().copy()
    arrays["conv1_conv/kernel"] = arrays["conv1_conv/kernel"] + 1
    arrays["logits/bias"] = np.zeros(5, np.float32)
    with pytest.raises(ModelArtifactError, match="'logits/bias' has shape"):
        assign_weights(resnet50, arrays, source="test")
    assert np.array_equal(resnet50.get_layer("conv1_conv").kernel.numpy(), before)
    del arrays["logits/bias"]
    with pytest.raises(ModelArtifactError, match=r"missing: \['logits/bias'\]"):
        assign_weights(resnet50, arrays, source="test")


def write_run(run_dir: Path, model: Any, val_dir: Path, *, disagree: bool = False) -> None:
    """A run folder as tools/train_resnet50_gpu.py leaves it, for the weights of `model`; with
    `disagree`, its val logits are turned one class on, so every image's call differs."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state = torch_state_of(model)
    keys = sorted(state)
    np.savez(run_dir / "weights_part0.npz", **{k: state[k] for k in keys[: len(keys) // 2]})
    np.savez(run_dir / "weights_part1.npz", **{k: state[k] for k in keys[len(keys) // 2 :]})
    val = load_image_folder(val_dir)
    _, logits = head_outputs_model(model)([val.images.astype(np.float32)], training=False)
    logits = np.asarray(logits)
    if disagree:
        # A shift of a few units left a random network's saturated calls as they were (a flaky test).
        logits = np.roll(logits, 1, axis=1)
    np.savez(run_dir / "val_logits.npz", logits=logits, labels=val.labels, files=[p.name for p in val.paths])
    summary = run_summary(list(val.classes))
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")


def run_summary(classes: list[str]) -> dict[str, Any]:
    """summary.json as tools/train_resnet50_gpu.py writes it."""
    return {
        "weights_parts": ["weights_part0.npz", "weights_part1.npz"],
        "classes": classes,
        "best": {"candidate": "adamw", "epoch": 3, "accuracy": 0.5, "log_loss": 1.0},
        "args": {
            "data": "d/train",
            "val": "d/val",
            "minutes": 5.5,
            "max_epochs": 400,
            "batch_size": 64,
            "workers": 14,
            "seed": 42,
        },
        "recipes": {"adamw": {"lr": 0.001}},
        "warmup_epochs": 5,
        "schedule": "cosine",
        "ema_decay": 0.998,
        "precision": "bfloat16",
        "augment": {},
        "epochs_planned": 4,
        "epochs_run": 4,
        "seconds_per_epoch": 2.1,
        "train_seconds": 8.4,
        "torch": "2.11.0",
        "device": "NVIDIA H200",
    }


def test_a_run_that_keras_does_not_reproduce_is_refused(
    resnet50: Any, tiny_dataset_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    _, val_dir = tiny_dataset_dirs
    write_run(tmp_path / "ok", resnet50, val_dir)
    assert check_agreement(resnet50, load_image_folder(val_dir), tmp_path / "ok") < 1e-5
    write_run(tmp_path / "off", resnet50, val_dir, disagree=True)
    with pytest.raises(ModelArtifactError, match="does not reproduce the run's val predictions"):
        check_agreement(resnet50, load_image_folder(val_dir), tmp_path / "off")


def test_broken_run_folders_are_refused(
    resnet50: Any, tiny_dataset_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(ModelArtifactError, match=re.escape("holds no summary.json")):
        read_torch_run(tmp_path)
    write_run(tmp_path / "run", resnet50, tiny_dataset_dirs[1])
    summary = (tmp_path / "run" / "summary.json").read_text()
    (tmp_path / "run" / "weights_part1.npz").unlink()
    with pytest.raises(
        ModelArtifactError, match=re.escape("weights_part1.npz named in summary.json is missing")
    ):
        read_torch_run(tmp_path / "run")
    part0 = tmp_path / "run" / "weights_part0.npz"
    part0.write_bytes(part0.read_bytes()[:1000])
    (tmp_path / "run" / "weights_part1.npz").write_bytes(b"")
    with pytest.raises(ModelArtifactError, match=r"weights_part0.npz cannot be read \(truncated\?\)"):
        read_torch_run(tmp_path / "run")
    (tmp_path / "run" / "summary.json").write_text("{not json")
    with pytest.raises(ModelArtifactError, match="not valid JSON"):
        read_torch_run(tmp_path / "run")
    (tmp_path / "run" / "weights_part1.npz").unlink()
    only_part1 = {**json.loads(summary), "weights_parts": ["weights_part1.npz"]}
    (tmp_path / "run" / "summary.json").write_text(json.dumps(only_part1))
    with pytest.raises(CommandError, match="is missing"):
        call_command(
            "import_torch_classifier", str(tmp_path / "run"), train="x", val="y", out=str(tmp_path / "o")
        )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda summary: [summary], "RUN is not a JSON object"),
        (lambda summary: {k: v for k, v in summary.items() if k != "classes"}, "has no 'classes' entry"),
        (lambda summary: {**summary, "classes": "benign"}, "'classes' must be a list of class codes"),
        (lambda summary: {**summary, "args": {}}, "has no 'args.data' entry"),
        (
            lambda summary: {**summary, "args": {**summary["args"], "minutes": "5"}},
            "'args.minutes' must be a number, not '5'",
        ),
        (lambda summary: {**summary, "weights_parts": []}, "'weights_parts' must be a non-empty list"),
    ],
)
def test_a_malformed_summary_is_refused_before_anything_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Any, message: str
) -> None:
    def no_images(folder: Any) -> Any:
        raise AssertionError("images were loaded before summary.json was checked")

    monkeypatch.setattr("inference.engine.torch_import.load_image_folder", no_images)
    run = tmp_path / "RUN"
    run.mkdir()  # no weights parts either: the summary is checked first
    (run / "summary.json").write_text(json.dumps(change(run_summary(["benign", "early_pre_b"]))))
    with pytest.raises(ModelArtifactError, match=re.escape(message)):
        read_torch_run(run)
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("import_torch_classifier", str(run), train="x", val="y", out=str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_import_refuses_an_existing_artifact_folder_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "model.json").write_text("{}")
    with pytest.raises(CommandError, match="already exists and holds a model artifact"):
        call_command("import_torch_classifier", str(tmp_path / "no-run"), train="x", val="y", out=str(out))
    assert (out / "model.json").read_text() == "{}"


def test_import_command_writes_an_artifact_with_the_run_record(
    resnet50: Any, tiny_dataset_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    train_dir, val_dir = tiny_dataset_dirs
    write_run(tmp_path / "run", resnet50, val_dir)
    out = tmp_path / "model"
    call_command(
        "import_torch_classifier",
        str(tmp_path / "run"),
        train=str(train_dir),
        val=str(val_dir),
        out=str(out),
        no_trust=True,
        weights_dtype="float32",
    )
    info = read_model_info(out)
    assert info["backbone"]["name"] == "resnet50"
    assert info["backbone"]["initial_weights"] == "random initialisation"
    assert info["training_command"].startswith("python3 tools/train_resnet50_gpu.py --data d/train")
    assert "; then call_command('import_torch_classifier'" in info["training_command"]
    assert info["hyperparameters"]["trained_on"] == "NVIDIA H200, PyTorch 2.11.0"
    record = json.loads((out / RUN_RECORD).read_text())
    assert record["best"]["candidate"] == "adamw"
    assert record["args"]["out"] == "RUN_DIR"
    reloaded = build_classifier(ClassifierConfig(backbone="resnet50"), None)
    assign_weights(reloaded, dict(np.load(out / "weights.npz")), source="test")
    assert np.array_equal(
        reloaded.get_layer("conv5_block3_3_bn").moving_variance.numpy(),
        resnet50.get_layer("conv5_block3_3_bn").moving_variance.numpy(),
    )


def test_the_pytorch_copy_computes_what_keras_computes(resnet50: Any) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (requirements-gpu.txt)")
    sys.path.insert(0, str(PROJECT_ROOT / "tools"))
    from torch_resnet50 import KerasResNet50Classifier

    torch.manual_seed(0)
    twin = KerasResNet50Classifier()
    for module in twin.modules():  # statistics unlike the defaults, so BatchNorm is really checked
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    twin.eval()
    state = {key: value.numpy() for key, value in twin.state_dict().items()}
    assign_weights(resnet50, keras_arrays_from_torch(state), source="the PyTorch twin")
    images = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    _, logits = head_outputs_model(resnet50)([images], training=False)
    assert np.abs(np.asarray(logits) - expected).max() < 1e-4
