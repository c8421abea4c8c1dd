"""`manage.py train_red_cell_centres` on a generated Pascal VOC folder."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

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


def test_an_existing_artifact_folder_is_refused_before_any_work(tmp_path: Path, voc_folder: Path) -> None:
    out = tmp_path / "centres"
    out.mkdir()
    (out / "model.json").write_text('{"peak_threshold": 0.3}')
    (out / "MODEL_CARD.md").write_text("card")
    with pytest.raises(CommandError, match=r"already exists and holds a model artifact.*remove this one"):
        call_command("train_red_cell_centres", data=voc_folder, out=out, steps=2, stdout=StringIO())
    assert (out / "model.json").read_text() == '{"peak_threshold": 0.3}'
    assert sorted(path.name for path in out.iterdir()) == ["MODEL_CARD.md", "model.json"]


def test_the_artifact_is_written_whole_or_not_at_all(
    tmp_path: Path, voc_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.engine import red_cell_training

    def broken(folder: Path, info: dict[str, object]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(red_cell_training, "write_model_json", broken)
    models = tmp_path / "models"
    with pytest.raises(OSError, match="disk full"):
        call_command(
            "train_red_cell_centres", data=voc_folder, out=models / "centres", steps=1, stdout=StringIO()
        )
    assert list(models.iterdir()) == []  # no half folder, no .partial sibling left


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Preparing the fields or training fails the test: bad input must be refused before either."""
    from inference.engine import red_cell_training

    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the work started before the input was checked")

    monkeypatch.setattr(red_cell_training, "load_centre_samples", no_work)
    monkeypatch.setattr(red_cell_training, "train_centre_net", no_work)


@pytest.mark.usefixtures("no_training")
def test_an_output_folder_under_a_file_is_refused_before_training(tmp_path: Path, voc_folder: Path) -> None:
    (tmp_path / "some_file").write_text("not a folder")
    out = tmp_path / "some_file" / "centres"
    with pytest.raises(
        CommandError, match=r"--out .*centres: .*some_file is a file, so the folder cannot be"
    ):
        call_command("train_red_cell_centres", data=voc_folder, out=out, steps=2, stdout=StringIO())


@pytest.mark.usefixtures("no_training")
def test_an_excluded_name_that_is_no_field_is_refused(tmp_path: Path, voc_folder: Path) -> None:
    exclude = tmp_path / "recount.csv"
    exclude.write_text("image,red_cells\nimg_1.png,12\nimg_01.png,9\n")
    out = tmp_path / "centres"
    with pytest.raises(
        CommandError, match=r"recount\.csv: fields to exclude that are not in voc: img_01\.png\."
    ):
        call_command(
            "train_red_cell_centres", data=voc_folder, out=out, exclude=[exclude], steps=2, stdout=StringIO()
        )
    assert not out.exists()


@pytest.mark.parametrize("seed", ["-1", "x"])
def test_a_negative_seed_is_refused_at_parsing(tmp_path: Path, voc_folder: Path, seed: str) -> None:
    out = tmp_path / "centres"
    with pytest.raises(CommandError, match=rf"argument --seed: '{seed}' is not a whole number of at least 0"):
        call_command(
            "train_red_cell_centres",
            "--data",
            str(voc_folder),
            "--out",
            str(out),
            "--seed",
            seed,
            "--steps",
            "2",
        )
    assert not out.exists()


@pytest.mark.usefixtures("no_training")
def test_a_mark_outside_its_image_is_refused_with_the_file_row_and_size(
    tmp_path: Path, voc_folder: Path
) -> None:
    centres = tmp_path / "marks.csv"
    # img_0 is 260 x 180 pixels: a mark on its far corner is inside, the second beyond its right edge.
    centres.write_text("image,x,y\nimg_0.png,260,180\nimg_0.png,300,50\n")
    out = tmp_path / "centres"
    with pytest.raises(
        CommandError,
        match=r"marks\.csv, line 3: the mark \(300, 50\) is outside img_0\.png, which is 260 x 180",
    ):
        call_command(
            "train_red_cell_centres", data=voc_folder, out=out, centres=[centres], steps=2, stdout=StringIO()
        )
    centres.write_text("image,x,y\nimg_1.png,10,253\n")
    with pytest.raises(
        CommandError, match=r"line 2: the mark \(10, 253\) is outside img_1\.png, which is 364 x 252"
    ):
        call_command(
            "train_red_cell_centres", data=voc_folder, out=out, centres=[centres], steps=2, stdout=StringIO()
        )
    assert not out.exists()


def test_a_corrupt_image_is_named(tmp_path: Path, voc_folder: Path) -> None:
    image = voc_folder / "Images" / "img_1.png"
    image.write_bytes(image.read_bytes()[:-200])
    out = tmp_path / "centres"
    with pytest.raises(CommandError, match=r"Image '.*img_1\.png' cannot be used: The PNG file is truncated"):
        call_command("train_red_cell_centres", data=voc_folder, out=out, steps=2, stdout=StringIO())
    assert not out.exists()
