"""`manage.py train_red_cell_centres` on a generated Pascal VOC folder."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from inference.engine.red_cell_centres import CentreModel


def test_trains_and_writes_an_artifact_leaving_out_the_excluded_fields(
    tmp_path: Path, voc_folder: Path
) -> None:
    exclude = tmp_path / "recount.csv"
    exclude.write_text("image,red_cells\nimg_1.png,12\n")
    out = tmp_path / "centres"
    stdout = StringIO()
    call_command(
        "train_red_cell_centres", data=voc_folder, out=out, exclude=[exclude], steps=2, stdout=stdout
    )
    assert "trained on 1 fields, 2 steps" in stdout.getvalue()
    info = json.loads((out / "model.json").read_text())
    assert info["data"]["excluded"] == ["img_1.png"]
    assert info["hyperparameters"]["steps"] == 2
    assert CentreModel(out).info["weights"]["sha256"] == info["weights"]["sha256"]


def test_marked_centres_of_several_files_are_used_and_recorded(tmp_path: Path, voc_folder: Path) -> None:
    first, second = tmp_path / "round-1.csv", tmp_path / "round-2.csv"
    first.write_text("image,x,y\nimg_0.png,40,40\nimg_0.png,80,60\n")
    second.write_text("image,x,y\nimg_1.png,30,50\n")
    out = tmp_path / "centres"
    call_command(
        "train_red_cell_centres",
        data=voc_folder,
        out=out,
        centres=[first, second],
        steps=2,
        stdout=StringIO(),
    )
    data = json.loads((out / "model.json").read_text())["data"]
    assert (data["fields"], data["fields_marked"]) == (2, 2)
    assert data["centres"] == ["round-1.csv", "round-2.csv"]


def test_a_field_marked_in_two_files_is_refused(tmp_path: Path, voc_folder: Path) -> None:
    first, second = tmp_path / "round-1.csv", tmp_path / "round-2.csv"
    first.write_text("image,x,y\nimg_0.png,40,40\n")
    second.write_text("image,x,y\nimg_0.png,42,41\n")
    out = tmp_path / "centres"
    with pytest.raises(
        CommandError, match=r"round-2\.csv: fields marked in an earlier --centres file: img_0\.png"
    ):
        call_command(
            "train_red_cell_centres", data=voc_folder, out=out, centres=[first, second], stdout=StringIO()
        )
    assert not out.exists()


def test_marks_of_an_unknown_field_or_bad_rows_are_command_errors(tmp_path: Path, voc_folder: Path) -> None:
    out = tmp_path / "centres"
    centres = tmp_path / "centres.csv"
    centres.write_text("image,x,y\nelsewhere.png,40,40\n")
    with pytest.raises(CommandError, match=r"Marked fields not in voc: elsewhere\.png"):
        call_command("train_red_cell_centres", data=voc_folder, out=out, centres=[centres], stdout=StringIO())
    centres.write_text("image,x,y\nimg_0.png,forty,40\n")
    with pytest.raises(CommandError, match="line 2"):
        call_command("train_red_cell_centres", data=voc_folder, out=out, centres=[centres], stdout=StringIO())
    assert not out.exists()


def test_bad_arguments_are_command_errors(tmp_path: Path, voc_folder: Path) -> None:
    out = tmp_path / "centres"
    with pytest.raises(CommandError, match="--steps"):
        call_command("train_red_cell_centres", data=voc_folder, out=out, steps=0, stdout=StringIO())
    bad = tmp_path / "bad.csv"
    bad.write_text("name\nimg_1.png\n")
    with pytest.raises(CommandError, match="column image"):
        call_command("train_red_cell_centres", data=voc_folder, out=out, exclude=[bad], stdout=StringIO())
    everything = tmp_path / "all.csv"
    everything.write_text("image\nimg_0.png\nimg_1.png\n")
    with pytest.raises(CommandError, match="no fields left"):
        call_command(
            "train_red_cell_centres", data=voc_folder, out=out, exclude=[everything], stdout=StringIO()
        )
    with pytest.raises(CommandError, match="Images/ and Annotations/"):
        call_command("train_red_cell_centres", data=tmp_path, out=out, stdout=StringIO())
    assert not out.exists()


def test_with_radius_it_trains_the_radius_network(tmp_path: Path, voc_folder: Path) -> None:
    from inference.engine.errors import ModelArtifactError
    from inference.engine.red_cell_radius import RadiusModel
    from inference.engine.red_cell_radius_training import RADIUS_ARCHITECTURE

    out = tmp_path / "radius"
    stdout = StringIO()
    call_command("train_red_cell_centres", data=voc_folder, out=out, radius=True, steps=2, stdout=stdout)
    assert "trained on 2 fields, 2 steps" in stdout.getvalue()
    network = RadiusModel(out)
    assert network.info["architecture"] == RADIUS_ARCHITECTURE
    # Its factor is chosen afterwards, on recounted fields (`choose_radius_factor`).
    assert network.factor is None
    # A radius network is not a centre network: the centre network's loader refuses its weights.
    with pytest.raises(ModelArtifactError, match=r"weights\.npz does not fit"):
        CentreModel(out)
