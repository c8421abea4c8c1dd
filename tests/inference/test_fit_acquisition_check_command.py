"""`manage.py fit_acquisition_check`: the focus and noise check added to an artifact made without it,
leaving its other checks as they were, and what it then refers; a registered folder's record follows."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from cases.models import AuditEvent
from inference.engine.artifact import read_model_info
from inference.engine.evaluation import evaluate_classifier
from inference.engine.perturbation import Perturbation
from inference.engine.trust import REASON_ACQUISITION
from inference.models import ModelVersion
from inference.registry import activate_model, model_json_sha256, register_model
from tests.engine.test_evaluation import fitted_model  # noqa: F401 (fixture)


def _older_copy(model: Path, tmp_path: Path) -> Path:
    """The fitted model as an artifact made before the check: no `acquisition` in its trust state, nor
    the accuracy of its accepted calls."""
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    info = json.loads((copy / "model.json").read_text())
    del info["trust"]["acquisition"]
    del info["trust"]["val_accepted_accuracy"]  # recorded since the trust fit checks itself
    (copy / "model.json").write_text(json.dumps(info))
    return copy


def _fit(model: Path, data: dict[str, Path], *options: str, stdout: StringIO | None = None) -> None:
    folders = ["--data", str(data["train"]), "--val", str(data["val"])]
    call_command("fit_acquisition_check", str(model), *folders, *options, stdout=stdout or StringIO())


def plain_accepted_accuracy(model: Path, val: Path) -> float:
    """The accuracy of the val calls the model's checks accept, as evaluation measures it."""
    rows = [
        row for row in evaluate_classifier(model, val, show_progress=False)["per_image"] if not row["flagged"]
    ]
    return sum(row["true"] == row["pred"] for row in rows) / len(rows)


def _referred_for_focus(report: dict[str, Any]) -> int:
    return sum(REASON_ACQUISITION in row["reasons"] for row in report["per_image"])


@pytest.mark.django_db
def test_the_check_is_added_and_refers_blurred_fields(
    fitted_model: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    model = _older_copy(fitted_model["model"], tmp_path)
    before = json.loads((model / "model.json").read_text())["trust"]
    blurred = Perturbation(blur_sigma=3.0)
    assert (
        _referred_for_focus(evaluate_classifier(model, fitted_model["val"], blurred, show_progress=False))
        == 0
    )
    out = StringIO()
    _fit(model, fitted_model, "--json", stdout=out)
    printed = json.loads(out.getvalue())
    after = json.loads((model / "model.json").read_text())["trust"]
    assert after["acquisition"]["threshold"] == pytest.approx(printed["acquisition_threshold"])
    for key in ("temperature", "confidence_threshold", "ood_threshold", "stain", "arrays"):
        assert after[key] == before[key], key
    assert printed["val_flagged_rate_before"] <= printed["val_flagged_rate"] <= 0.02
    assert after["method"].endswith("and on its sharpness and noise (focus and noise check)")
    assert after["val_accepted_accuracy"] == pytest.approx(
        plain_accepted_accuracy(model, fitted_model["val"])
    )
    assert "Focus and noise check" in (model / "MODEL_CARD.md").read_text()
    plain = evaluate_classifier(model, fitted_model["val"], show_progress=False)
    assert plain["flagged_rate"] == pytest.approx(printed["val_flagged_rate"])
    report = evaluate_classifier(model, fitted_model["val"], blurred, show_progress=False)
    assert _referred_for_focus(report) == report["n"]
    assert printed["registered_version"] is None
    assert not ModelVersion.objects.exists()  # a folder that is not registered is not registered by it


@pytest.mark.django_db
def test_a_registered_folder_has_its_record_brought_up_to_date_and_audited(
    fitted_model: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    model = _older_copy(fitted_model["model"], tmp_path)
    version, _ = register_model(model, activate=True)
    out = StringIO()
    _fit(model, fitted_model, stdout=out)
    version.refresh_from_db()
    assert version.model_json_sha256 == model_json_sha256(read_model_info(model))
    assert "acquisition" in version.manifest["trust"]
    event = AuditEvent.objects.filter(target_id=str(version.external_id), before__has_key="manifest").get()
    assert "acquisition" not in event.before["manifest"]["trust"]
    assert event.actor_label == "manage.py fit_acquisition_check"
    assert activate_model(version) is False  # the active version's record matches: no refusal
    assert f"{version.name} {version.version} (active) now records the new model.json" in out.getvalue()


def test_a_model_without_trust_is_refused(fitted_model: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    model = _older_copy(fitted_model["model"], tmp_path)
    info = json.loads((model / "model.json").read_text())
    info["trust"] = None
    (model / "model.json").write_text(json.dumps(info))
    with pytest.raises(CommandError, match="no fitted trust state"):
        _fit(model, fitted_model)


def test_a_corrupt_image_is_named(fitted_model: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    model = _older_copy(fitted_model["model"], tmp_path)
    train = tmp_path / "train"
    shutil.copytree(fitted_model["train"], train)
    broken = sorted(train.rglob("*.png"))[3]
    broken.write_bytes(broken.read_bytes()[:-200])
    before = (model / "model.json").read_text()
    with pytest.raises(
        CommandError, match=rf"Image '.*{broken.name}' cannot be used: The PNG file is truncated"
    ):
        _fit(model, {"train": train, "val": fitted_model["val"]})
    assert (model / "model.json").read_text() == before


@pytest.mark.parametrize("size", ["0", "-4"])
def test_a_batch_size_below_one_is_refused(fitted_model: dict[str, Path], size: str) -> None:  # noqa: F811
    with pytest.raises(
        CommandError, match=rf"argument --batch-size: '{size}' is not a whole number of at least 1"
    ):
        _fit(fitted_model["model"], fitted_model, "--batch-size", size)
