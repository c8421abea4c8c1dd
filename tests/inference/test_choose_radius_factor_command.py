"""`manage.py choose_radius_factor` on a generated Pascal VOC folder and a copy of the shipped network."""

from __future__ import annotations

import json
import os
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from inference.engine.red_cell_centres import MODEL_JSON
from inference.engine.red_cell_radius import (
    RADIUS_MODEL_DIR,
    RADIUS_MODEL_ENV,
    RadiusModel,
    default_radius_model,
)


@pytest.fixture
def untuned(tmp_path: Path) -> Path:
    """A copy of the shipped radius network without its factor."""
    folder = tmp_path / "radius"
    shutil.copytree(RADIUS_MODEL_DIR, folder)
    info = json.loads((folder / MODEL_JSON).read_text())
    for key in ("radius_factor", "radius_factor_choice"):
        info.pop(key)
    (folder / MODEL_JSON).write_text(json.dumps(info))
    return folder


def _choose(network: Path, data: Path, recount_rows: str, *options: str) -> str:
    recount = data / "recount.csv"
    recount.write_text("image,red_cells\n" + recount_rows)
    stdout = StringIO()
    call_command(
        "choose_radius_factor",
        str(network),
        "--data",
        str(data),
        "--recount",
        str(recount),
        *options,
        stdout=stdout,
    )
    return stdout.getvalue()


def test_scores_each_factor_writes_the_best_and_restores_the_network(voc_folder: Path, untuned: Path) -> None:
    before = os.environ.get(RADIUS_MODEL_ENV)
    choice = json.loads(
        _choose(
            untuned, voc_folder, "img_0.png,12\nimg_1.png,9\n", "--factors", "0.9,0.7", "--write", "--json"
        )
    )
    errors = choice["mape_percent"]
    assert list(errors) == ["0.7", "0.9"]
    assert choice["fields"] == 2
    assert choice["previous"] is None
    assert errors[f"{choice['chosen']:g}"] == min(errors.values())
    info = json.loads((untuned / MODEL_JSON).read_text())
    assert info["radius_factor"] == choice["chosen"]
    assert info["radius_factor_choice"] == choice
    assert RadiusModel(untuned).factor == choice["chosen"]
    # The segmentation's network is the shipped one again.
    assert os.environ.get(RADIUS_MODEL_ENV) == before
    assert default_radius_model().folder == RADIUS_MODEL_DIR


def test_without_write_the_artifact_is_untouched(voc_folder: Path, untuned: Path) -> None:
    before = (untuned / MODEL_JSON).read_text()
    output = _choose(untuned, voc_folder, "img_0.png,12\n", "--factors", "0.8")
    assert "Radius factor 0.8" in output
    assert "not written (add --write)" in output
    assert (untuned / MODEL_JSON).read_text() == before


@pytest.mark.parametrize(
    ("rows", "factors", "message"),
    [
        ("elsewhere.png,12\n", "0.8", r"Images has no elsewhere\.png"),
        ("img_0.png,0\n", "0.8", "no field with a red cell"),
        ("img_0.png,12\n", "0.8,2", r"from 0\.5 to 1\.5"),
        ("img_0.png,12\n", "0.8,big", "not a list of numbers"),
    ],
)
def test_bad_input_is_a_command_error(
    voc_folder: Path, untuned: Path, rows: str, factors: str, message: str
) -> None:
    before = (untuned / MODEL_JSON).read_text()
    with pytest.raises(CommandError, match=message):
        _choose(untuned, voc_folder, rows, "--factors", factors, "--write")
    assert (untuned / MODEL_JSON).read_text() == before
