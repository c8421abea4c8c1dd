"""Tiny shared fixtures for the engine tests: generated smear-like folders and a tiny model artifact.

Nothing here needs Django, the network or the shared data set; tests that use the shared data
find it with `shared_data_path()` and skip with a reason when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
TINY_FOLDERS = ("Benign", "Early", "pre_b", "PRO")  # public names and our codes, any case


def shared_data_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with a reason when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data {'/'.join(parts)} is not present (../shared/data relative to the project)")
    return path


def smear_image(rng: np.random.Generator, class_index: int, size: int = 64) -> np.ndarray:
    """A pink field with a few red discs and one purple 'blast' whose size depends on the class."""
    image = np.full((size, size, 3), (232, 198, 204), np.uint8)
    for _ in range(4):
        centre = (int(rng.integers(8, size - 8)), int(rng.integers(8, size - 8)))
        cv2.circle(image, centre, 5, (214, 148, 160), -1)
    centre = (int(rng.integers(16, size - 16)), int(rng.integers(16, size - 16)))
    cv2.circle(image, centre, 5 + 3 * class_index, (95 + 25 * class_index, 40, 140), -1)
    noise = rng.normal(0, 3, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def write_class_folders(root: Path, per_class: int = 6, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for index, name in enumerate(TINY_FOLDERS):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rgb = smear_image(rng, index)
            cv2.imwrite(str(root / name / f"img{i:02d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture(scope="session")
def tiny_dataset_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train, val) folders of generated 64x64 PNG images, 6 and 3 per class."""
    root = tmp_path_factory.mktemp("tiny-data")
    return write_class_folders(root / "train", 6, seed=1), write_class_folders(root / "val", 3, seed=2)


@pytest.fixture(scope="session")
def tiny_artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny_cnn classifier saved as a model folder (same weights every run)."""
    import keras

    from inference.engine.artifact import save_artifact
    from inference.engine.classifier import ClassifierConfig, build_classifier

    keras.utils.set_random_seed(3)
    config = ClassifierConfig(backbone="tiny_cnn", head_units=16)
    folder = tmp_path_factory.mktemp("tiny-model") / "tiny-model"
    save_artifact(
        folder, build_classifier(config), info={"name": "tiny-model", "architecture": config.to_dict()}
    )
    return folder
