"""Evaluating a model folder on a labelled image folder, with trust fitted, perturbations and plots.

Uses tiny networks and generated images, so it runs in seconds and needs no shared data. Trust is
fitted on one whose weights read the generated fields' classes (`blast_colour_model.py`): a random
network is no better than chance, and the trust fit refuses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from inference.engine.classes import CLASS_CODES
from inference.engine.errors import DatasetError
from inference.engine.evaluation import (
    evaluate_classifier,
    iter_prepared_views,
    list_labelled_images,
    main,
    screen_images,
)
from inference.engine.perturbation import Perturbation
from inference.engine.preprocess import prepare_for_model
from tests.engine.blast_colour_model import blast_colour_artifact
from tests.engine.synthetic import touching_field

FOLDERS = ("Benign", "early", "Pre", "pro_b")  # public names and codes, any case


def make_tiny_artifact(folder: Path) -> Path:
    """A randomly initialised three-convolution classifier saved as a model folder."""
    import keras

    from inference.engine.artifact import save_artifact
    from inference.engine.classifier import ClassifierConfig, build_classifier

    keras.utils.set_random_seed(0)  # a random network, but the same one every run
    config = ClassifierConfig(backbone="tiny_cnn", head_units=16)
    save_artifact(
        folder, build_classifier(config), info={"name": "tiny-test", "architecture": config.to_dict()}
    )
    return folder


def smear_like(rng: np.random.Generator, tint: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """A pinkish field with a few purple discs (RGB uint8), tinted per class."""
    h, w = size
    img = np.full((h, w, 3), (235, 200, 205), np.uint8)
    for _ in range(int(rng.integers(4, 8))):
        centre = (int(rng.integers(10, w - 10)), int(rng.integers(10, h - 10)))
        cv2.circle(img, centre, int(rng.integers(6, 10)), (215, 150, 160), -1)
    for _ in range(int(rng.integers(1, 3))):
        centre = (int(rng.integers(15, w - 15)), int(rng.integers(15, h - 15)))
        cv2.circle(img, centre, int(rng.integers(8, 13)), (110 + tint, 40, 140), -1)
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def write_dataset(root: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for index, name in enumerate(FOLDERS):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            rgb = smear_like(rng, tint=30 * index)
            cv2.imwrite(str(root / name / f"img{i:02d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture(scope="module")
def fitted_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny model folder that calls the generated fields right, with trust fitted on generated
    train/val folders."""
    from inference.engine.artifact import update_model_info
    from inference.engine.predictor import Predictor
    from inference.engine.trust import fit_trust

    root = tmp_path_factory.mktemp("eval")
    model_dir = blast_colour_artifact(root / "model")
    train = write_dataset(root / "train", per_class=12, seed=1)
    val = write_dataset(root / "val", per_class=8, seed=2)
    state = fit_trust(Predictor.from_artifact(model_dir), train, val, folder=model_dir, batch_size=16)
    update_model_info(model_dir, trust=state)
    return {"model": model_dir, "train": train, "val": val, "root": root}


def test_folders_by_public_name_or_code(tmp_path: Path) -> None:
    items = list_labelled_images(write_dataset(tmp_path / "d", per_class=2, seed=0))
    assert [label for _, label in items] == [0, 0, 1, 1, 2, 2, 3, 3]
    (tmp_path / "d" / "Blasts").mkdir()
    with pytest.raises(DatasetError, match="Blasts"):
        list_labelled_images(tmp_path / "d")


def test_fit_trust_state_is_json_and_flags_few_val_images(fitted_model: dict[str, Path]) -> None:
    info = json.loads((fitted_model["model"] / "model.json").read_text())
    trust = info["trust"]
    assert trust["temperature"] > 0
    assert trust["val_flagged_rate"] <= 0.02
    assert trust["n_train"] == 48
    assert trust["n_val"] == 32


def test_report_has_every_figure(fitted_model: dict[str, Path], tmp_path: Path) -> None:
    report = evaluate_classifier(
        fitted_model["model"], fitted_model["val"], show_progress=False, plots_dir=tmp_path
    )
    for key in ("n", "accuracy", "weighted_f1", "macro_f1", "cohen_kappa", "ece", "flagged_rate"):
        assert isinstance(report[key], float | int), key
    assert report["n"] == 32
    assert report["labels"] == list(CLASS_CODES)
    assert np.array(report["confusion_matrix"]).sum() == 32
    assert set(report["per_class"]) == set(CLASS_CODES)
    assert set(report["per_class"]["benign"]) == {"precision", "recall", "f1", "auc", "support"}
    row = report["per_image"][0]
    assert row["file"] == "Benign/img00.png"
    assert row["true"] == "benign"
    assert set(row) >= {"file", "true", "pred", "confidence", "ood_score", "flagged"}
    assert report["flagged_rate"] <= 0.05  # same distribution as val
    json.dumps(report)
    for name in report["plots"].values():
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_strong_hue_shift_is_flagged_more(fitted_model: dict[str, Path]) -> None:
    plain = evaluate_classifier(fitted_model["model"], fitted_model["val"], show_progress=False)
    shifted = evaluate_classifier(fitted_model["model"], fitted_model["val"], "hue=150", show_progress=False)
    assert shifted["perturbation"] == "hue=150"
    assert shifted["flagged_rate"] > plain["flagged_rate"]


def test_unlabelled_screen_and_cli(fitted_model: dict[str, Path], capsys: Any) -> None:
    images = fitted_model["val"] / "Benign"
    report = screen_images(fitted_model["model"], images, show_progress=False)
    assert report["n"] == 8
    assert len(report["per_image"]) == 8
    code = main(
        [
            "--model",
            str(fitted_model["model"]),
            "--data",
            str(fitted_model["val"]),
            "--perturb",
            "brightness=0.8",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["perturbation"] == "brightness=0.8"
    assert "per_image" not in printed
    assert main(["--model", str(fitted_model["model"]), "--data", str(fitted_model["root"] / "nowhere")]) == 2


def test_a_field_too_large_to_classify_whole_is_evaluated_in_views(tmp_path: Path) -> None:
    field = touching_field(radius=8).rgb  # 144 x 208: classified whole
    path = tmp_path / "field.png"
    cv2.imwrite(str(path), cv2.cvtColor(field, cv2.COLOR_RGB2BGR))
    (tiled,) = iter_prepared_views([path], Perturbation(tile=2))
    assert tiled.shape == (4, 224, 224, 3)  # 288 x 416 at red-cell radius 8: four views
    (whole,) = iter_prepared_views([path])
    assert whole.shape == (1, 224, 224, 3)
    assert np.array_equal(whole[0], prepare_for_model(field))


def test_evaluation_pools_the_views_as_the_pipeline_does(
    fitted_model: dict[str, Path], tmp_path: Path
) -> None:
    from inference.engine.pipeline import Pipeline

    folder = tmp_path / "fields"
    folder.mkdir()
    field = touching_field(radius=8).rgb
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), cv2.cvtColor(field, cv2.COLOR_RGB2BGR))
    report = screen_images(fitted_model["model"], folder, "tile=2", show_progress=False)
    assert [row["file"] for row in report["per_image"]] == ["a.png", "b.png"]
    call = Pipeline(fitted_model["model"]).run(Perturbation(tile=2).apply(field)).classification
    assert report["per_image"][1]["confidence"] == pytest.approx(call.assessment.confidence, abs=1e-5)
    assert report["per_image"][1]["reasons"] == list(call.assessment.reasons)
