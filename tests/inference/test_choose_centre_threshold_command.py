"""`manage.py choose_centre_threshold` on a generated Pascal VOC folder and a copy of the shipped network."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from inference.engine.red_cell_centres import CENTRE_MODEL_DIR, MODEL_JSON, CentreModel


@pytest.fixture
def network(tmp_path: Path) -> Path:
    folder = tmp_path / "centres"
    shutil.copytree(CENTRE_MODEL_DIR, folder)
    return folder


def _recount(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "recount.csv"
    path.write_text("image,red_cells\n" + rows)
    return path


def _choose(network: Path, data: Path, recount: Path, *options: str) -> str:
    stdout = StringIO()
    call_command(
        "choose_centre_threshold",
        str(network),
        "--data",
        str(data),
        "--recount",
        str(recount),
        *options,
        stdout=stdout,
    )
    return stdout.getvalue()


def test_scores_each_threshold_and_writes_the_best(tmp_path: Path, voc_folder: Path, network: Path) -> None:
    recount = _recount(tmp_path, "img_0.png,12\nimg_1.png,9\n")
    output = _choose(network, voc_folder, recount, "--thresholds", "0.3,0.1,0.999", "--write", "--json")
    choice = json.loads(output)
    errors = choice["mape_percent"]
    assert list(errors) == ["0.1", "0.3", "0.999"]
    assert choice["fields"] == 2
    assert choice["previous"] == 0.175
    assert errors[f"{choice['chosen']:g}"] == min(errors.values())
    info = json.loads((network / MODEL_JSON).read_text())
    assert info["peak_threshold"] == choice["chosen"]
    assert info["peak_threshold_choice"] == choice
    assert CentreModel(network).peak_threshold == choice["chosen"]
    assert sorted(path.name for path in network.iterdir()) == ["MODEL_CARD.md", MODEL_JSON, "weights.npz"]


def test_without_write_the_artifact_is_untouched(tmp_path: Path, voc_folder: Path, network: Path) -> None:
    before = (network / MODEL_JSON).read_text()
    output = _choose(network, voc_folder, _recount(tmp_path, "img_0.png,12\n"))
    assert "not written (add --write)" in output
    assert output.count("%") == 19 + 1
    assert (network / MODEL_JSON).read_text() == before


@pytest.mark.parametrize(
    ("rows", "thresholds", "message"),
    [
        ("elsewhere.png,12\n", "0.2", r"Images has no elsewhere\.png"),
        ("img_0.png,0\n", "0.2", "no field with a red cell"),
        ("img_0.png,twelve\n", "0.2", "not a whole number"),
        ("img_0.png,12\n", "0,0.2", "between 0 and 1"),
        ("img_0.png,12\n", "0.2,high", "not a list of numbers"),
    ],
)
def test_bad_input_is_a_command_error(
    tmp_path: Path, voc_folder: Path, network: Path, rows: str, thresholds: str, message: str
) -> None:
    before = (network / MODEL_JSON).read_text()
    recount = _recount(tmp_path, rows)
    with pytest.raises(CommandError, match=message):
        _choose(network, voc_folder, recount, "--thresholds", thresholds, "--write")
    assert (network / MODEL_JSON).read_text() == before


def test_a_folder_that_is_not_a_network_is_a_command_error(tmp_path: Path, voc_folder: Path) -> None:
    recount = _recount(tmp_path, "img_0.png,12\n")
    with pytest.raises(CommandError, match=MODEL_JSON):
        _choose(tmp_path, voc_folder, recount)


def test_a_corrupt_image_is_named(tmp_path: Path, voc_folder: Path, network: Path) -> None:
    image = voc_folder / "Images" / "img_1.png"
    image.write_bytes(image.read_bytes()[:-200])
    recount = _recount(tmp_path, "img_0.png,12\nimg_1.png,9\n")
    with pytest.raises(CommandError, match=r"Image '.*img_1\.png' cannot be used: The PNG file is truncated"):
        _choose(network, voc_folder, recount, "--thresholds", "0.2")
