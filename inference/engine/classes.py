"""The diagnostic classes, in the fixed order of the classifier's output units."""

from __future__ import annotations

from .errors import DatasetError

# Codes are stable identifiers (stored in the database, model.json and the API); labels are for people.
CLASS_CODES: tuple[str, ...] = ("benign", "early_pre_b", "pre_b", "pro_b")
CLASS_LABELS: dict[str, str] = {
    "benign": "Benign",
    "early_pre_b": "Early Pre-B ALL",
    "pre_b": "Pre-B ALL",
    "pro_b": "Pro-B ALL",
}
# Folder names of the public dataset (Aria et al. 2021) next to our own codes; matched case-insensitively.
_FOLDER_ALIASES: dict[str, str] = {
    "benign": "benign",
    "early": "early_pre_b",
    "pre": "pre_b",
    "pro": "pro_b",
    **{code: code for code in CLASS_CODES},
}


def class_code_for_folder(name: str) -> str:
    """Map a dataset folder name (`Benign`, `Early`, `pre_b`, ...) to a class code."""
    try:
        return _FOLDER_ALIASES[name.strip().lower()]
    except KeyError:
        accepted = ", ".join(sorted(_FOLDER_ALIASES))
        raise DatasetError(f"Folder {name!r} is not a known class; expected one of: {accepted}.") from None
