"""`manage.py import_torch_classifier` refuses a registered model's folder as --out, as train_classifier
does: new weights there, even in the folder emptied first, would not be the ones its record names."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from inference.engine import torch_import
from inference.registry import register_model
from tests.inference.model_artifacts import make_artifact

pytestmark = pytest.mark.django_db  # the command looks up --out in the model registry


def _listing(folder: Path) -> list[str] | None:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else None


def _never_imported(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the run was read although --out is refused")


@pytest.mark.parametrize("folder_now", ["left_in_place", "emptied", "removed"])
def test_a_registered_models_folder_is_refused_as_out_before_the_run_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder_now: str
) -> None:
    out = tmp_path / "models" / "tiny"
    version, _ = register_model(make_artifact(out), activate=True)
    if folder_now != "left_in_place":
        shutil.rmtree(out)
    if folder_now == "emptied":
        out.mkdir()
    monkeypatch.setattr(torch_import, "import_torch_run", _never_imported)
    before = _listing(out)

    with pytest.raises(
        CommandError,
        match=rf"--out .*tiny is the folder of the registered model {re.escape(str(version))}.*another --out",
    ):
        call_command(
            "import_torch_classifier", str(tmp_path / "run"),
            "--data", str(tmp_path / "train"), "--val", str(tmp_path / "val"), "--out", str(out),
        )  # fmt: skip
    assert _listing(out) == before  # nothing written
