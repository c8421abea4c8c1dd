"""The red-cell networks a worker holds follow their folders: a model.json rewritten (a threshold or a
factor chosen again) or a weights file replaced is loaded again on the next field, as the classifier's
is, and every segmentation records the networks it counted with."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from inference.engine import red_cell_centres, segmentation
from inference.engine.errors import ModelArtifactError
from inference.engine.imageio import read_image
from inference.engine.red_cell_centres import (
    CENTRE_MODEL_DIR,
    CENTRE_MODEL_ENV,
    MODEL_JSON,
    WEIGHTS_FILE,
    CentreModel,
    default_centre_model,
)
from inference.engine.red_cell_radius import RADIUS_MODEL_DIR, RADIUS_MODEL_ENV, default_radius_model
from inference.engine.segmentation import SegmentationParams, red_cell_counts, segment_cells
from tests.engine.conftest import shared_data_path
from tests.engine.synthetic import touching_field


def _named_copy(shipped: Path, variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / shipped.name
    shutil.copytree(shipped, folder)
    monkeypatch.setenv(variable, str(folder))
    return folder


def _rewrite_in_place(folder: Path, **entries: object) -> None:
    """What a hand edit does (`choose_centre_threshold --write` replaces the file): same inode, and
    possibly the same size and modification time."""
    info = json.loads((folder / MODEL_JSON).read_text())
    info.update(entries)
    with (folder / MODEL_JSON).open("w") as handle:
        json.dump(info, handle)


def _sha256(folder: Path) -> str:
    return str(json.loads((folder / MODEL_JSON).read_text())["weights"]["sha256"])


def test_a_rewritten_peak_threshold_counts_the_next_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _named_copy(CENTRE_MODEL_DIR, CENTRE_MODEL_ENV, tmp_path, monkeypatch)
    rgb = read_image(shared_data_path("counting", "cbc") / "Images" / "BloodImage_00010.jpg")
    assert default_centre_model().folder == folder
    before = segment_cells(rgb, measure=False).n_red
    _rewrite_in_place(folder, peak_threshold=0.95)
    assert default_centre_model().peak_threshold == 0.95
    after = segment_cells(rgb, measure=False)
    # What a worker started after the rewrite counts.
    assert after.n_red == red_cell_counts(rgb, CentreModel(folder), [0.95])[0.95] != before
    assert after.to_dict()["centre_network"]["peak_threshold"] == 0.95


def test_a_rewrite_of_the_same_size_is_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _named_copy(CENTRE_MODEL_DIR, CENTRE_MODEL_ENV, tmp_path, monkeypatch)
    assert default_centre_model().peak_threshold == 0.175
    _rewrite_in_place(folder, peak_threshold=0.275)
    assert default_centre_model().peak_threshold == 0.275


def test_an_unchanged_folder_is_neither_loaded_nor_hashed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _named_copy(CENTRE_MODEL_DIR, CENTRE_MODEL_ENV, tmp_path, monkeypatch)
    loaded = default_centre_model()

    def no_hashing(*args: object) -> None:
        raise AssertionError("the weights were hashed again for an unchanged folder")

    monkeypatch.setattr(red_cell_centres, "verify_weights", no_hashing)
    assert default_centre_model() is loaded


def test_replaced_weights_are_verified_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _named_copy(CENTRE_MODEL_DIR, CENTRE_MODEL_ENV, tmp_path, monkeypatch)
    default_centre_model()
    with (folder / WEIGHTS_FILE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelArtifactError, match="sha256"):
        default_centre_model()


def test_a_rewritten_radius_factor_is_used_on_the_next_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _named_copy(RADIUS_MODEL_DIR, RADIUS_MODEL_ENV, tmp_path, monkeypatch)
    assert default_radius_model().factor == 0.8
    _rewrite_in_place(folder, radius_factor=1.2)
    assert default_radius_model().factor == 1.2
    field = touching_field(radius=12, seed=1)
    recorded = segment_cells(field.rgb, SegmentationParams(learned_radius=True), measure=False).to_dict()
    assert recorded["radius_network"]["radius_factor"] == 1.2


def test_the_segmentation_records_the_centre_network_and_the_threshold_it_counted_with() -> None:
    rgb = touching_field(radius=10, seed=1).rgb
    network = {"name": "red-cell-centres-v3", "weights_sha256": _sha256(CENTRE_MODEL_DIR)}
    recorded = segment_cells(rgb, measure=False).to_dict()
    assert recorded["centre_network"] == {**network, "peak_threshold": 0.175}
    assert recorded["radius_network"] is None
    given = segment_cells(rgb, SegmentationParams(centre_threshold=0.3), measure=False).to_dict()
    assert given["centre_network"] == {**network, "peak_threshold": 0.3}
    watershed = segment_cells(rgb, SegmentationParams(use_centre_network=False), measure=False).to_dict()
    assert watershed["centre_network"] is watershed["radius_network"] is None


def test_the_learned_radius_mode_records_both_networks() -> None:
    rgb = touching_field(radius=12, seed=1).rgb
    params = SegmentationParams(learned_radius=True, radius_factor=0.9, use_centre_network=False)
    recorded = segment_cells(rgb, params, measure=False).to_dict()
    # The centre network's peaks size the cells even where its count is not fused.
    assert recorded["centre_network"] == {
        "name": "red-cell-centres-v3",
        "weights_sha256": _sha256(CENTRE_MODEL_DIR),
        "peak_threshold": 0.175,
    }
    assert recorded["radius_network"] == {
        "name": "red-cell-radius-v1",
        "weights_sha256": _sha256(RADIUS_MODEL_DIR),
        "radius_factor": 0.9,
    }
    # A fixed radius leaves the mode, and the radius network, out.
    fixed = dataclasses.replace(params, cell_radius_px=12.0)
    assert segment_cells(rgb, fixed, measure=False).to_dict()["radius_network"] is None


def test_one_field_is_counted_with_one_look_at_each_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The learned-radius mode segments seven times: the networks are looked up once, so a folder
    rewritten meanwhile cannot give one field two networks, and the look-up's cost is paid once."""
    looked_up: list[str] = []
    centre, radius = segmentation.default_centre_model, segmentation.default_radius_model

    def counted_centre() -> CentreModel:
        looked_up.append("centre")
        return centre()

    def counted_radius() -> object:
        looked_up.append("radius")
        return radius()

    monkeypatch.setattr(segmentation, "default_centre_model", counted_centre)
    monkeypatch.setattr(segmentation, "default_radius_model", counted_radius)
    rgb = read_image(shared_data_path("counting", "cbc") / "Images" / "BloodImage_00010.jpg")
    result = segment_cells(rgb, SegmentationParams(learned_radius=True), measure=False)
    assert result.n_red > 0
    assert sorted(looked_up) == ["centre", "radius"]
