"""Image-folder data sets: one sub-folder per class, read once, preprocessed once, kept in memory.

Folder names are the public data set's (`Benign`, `Early`, `Pre`, `Pro`) or our class codes,
matched case-insensitively. Anything else is refused with a `DatasetError` that says what is wrong,
since a silently dropped class would train a model that can never predict it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classes import CLASS_CODES, class_code_for_folder
from .errors import DatasetError, ImageError
from .imageio import read_image
from .preprocess import MODEL_INPUT_SIZE, prepare_for_model

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})


@dataclass(frozen=True)
class ImageFolder:
    root: Path
    paths: tuple[Path, ...]
    labels: np.ndarray  # int64 class indices into `classes`
    classes: tuple[str, ...]
    folder_names: dict[str, str]  # class code -> folder name on disk

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {code: int(counts[index]) for index, code in enumerate(self.classes)}


@dataclass(frozen=True)
class ArrayDataset:
    images: np.ndarray  # (N, size, size, 3) uint8, CLAHE + resize already applied
    labels: np.ndarray  # (N,) int64
    paths: tuple[Path, ...]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def scan_image_folder(
    root: str | Path, *, classes: Sequence[str] = CLASS_CODES, require_all: bool = True
) -> ImageFolder:
    """List the images of a class-per-folder data set, validating the layout."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"Data set folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise DatasetError(f"Data set path {str(root)!r} is not a folder.")
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subfolders:
        raise DatasetError(
            f"Data set folder {str(root)!r} has no class sub-folders; expected one per class "
            f"(Benign, Early, Pre, Pro or {', '.join(classes)})."
        )
    folder_for_code: dict[str, Path] = {}
    for folder in subfolders:
        code = class_code_for_folder(folder.name)
        if code in folder_for_code:
            raise DatasetError(
                f"Folders {folder_for_code[code].name!r} and {folder.name!r} both mean class {code!r}."
            )
        if code not in classes:
            raise DatasetError(f"Folder {folder.name!r} is class {code!r}, which this model does not have.")
        folder_for_code[code] = folder
    missing = [code for code in classes if code not in folder_for_code]
    if require_all and missing:
        raise DatasetError(
            f"Data set folder {str(root)!r} has no sub-folder for class(es): {', '.join(missing)}."
        )
    paths: list[Path] = []
    labels: list[int] = []
    for index, code in enumerate(classes):
        if code not in folder_for_code:
            continue
        files = sorted(
            p
            for p in folder_for_code[code].iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise DatasetError(f"Class folder {folder_for_code[code].name!r} has no images.")
        paths.extend(files)
        labels.extend([index] * len(files))
    return ImageFolder(
        root=root,
        paths=tuple(paths),
        labels=np.asarray(labels, dtype=np.int64),
        classes=tuple(classes),
        folder_names={code: folder.name for code, folder in folder_for_code.items()},
    )


def read_image_file(path: str | Path) -> np.ndarray:
    """`read_image` of a file, with the file named in the message of any `ImageError` it raises (the
    same subclass, so callers can still tell a truncated file from an unreadable one)."""
    try:
        return read_image(path)
    except ImageError as exc:
        raise naming_the_file(exc, path) from exc


def naming_the_file(exc: ImageError, path: str | Path) -> ImageError:
    """`exc` (its subclass kept) with a message that names the image file it is about."""
    return type(exc)(_cannot_use(path, exc))


def _cannot_use(path: str | Path, exc: Exception) -> str:
    return f"Image {str(path)!r} cannot be used: {exc}"


def load_image_folder(
    root: str | Path,
    *,
    classes: Sequence[str] = CLASS_CODES,
    size: int = MODEL_INPUT_SIZE,
    require_all: bool = True,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    every: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ArrayDataset:
    """Read and preprocess (CLAHE + resize) every image once; about 150 KB per 224x224 image.

    `transform` is applied to the raw RGB image before preprocessing (e.g. a hue shift, to test
    robustness the way a differently stained slide would arrive); `every` keeps every n-th image
    of each class (a quick, stratified slice).
    """
    folder = scan_image_folder(root, classes=classes, require_all=require_all)
    keep = [i for c in range(len(folder.classes)) for i in np.flatnonzero(folder.labels == c)[::every]]
    keep.sort()
    paths = tuple(folder.paths[i] for i in keep)
    labels = folder.labels[keep]
    images = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for index, path in enumerate(paths):
        try:
            raw = read_image(path)
            images[index] = prepare_for_model(transform(raw) if transform else raw, size)
        except ImageError as exc:
            raise DatasetError(_cannot_use(path, exc)) from exc
        if progress is not None:
            progress(index + 1, len(paths))
    return ArrayDataset(images=images, labels=labels, paths=paths, classes=folder.classes)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def images_sha256(paths: Sequence[str | Path], root: str | Path) -> str:
    """The sha256 that identifies exactly these image files: of the sorted lines
    `relative/path sha256-of-the-file` (path relative to `root`, `/` separators, each line ending in
    a newline). Unlike the sha256 of a manifest, it changes with any image added, left out or edited."""
    lines = sorted(f"{Path(os.path.relpath(path, root)).as_posix()} {sha256_file(path)}\n" for path in paths)
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def find_manifest(data_dir: str | Path) -> Path | None:
    """The `manifest.csv` of a split folder (`all4/train` -> `all4/manifest.csv`), if there is one."""
    data_dir = Path(data_dir)
    for candidate in (data_dir / "manifest.csv", data_dir.parent / "manifest.csv"):
        if candidate.is_file():
            return candidate
    return None
