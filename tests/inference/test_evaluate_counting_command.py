"""`manage.py evaluate_counting` on a generated Pascal VOC folder, with and without a recount."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command


def test_writes_the_report_with_the_recount(tmp_path: Path, voc_folder: Path) -> None:
    recount = tmp_path / "recount.csv"
    recount.write_text("image,red_cells\nimg_0.png,11\n")
    out = tmp_path / "report.json"
    stdout = StringIO()
    call_command("evaluate_counting", data=voc_folder, out=out, recount=recount, stdout=stdout)
    printed = json.loads(stdout.getvalue())
    assert printed["red"]["box_recall"] == 1.0
    assert printed["red_recount"]["mae"] == 1.0
    report = json.loads(out.read_text())
    assert report["summary"] == printed
    assert [row["recount_red"] for row in report["images"]] == [11, None]


def test_a_bad_recount_is_a_command_error(tmp_path: Path, voc_folder: Path) -> None:
    recount = tmp_path / "recount.csv"
    recount.write_text("image,red_cells\nimg_0.png,eleven\n")
    with pytest.raises(CommandError, match="not a whole number"):
        call_command("evaluate_counting", data=voc_folder, recount=recount, stdout=StringIO())
    with pytest.raises(CommandError, match=r"missing\.csv: not a readable CSV"):
        call_command(
            "evaluate_counting", data=voc_folder, recount=tmp_path / "missing.csv", stdout=StringIO()
        )


def test_a_perturbation_is_applied_and_reported(voc_folder: Path) -> None:
    stdout = StringIO()
    call_command("evaluate_counting", data=voc_folder, perturb="scale=0.5", stdout=stdout)
    printed = json.loads(stdout.getvalue())
    assert printed["perturbation"] == "scale=0.5"
    assert printed["red"]["box_recall"] == 1.0
    with pytest.raises(CommandError, match=r"scale must be between 0\.1 and 4"):
        call_command("evaluate_counting", data=voc_folder, perturb="scale=9", stdout=StringIO())


def test_watershed_only_turns_the_centre_network_off(
    voc_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.engine import counting
    from inference.engine.segmentation import SegmentationParams

    seen: list[SegmentationParams] = []
    real = counting.evaluate_counting

    def recording(data: Path, params: SegmentationParams, **kwargs: Any) -> dict[str, Any]:
        seen.append(params)
        return real(data, params, **kwargs)

    monkeypatch.setattr(counting, "evaluate_counting", recording)
    call_command("evaluate_counting", data=voc_folder, watershed_only=True, stdout=StringIO())
    call_command("evaluate_counting", data=voc_folder, stdout=StringIO())
    assert [params.use_centre_network for params in seen] == [False, True]


def test_the_learned_radius_mode_is_used_when_asked(
    tmp_path: Path, voc_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.engine.red_cell_radius import RADIUS_MODEL_ENV, default_radius_model

    # A folder that is not a radius network: the mode must try to load it, the default must not.
    monkeypatch.setenv(RADIUS_MODEL_ENV, str(tmp_path / "no-network"))
    default_radius_model.cache_clear()
    try:
        call_command("evaluate_counting", data=voc_folder, stdout=StringIO())
        with pytest.raises(CommandError, match=r"model\.json is missing"):
            call_command("evaluate_counting", data=voc_folder, learned_radius=True, stdout=StringIO())
    finally:
        default_radius_model.cache_clear()


def test_counts_made_by_eye_are_compared_instead_of_the_boxes(tmp_path: Path, voc_folder: Path) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text("image,nucleated,red_cells,batch\nImages/img_0.png,2,12,1\nImages/img_1.png,2,10,1\n")
    out = tmp_path / "report.json"
    stdout = StringIO()
    call_command("evaluate_counting", data=voc_folder, counts=counts, out=out, stdout=stdout)
    printed = json.loads(stdout.getvalue())
    assert printed["fields"] == 2
    assert printed["nucleated"]["exact_fraction"] == 1.0
    assert printed["red"]["mean_error"] == -1.0
    assert printed["batches"]["1"]["red"]["mae"] == 1.0
    assert [row["true_red"] for row in json.loads(out.read_text())["fields"]] == [12, 10]


def test_counts_by_eye_refuse_a_recount_and_a_missing_field(tmp_path: Path, voc_folder: Path) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text("image,red_cells\nImages/img_9.png,12\n")
    with pytest.raises(CommandError, match="with --counts there are none"):
        call_command("evaluate_counting", data=voc_folder, counts=counts, recount=counts, stdout=StringIO())
    with pytest.raises(CommandError, match="1 listed fields are not in voc"):
        call_command("evaluate_counting", data=voc_folder, counts=counts, stdout=StringIO())
