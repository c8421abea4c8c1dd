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
    from inference.engine.red_cell_radius import RADIUS_MODEL_ENV

    # A folder that is not a radius network: the mode must try to load it, the default must not.
    monkeypatch.setenv(RADIUS_MODEL_ENV, str(tmp_path / "no-network"))
    call_command("evaluate_counting", data=voc_folder, stdout=StringIO())
    with pytest.raises(CommandError, match=r"model\.json is missing"):
        call_command("evaluate_counting", data=voc_folder, learned_radius=True, stdout=StringIO())


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


def _cut_in_half(path: Path) -> None:
    """The file as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("where", "message"),
    [("nodir/c.json", r"--out .*nodir/c\.json: the folder .*nodir does not exist"), (".", "is a folder")],
)
def test_an_output_file_that_cannot_be_written_is_refused_before_any_work(
    tmp_path: Path, voc_folder: Path, monkeypatch: pytest.MonkeyPatch, where: str, message: str
) -> None:
    from inference.engine import counting

    def no_work(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("the images were counted before --out was checked")

    monkeypatch.setattr(counting, "evaluate_counting", no_work)
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_counting", data=voc_folder, out=tmp_path / where, stdout=StringIO())
    assert not (tmp_path / "nodir").exists()


@pytest.mark.parametrize("limit", ["0", "-2"])
@pytest.mark.parametrize("counts", [False, True])
def test_a_limit_below_one_is_refused(tmp_path: Path, voc_folder: Path, limit: str, counts: bool) -> None:
    options = ["--data", str(voc_folder), "--limit", limit]
    if counts:
        (tmp_path / "counts.csv").write_text("image,red_cells\nImages/img_0.png,12\n")
        options += ["--counts", str(tmp_path / "counts.csv")]
    with pytest.raises(CommandError, match=rf"--limit: '{limit}' is not a whole number of at least 1"):
        call_command("evaluate_counting", *options, stdout=StringIO())


@pytest.mark.parametrize("counts", [False, True])
def test_a_corrupt_image_is_named(tmp_path: Path, voc_folder: Path, counts: bool) -> None:
    _cut_in_half(voc_folder / "Images" / "img_1.png")
    options: dict[str, Any] = {}
    if counts:
        options["counts"] = tmp_path / "counts.csv"
        options["counts"].write_text("image,red_cells\nImages/img_0.png,12\n./Images/img_1.png,10\n")
    with pytest.raises(CommandError, match=r"Image '.*img_1\.png' cannot be used: The PNG file is truncated"):
        call_command("evaluate_counting", data=voc_folder, stdout=StringIO(), **options)


def test_an_annotation_of_another_image_is_refused(voc_folder: Path) -> None:
    xml = voc_folder / "Annotations" / "img_1.xml"
    xml.write_text(xml.read_text().replace("<filename>img_1.png<", "<filename>img_0.png<"))
    with pytest.raises(CommandError, match=r"img_1\.xml is paired with the image img_1\.png.*'img_0\.png'"):
        call_command("evaluate_counting", data=voc_folder, stdout=StringIO())


def test_an_infinite_perturbation_is_refused(voc_folder: Path) -> None:
    with pytest.raises(CommandError, match=r"Bad number in perturbation 'hue=inf': it must be a finite"):
        call_command("evaluate_counting", data=voc_folder, perturb="hue=inf", stdout=StringIO())
