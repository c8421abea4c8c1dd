"""Image-folder data sets: one sub-folder per class, read once, preprocessed once, kept in memory.

Folder names are the public data set's (`Benign`, `Early`, `Pre`, `Pro`) or our class codes,
matched case-insensitively. Anything else is refused with a `DatasetError` that says what is wrong,
since a silently dropped class would train a model that can never predict it. For the same reason
no picture in a class folder is left out silently: images in a sub-folder, pictures in a format the
reader does not decode, and files that cannot be read are refused, all of them named in one message,
and so is the same picture under two classes. Hidden and system files and non-image files (notes)
are ignored.
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

# `read_image` reads by content (JPEG, PNG, TIFF, BMP); a camera's `.jfif` or `.jpe` is a JPEG file.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".bmp"})
# Pictures the reader does not decode: refused by name rather than skipped, since whoever put them in
# a class folder expects them to count.
UNREADABLE_PICTURE_SUFFIXES = frozenset(
    {".webp", ".gif", ".heic", ".heif", ".avif", ".jp2", ".j2k", ".jxl", ".svg", ".psd", ".dng", ".raw"}
)
# How many files a refusal lists by name before giving the count of the rest.
MAX_NAMED = 10


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
    listings = {code: _list_folder(folder) for code, folder in folder_for_code.items()}
    _refuse_left_out_pictures(list(listings.values()), root)
    paths: list[Path] = []
    labels: list[int] = []
    for index, code in enumerate(classes):
        if code not in listings:
            continue
        files = listings[code].images
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


@dataclass(frozen=True)
class _FolderListing:
    """What one folder of images holds: the images to use, and the pictures it would leave out."""

    images: tuple[Path, ...]
    picture_subfolders: tuple[Path, ...]  # sub-folders with pictures somewhere inside
    undecodable: tuple[Path, ...]  # pictures in a format `read_image` does not decode


def _list_folder(folder: Path) -> _FolderListing:
    """The entries of `folder`, sorted by name; hidden entries (`.DS_Store`, macOS's `._` copies) and
    files that are no pictures (`notes.txt`, `Thumbs.db`) are ignored."""
    images: list[Path] = []
    subfolders: list[Path] = []
    undecodable: list[Path] = []
    for entry in sorted(folder.iterdir()):
        suffix = entry.suffix.lower()
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if _holds_pictures(entry):
                subfolders.append(entry)
        elif suffix in IMAGE_SUFFIXES and (entry.is_file() or not entry.exists()):
            images.append(entry)  # also a link whose target is gone, so that reading it names it
        elif suffix in UNREADABLE_PICTURE_SUFFIXES:
            undecodable.append(entry)
    return _FolderListing(tuple(images), tuple(subfolders), tuple(undecodable))


def _holds_pictures(folder: Path) -> bool:
    for _, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        if any(_is_picture_name(name) for name in files):
            return True
    return False


def _is_picture_name(name: str) -> bool:
    suffix = Path(name).suffix.lower()
    return not name.startswith(".") and (suffix in IMAGE_SUFFIXES or suffix in UNREADABLE_PICTURE_SUFFIXES)


def _refuse_left_out_pictures(listings: Sequence[_FolderListing], root: Path) -> None:
    """Refuse, naming them all, pictures that `listings` would leave out: those in sub-folders and
    those in a format the reader does not decode. A user expects every picture they put there to count."""
    problems = []
    subfolders = [path for listing in listings for path in listing.picture_subfolders]
    if subfolders:
        problems.append(
            "Images in sub-folders would be left out, as only the images directly in a folder are read: "
            f"{_named(subfolders, root)}. Move the images up, or the sub-folders out of the data set."
        )
    undecodable = [path for listing in listings for path in listing.undecodable]
    if undecodable:
        problems.append(
            f"Pictures in a format that cannot be read: {_named(undecodable, root)}. Accepted image files "
            f"end in {', '.join(sorted(IMAGE_SUFFIXES))}; convert these (e.g. to PNG), or move them out "
            "of the data set."
        )
    if problems:
        raise DatasetError(f"In {str(root)!r}: " + "\n".join(problems))


def list_image_files(folder: str | Path) -> list[Path]:
    """The images directly inside `folder` (no class sub-folders), refusing pictures it would leave out."""
    listing = _list_folder(Path(folder))
    _refuse_left_out_pictures([listing], Path(folder))
    return list(listing.images)


def _named(paths: Sequence[Path], root: Path) -> str:
    """Up to `MAX_NAMED` paths, quoted and relative to `root`, then how many more there are."""
    shown = ", ".join(repr(_relative(path, root)) for path in paths[:MAX_NAMED])
    rest = len(paths) - MAX_NAMED
    return shown + (f" and {rest} more" if rest > 0 else "")


def _relative(path: Path, root: str | Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def read_image_file(path: str | Path) -> np.ndarray:
    """`read_image` of a file, with the file named in the message of any `ImageError` it raises (the
    same subclass, so callers can still tell a truncated file from an unreadable one); a file that
    cannot be opened (gone, no permission) is a `DatasetError` naming it."""
    try:
        return read_image(path)
    except ImageError as exc:
        raise naming_the_file(exc, path) from exc
    except OSError as exc:
        raise DatasetError(_cannot_read(path, exc)) from exc


def naming_the_file(exc: ImageError, path: str | Path) -> ImageError:
    """`exc` (its subclass kept) with a message that names the image file it is about."""
    return type(exc)(_cannot_use(path, exc))


def _cannot_use(path: str | Path, exc: Exception) -> str:
    return f"Image {str(path)!r} cannot be used: {exc}"


def _cannot_read(path: str | Path, exc: OSError) -> str:
    return f"Image {str(path)!r} cannot be read: {exc.strerror or exc}."


def read_every_image(
    paths: Sequence[Path],
    root: str | Path,
    *,
    decode: bool = True,
    use: Callable[[int, np.ndarray], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Read every file once, decode it (unless `decode` is False) and pass the RGB image to
    `use(index, rgb)`; the sha256 of each file's bytes. Every file that cannot be read or used is
    collected, and all are named in one `DatasetError`, so that they can be fixed in one go: figures on
    the others would not be those of the folder, and a user would learn of the next bad file only on
    the next run."""
    digests: list[str] = []
    problems: list[str] = []
    for index, path in enumerate(paths):
        try:
            data = Path(path).read_bytes()
            digests.append(hashlib.sha256(data).hexdigest())
            if decode:
                rgb = read_image(data)
                if use is not None:
                    use(index, rgb)
        except ImageError as exc:
            problems.append(_cannot_use(path, exc))
        except OSError as exc:
            problems.append(_cannot_read(path, exc))
        if progress is not None:
            progress(index + 1, len(paths))
    if problems:
        rest = len(problems) - MAX_NAMED
        raise DatasetError(
            f"{len(problems)} of the {len(paths)} images in {str(root)!r} cannot be used; fix or remove "
            "them, and run again:\n"
            + "\n".join(f"  {problem}" for problem in problems[:MAX_NAMED])
            + (f"\n  and {rest} more." if rest > 0 else "")
        )
    return digests


def refuse_conflicting_labels(
    paths: Sequence[Path], labels: np.ndarray, digests: Sequence[str], root: str | Path
) -> None:
    """Refuse the same picture (the same bytes: a copy, or a link) under two classes: its label is in
    conflict, and a model would be trained, or scored, against both."""
    first_seen: dict[str, int] = {}
    pairs: list[str] = []
    for index, digest in enumerate(digests):
        first = first_seen.setdefault(digest, index)
        if labels[first] != labels[index]:
            pairs.append(f"{_relative(paths[first], root)!r} and {_relative(paths[index], root)!r}")
    if pairs:
        rest = len(pairs) - MAX_NAMED
        pictures = "1 picture is" if len(pairs) == 1 else f"{len(pairs)} pictures are"
        raise DatasetError(
            f"In {str(root)!r}, {pictures} also under another class (the same bytes, copied or linked), "
            f"so their labels are in conflict: {'; '.join(pairs[:MAX_NAMED])}"
            + (f"; and {rest} more" if rest > 0 else "")
            + ". Keep each picture in its one class folder."
        )


def refuse_val_images_in_train(train_dir: str | Path, val_dir: str | Path) -> None:
    """Refuse validation images that are also training images (the same bytes, whatever their
    names): a model selected and calibrated on images it was trained on looks better than it is."""
    if Path(train_dir).resolve() == Path(val_dir).resolve():
        raise DatasetError(
            f"The validation folder {str(val_dir)!r} is the training folder: a model selected and "
            "calibrated on images it was trained on looks better than it is. Give a validation folder "
            "of other images (split by patient or slide)."
        )
    train = scan_image_folder(train_dir)
    val = scan_image_folder(val_dir, require_all=False)
    # Only the sha256 of the bytes: the images are decoded when training loads them.
    in_train = dict(zip(read_every_image(train.paths, train.root, decode=False), train.paths, strict=True))
    val_digests = read_every_image(val.paths, val.root, decode=False)
    shared = [(path, in_train[d]) for path, d in zip(val.paths, val_digests, strict=True) if d in in_train]
    if shared:
        share = (
            f"all {len(shared)} of its"
            if len(shared) == len(val.paths)
            else f"{len(shared)} of its {len(val.paths)}"
        )
        rest = len(shared) - MAX_NAMED
        named = ", ".join(
            f"{_relative(path, val.root)!r} (training: {_relative(twin, train.root)!r})"
            for path, twin in shared[:MAX_NAMED]
        )
        raise DatasetError(
            f"The validation folder {str(val_dir)!r} shares {share} images with the training folder "
            f"{str(train_dir)!r} (the same bytes, whatever their names): {named}"
            + (f" and {rest} more" if rest > 0 else "")
            + ". A model selected and calibrated on images it was trained on looks better than it is: "
            "split the images so that none is in both folders (by patient or slide), and run again."
        )


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
    of each class (a quick, stratified slice). Images that cannot be used are all named in one
    `DatasetError`, and so is the same picture under two classes.
    """
    folder = scan_image_folder(root, classes=classes, require_all=require_all)
    keep = [i for c in range(len(folder.classes)) for i in np.flatnonzero(folder.labels == c)[::every]]
    keep.sort()
    paths = tuple(folder.paths[i] for i in keep)
    labels = folder.labels[keep]
    images = np.empty((len(paths), size, size, 3), dtype=np.uint8)

    def prepare(index: int, raw: np.ndarray) -> None:
        images[index] = prepare_for_model(transform(raw) if transform else raw, size)

    digests = read_every_image(paths, folder.root, use=prepare, progress=progress)
    refuse_conflicting_labels(paths, labels, digests, folder.root)
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
    """The `manifest.csv` of a split folder (`all4/train` -> `all4/manifest.csv`), if there is one.

    The folder is resolved first: typed as `.` inside the split, its parent would be `.` again."""
    data_dir = Path(data_dir).resolve()
    for candidate in (data_dir / "manifest.csv", data_dir.parent / "manifest.csv"):
        if candidate.is_file():
            return candidate
    return None
