"""`bench/pipeline.py`'s arguments and image folder: refused before any model is loaded when they
cannot give a benchmark (no more IndexError, silently dropped images or silently generated fields),
and the folder listed as the engine lists a data set (no hidden or system files)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from tests.script_module import load_script

BENCH = Path(__file__).resolve().parents[1] / "bench" / "pipeline.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_script(BENCH, "bench_pipeline")


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((32, 32, 3), 200, np.uint8))
    return path


@pytest.fixture
def class_folders(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for name in ("Benign", "Pre"):
        for index in range(3):
            _image(root / name / f"{name}-{index}.png")
    return root


@pytest.mark.parametrize("n", ["0", "-3", "three"])
def test_n_must_be_a_positive_whole_number(
    bench: ModuleType, class_folders: Path, capsys: pytest.CaptureFixture[str], n: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        bench.main(["--images", str(class_folders), "--n", n])
    assert refused.value.code == 2
    assert "--n" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("layout", "message"),
    [("missing", "does not exist"), ("flat", "no class sub-folders"), ("empty_class", "has no images")],
)
def test_an_images_folder_that_gives_no_benchmark_is_refused(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str, message: str
) -> None:
    folder = tmp_path / layout
    if layout == "flat":
        _image(folder / "WBC-Benign-001.jpg")
    elif layout == "empty_class":
        (folder / "Benign").mkdir(parents=True)
    with pytest.raises(SystemExit) as refused:
        bench.main(["--images", str(folder), "--n", "3"])
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert f"--images {folder}" in error
    assert message in error  # the engine's reason (`scan_image_folder`)


def test_hidden_and_system_files_are_not_benchmarked(bench: ModuleType, class_folders: Path) -> None:
    (class_folders / "Benign" / "._Benign-0.png").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    (class_folders / "Benign" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    picked = bench.find_images(class_folders, 10)
    assert [p.name for p in picked] == [f"{name}-{i}.png" for i in range(3) for name in ("Benign", "Pre")]
    assert [p.name for p in bench.find_images(class_folders, 3)] == [
        "Benign-0.png",
        "Pre-0.png",
        "Benign-1.png",
    ]


def test_generated_fields_only_without_images_and_without_the_default_folder(
    bench: ModuleType, class_folders: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "DEFAULT_IMAGES", class_folders)
    paths, source = bench.choose_images(None, 2, tmp_path)
    assert [p.parent for p in paths] == [class_folders / "Benign", class_folders / "Pre"]
    assert source["images"] == "images"

    monkeypatch.setattr(bench, "DEFAULT_IMAGES", tmp_path / "absent")
    paths, source = bench.choose_images(None, 2, tmp_path)
    assert len(paths) == 2
    assert all(p.is_file() for p in paths)
    assert source["images"] == "generated"
    assert "no --images" in source["images_note"]


def test_without_model_the_workers_default_model_is_timed(bench: ModuleType, tmp_path: Path) -> None:
    # A bare `python bench/pipeline.py` had timed the first folder under models/ (the MobileNet).
    from django.conf import settings

    default = Path(settings.DEFAULT_MODEL_DIR)
    if not (default / "model.json").is_file():
        pytest.skip(f"the default model folder {default.name} is not present")
    folder, why = bench.choose_model(None, tmp_path)
    assert folder.resolve() == default.resolve()
    assert "MARROWFIND_MODEL_DIR" in why


def test_the_model_is_chosen_as_the_workers_choose_it_and_the_reason_given(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = tmp_path / "models" / "marrowfind-resnet50-v1"
    product.mkdir(parents=True)
    (product / "model.json").write_text("{}")
    monkeypatch.setattr(bench, "PRODUCT_MODEL", product)
    monkeypatch.setattr(bench, "tiny_random_model", lambda tmp: tmp / "tiny-model")

    assert bench.choose_model(tmp_path / "given", tmp_path) == (tmp_path / "given", "--model")
    monkeypatch.setenv("MARROWFIND_MODEL_DIR", f" {tmp_path / 'configured'} ")
    folder, why = bench.choose_model(None, tmp_path)
    assert (folder, why.startswith("no --model: MARROWFIND_MODEL_DIR")) == (tmp_path / "configured", True)
    monkeypatch.setenv("MARROWFIND_MODEL_DIR", "")  # empty counts as unset, as in the settings
    folder, why = bench.choose_model(None, tmp_path)
    assert folder == product
    assert "default" in why
    (product / "model.json").unlink()
    folder, why = bench.choose_model(None, tmp_path)
    assert folder == tmp_path / "tiny-model"
    assert "tiny random network" in why


@pytest.mark.parametrize("how", ["--model", "MARROWFIND_MODEL_DIR"])
def test_a_model_folder_that_does_not_exist_is_refused(
    bench: ModuleType,
    class_folders: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    absent = tmp_path / "no-such-model"
    argv = ["--images", str(class_folders), "--n", "2", "--skip-naive"]
    if how == "--model":
        argv += ["--model", str(absent)]
    else:
        monkeypatch.setenv("MARROWFIND_MODEL_DIR", str(absent))
    with pytest.raises(SystemExit) as refused:
        bench.main(argv)
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert f"model {absent}" in error
    assert "does not exist" in error
