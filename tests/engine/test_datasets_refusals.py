"""Class folders that would silently leave images out, or mislead: refused with every file named.

Images in a sub-folder of a class, pictures in a format the reader cannot decode, files that cannot
be read, the same picture under two classes, and validation pictures that are also training pictures.
Generated images, no model: these run in about a second.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.engine import training
from inference.engine.datasets import (
    IMAGE_SUFFIXES,
    find_manifest,
    load_image_folder,
    read_image_file,
    refuse_val_images_in_train,
    scan_image_folder,
)
from inference.engine.errors import DatasetError

from .conftest import smear_image, write_class_folders


def _jpeg_bytes(seed: int) -> bytes:
    rgb = smear_image(np.random.default_rng(seed), 1)
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


# -- what a class folder may hold ---------------------------------------------------------------------


def test_hidden_system_and_note_files_are_ignored(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=2)
    (root / "Benign" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "Benign" / "._img00.png").write_bytes(b"\0\5\x16\7AppleDouble")
    (root / "Benign" / "Thumbs.db").write_bytes(b"junk")
    (root / "Benign" / "notes.txt").write_text("scanned on Tuesday")
    (root / "Benign" / ".thumbnails").mkdir()
    (root / "Benign" / ".thumbnails" / "img00.png").write_bytes(b"x")
    assert scan_image_folder(root).class_counts()["benign"] == 2


def test_jpeg_files_named_jfif_or_jpe_are_images(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=1)
    (root / "Early" / "camera.jfif").write_bytes(_jpeg_bytes(1))
    (root / "Early" / "export.JPE").write_bytes(_jpeg_bytes(2))
    assert {".jfif", ".jpe"} <= IMAGE_SUFFIXES
    assert scan_image_folder(root).class_counts()["early_pre_b"] == 3
    assert len(load_image_folder(root, size=32)) == 6


def test_images_in_a_sub_folder_of_a_class_are_refused_by_name(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=1)
    (root / "PRO" / "patient07" / "day2").mkdir(parents=True)
    (root / "PRO" / "patient07" / "day2" / "a.png").write_bytes(b"image")
    (root / "PRO" / "empty").mkdir()  # no images in it: nothing left out
    (root / "PRO" / "scripts").mkdir()
    (root / "PRO" / "scripts" / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"sub-folders would be left out.*: 'PRO/patient07'\.") as caught:
        scan_image_folder(root)
    assert "empty" not in str(caught.value)
    assert "scripts" not in str(caught.value)


def test_pictures_the_reader_cannot_decode_are_refused_with_the_accepted_suffixes(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=1)
    for name in ("x.webp", "y.GIF", "z.heic"):
        (root / "Early" / name).write_bytes(b"picture")
    with pytest.raises(
        DatasetError, match=r"'Early/x\.webp', 'Early/y\.GIF', 'Early/z\.heic'.*\.jpg"
    ) as caught:
        scan_image_folder(root)
    assert ".png" in str(caught.value)


def test_every_problem_of_every_class_folder_is_named_at_once(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=1)
    (root / "Benign" / "x.webp").write_bytes(b"picture")
    (root / "pre_b" / "slide3").mkdir()
    (root / "pre_b" / "slide3" / "a.jpg").write_bytes(b"image")
    with pytest.raises(DatasetError, match=r"(?s)'pre_b/slide3'.*'Benign/x\.webp'"):
        scan_image_folder(root)


# -- files that cannot be read ------------------------------------------------------------------------


def test_a_file_that_cannot_be_opened_is_a_dataset_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"Image '.*gone\.png' cannot be read"):
        read_image_file(tmp_path / "gone.png")


def test_a_link_whose_target_is_gone_is_named_not_skipped(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=1)
    os.symlink(tmp_path / "nowhere.png", root / "PRO" / "moved.png")
    with pytest.raises(DatasetError, match=r"Image '.*PRO/moved\.png' cannot be read"):
        load_image_folder(root, size=32)


def test_every_unreadable_image_is_named_in_one_error(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=7)
    for folder in ("Benign", "pre_b"):
        for image in sorted((root / folder).iterdir())[:6]:
            image.write_bytes(image.read_bytes()[:100])  # an interrupted copy
    with pytest.raises(DatasetError) as caught:
        load_image_folder(root, size=32)
    message = str(caught.value)
    assert message.startswith("12 of the 28 images in")
    assert message.count("cannot be used: The PNG file is truncated") == 10
    assert "Benign/img00.png" in message
    assert "pre_b/img03.png" in message
    assert message.rstrip().endswith("and 2 more.")


# -- the same picture twice ---------------------------------------------------------------------------


def test_the_same_picture_under_two_classes_is_refused(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=2)
    shutil.copy(root / "Benign" / "img00.png", root / "PRO" / "copy.png")
    os.symlink(root / "Benign" / "img01.png", root / "Early" / "linked.png")
    with pytest.raises(DatasetError, match=r"2 pictures are also under another class") as caught:
        load_image_folder(root, size=32)
    message = str(caught.value)
    assert "'Benign/img00.png' and 'PRO/copy.png'" in message
    assert "'Benign/img01.png' and 'Early/linked.png'" in message


def test_the_same_picture_twice_in_one_class_is_no_conflict(tmp_path: Path) -> None:
    root = write_class_folders(tmp_path / "d", per_class=2)
    shutil.copy(root / "Benign" / "img00.png", root / "Benign" / "again.png")
    assert len(load_image_folder(root, size=32)) == 9


def test_validation_pictures_that_are_training_pictures_are_refused(tmp_path: Path) -> None:
    train = write_class_folders(tmp_path / "train", per_class=3, seed=1)
    val = write_class_folders(tmp_path / "val", per_class=3, seed=2)
    refuse_val_images_in_train(train, val)  # a proper split passes
    shutil.copy(train / "Early" / "img02.png", val / "Early" / "renamed.png")
    with pytest.raises(DatasetError, match=r"shares 1 of its 13 images .*'Early/renamed\.png'"):
        refuse_val_images_in_train(train, val)
    shutil.rmtree(val)
    shutil.copytree(train, val)
    with pytest.raises(DatasetError, match=r"shares all 12 of its images with the training folder"):
        refuse_val_images_in_train(train, val)
    with pytest.raises(DatasetError, match=r"The validation folder .* is the training folder"):
        refuse_val_images_in_train(train, tmp_path / "." / "train")


def test_training_refuses_a_validation_folder_that_is_the_training_folder(
    tiny_dataset_dirs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from inference.engine.train_cli import main

    def no_training(**kwargs: object) -> None:
        raise AssertionError("training started with validation images that are training images")

    monkeypatch.setattr(training, "train_from_folders", no_training)
    train = str(tiny_dataset_dirs[0])
    out = str(tmp_path / "out")
    assert main(["--data", train, "--val", train, "--out", out, "--backbone", "tiny_cnn"]) == 2
    assert "is the training folder" in capsys.readouterr().err


# -- the manifest beside a split ----------------------------------------------------------------------


def test_the_manifest_is_found_however_the_folder_is_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = write_class_folders(tmp_path / "all4" / "train", per_class=1)
    manifest = tmp_path / "all4" / "manifest.csv"
    manifest.write_text("file,label\n")
    for cwd, typed in ((train, "."), (train, "./"), (train / "Benign", ".."), (tmp_path, "all4/train")):
        monkeypatch.chdir(cwd)
        found = find_manifest(typed)
        assert found is not None, typed
        assert found.samefile(manifest), typed
