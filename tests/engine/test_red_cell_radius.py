"""The red-cell radius network: its artifact, its training targets and the learned-radius segmentation."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from inference.engine.errors import ModelArtifactError
from inference.engine.imageio import read_image
from inference.engine.red_cell_centres import MODEL_JSON, default_centre_model
from inference.engine.red_cell_radius import (
    RADIUS_MODEL_DIR,
    RADIUS_MODEL_ENV,
    RadiusModel,
    build_radius_net,
    default_radius_model,
)
from inference.engine.red_cell_radius_training import (
    RADIUS_ARCHITECTURE,
    radius_sample,
    size_loss,
    train_radius_net,
)
from inference.engine.red_cell_training import CentreSample, _random_crop, write_centre_artifact
from inference.engine.segmentation import (
    SegmentationParams,
    _cells,
    _watershed_cells,
    learned_radius,
    segment_cells,
)
from tests.engine.conftest import shared_data_path
from tests.engine.synthetic import touching_field
from tests.engine.voc import voc_xml


def test_the_network_gives_a_heat_map_and_a_size_map_of_the_input_size() -> None:
    model = build_radius_net(initial_size=10.0)
    heat, log_size = model(np.zeros((1, 48, 64, 1), np.float32))
    assert heat.shape == log_size.shape == (1, 48, 64, 1)
    # Before training every cell is of the working scale's size: the head's bias.
    assert float(np.asarray(log_size).mean()) == pytest.approx(math.log(10.0), abs=1e-6)


def test_boxes_inside_the_field_teach_their_size_and_cut_ones_nothing(tmp_path: Path) -> None:
    xml = tmp_path / "a.xml"
    # 640x480: one red cell inside (24x30 px), one cut by the left border, one white cell.
    xml.write_text(
        voc_xml([("RBC", (100, 100, 124, 130)), ("RBC", (0, 200, 30, 230)), ("WBC", (300, 300, 360, 360))])
    )
    scale = 0.25
    sample = CentreSample(
        "a.jpg", np.zeros((120, 160, 1), np.float32), np.zeros((120, 160)), np.ones((120, 160)), scale
    )
    sized = radius_sample(sample, xml)
    # Its longer half-side (15 px) at the working scale, at its centre.
    assert sized.log_size[28, 28] == pytest.approx(math.log(15 * scale))
    assert sized.weight[28, 28] == 1.0
    assert sized.weight[53, 3] == 0.0
    assert sized.weight[82, 82] == 0.0
    assert 9 <= sized.weight.sum() <= 21  # one disc of radius 2 pixels


def test_a_zoomed_crop_carries_the_sizes_with_the_zoom() -> None:
    shape = (100, 120)
    sample = CentreSample(
        "a", np.ones((*shape, 1), np.float32), np.zeros(shape, np.float32), np.ones(shape, np.float32), 1.0
    )
    sizes = (np.full(shape, math.log(10.0), np.float32), np.ones(shape, np.float32))
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(10):
        _, _, size_truth = _random_crop(sample, rng, sizes)
        assert size_truth is not None
        assert size_truth.shape == (80, 80, 2)
        zoomed = np.exp(size_truth[..., 0])
        # Every cell grew or shrank with the field: 10 px at zoom 0.8-1.25 (rounded to whole pixels).
        assert np.ptp(zoomed) < 1e-4
        assert 7.9 <= zoomed[0, 0] <= 12.6
        seen.add(round(float(zoomed[0, 0]), 2))
    assert len(seen) > 5


def test_the_size_loss_is_the_mean_absolute_error_where_weighted() -> None:
    truth = np.zeros((1, 2, 2, 2), np.float32)
    truth[0, 0, 0] = (1.0, 1.0)
    truth[0, 1, 1] = (2.0, 1.0)
    predicted = np.array([[[[1.5], [9.0]], [[9.0], [1.0]]]], np.float32)
    assert float(size_loss(truth, predicted)) == pytest.approx((0.5 + 1.0) / 2)


def test_training_writes_an_artifact_that_loads_without_a_factor(tmp_path: Path) -> None:
    field = touching_field(radius=10, seed=2)
    shape = (field.rgb.shape[0], field.rgb.shape[1])
    features = np.ones((*shape, 1), np.float32)
    sample = CentreSample(
        "generated.png", features, np.zeros(shape, np.float32), np.ones(shape, np.float32), 1.0
    )
    sized = radius_sample(sample, _xml(tmp_path, field.red_centres))
    model = train_radius_net([sized], steps=2, seed=0, progress=False)
    folder = write_centre_artifact(model, tmp_path / "radius", {"data": {"fields": 1}}, RADIUS_ARCHITECTURE)
    loaded = RadiusModel(folder)
    assert loaded.info["architecture"] == RADIUS_ARCHITECTURE
    assert loaded.log_half_sizes(features).shape == shape
    # A new network has no factor until one is chosen for it on recounted fields.
    assert loaded.factor is None
    with pytest.raises(ModelArtifactError, match=r"no radius_factor.*choose_radius_factor"):
        loaded.required_factor()


def _xml(tmp_path: Path, centres: list[tuple[int, int]]) -> Path:
    path = tmp_path / "generated.xml"
    path.write_text(voc_xml([("RBC", (x - 10, y - 10, x + 10, y + 10)) for x, y in centres]))
    return path


def _copy_of_the_shipped_network(tmp_path: Path, **changes: object) -> Path:
    folder = tmp_path / "radius"
    shutil.copytree(RADIUS_MODEL_DIR, folder)
    info = json.loads((folder / MODEL_JSON).read_text())
    info.update(changes)
    (folder / MODEL_JSON).write_text(
        json.dumps({key: value for key, value in info.items() if value is not None})
    )
    return folder


@pytest.mark.parametrize("bad", [0.2, 3, "0.8", True])
def test_a_bad_radius_factor_is_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ModelArtifactError, match=r"radius_factor must be a number from 0\.5 to 1\.5"):
        RadiusModel(_copy_of_the_shipped_network(tmp_path, radius_factor=bad))


def test_the_shipped_network_matches_its_sha256_and_carries_its_factor_and_how_it_was_chosen() -> None:
    model = default_radius_model()
    choice = model.info["radius_factor_choice"]
    assert model.factor == choice["chosen"]
    assert choice["recount"] == "cbc-red-cell-recount.csv"
    assert min(choice["mape_percent"].values()) == choice["mape_percent"][f"{model.factor:g}"]
    assert (RADIUS_MODEL_DIR / "MODEL_CARD.md").is_file()


@pytest.fixture
def radius_model_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped network without a factor, named by the environment variable."""
    folder = _copy_of_the_shipped_network(tmp_path, radius_factor=None, radius_factor_choice=None)
    monkeypatch.setenv(RADIUS_MODEL_ENV, str(folder))
    return folder


def test_the_environment_names_the_network_and_an_untuned_one_is_refused(radius_model_from_env: Path) -> None:
    field = touching_field(radius=12, seed=1)
    with pytest.raises(ModelArtifactError, match=r"no radius_factor"):
        segment_cells(field.rgb, SegmentationParams(learned_radius=True), measure=False)
    assert default_radius_model().folder == radius_model_from_env
    # A factor given by the caller needs none from the network; the mode is off by default.
    params = SegmentationParams(learned_radius=True, radius_factor=0.8)
    assert segment_cells(field.rgb, params, measure=False).n_red > 0
    assert segment_cells(field.rgb, measure=False).n_red > 0


def _cbc_field() -> np.ndarray:
    return read_image(shared_data_path("counting", "cbc") / "Images" / "BloodImage_00010.jpg")


def test_the_learned_radius_follows_the_factor() -> None:
    rgb = _cbc_field()
    base = learned_radius(rgb, SegmentationParams(radius_factor=1.0))
    assert base is not None
    assert 20 < base < 80
    assert learned_radius(rgb, SegmentationParams(radius_factor=0.8)) == pytest.approx(0.8 * base, rel=1e-6)
    with pytest.raises(ValueError, match=r"radius_factor must be from 0\.5 to 1\.5, not 0"):
        learned_radius(rgb, SegmentationParams(radius_factor=0.0))


def test_the_learned_radius_mode_keeps_the_pass_with_the_median_count_and_the_estimate_s_white_cells() -> (
    None
):
    rgb = _cbc_field()
    params = SegmentationParams(learned_radius=True, radius_factor=0.8)
    radius = learned_radius(rgb, params)
    assert radius is not None
    result = segment_cells(rgb, params, measure=False)
    # The white cells are those of the estimated radius; only the red cells are sized anew.
    estimated = segment_cells(rgb, measure=False)
    assert result.n_nucleated == estimated.n_nucleated
    nuclei = _watershed_cells(rgb, params)[3]
    centre = default_centre_model()
    counts = {
        step: _cells(rgb, dataclasses.replace(params, cell_radius_px=radius * step), centre, nuclei)[3]
        for step in (0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06)
    }
    assert result.n_red == sorted(counts.values())[3]
    kept = min(
        (step for step, count in counts.items() if count == result.n_red),
        key=lambda step: abs(math.log(step)),
    )
    assert result.cell_radius_px == pytest.approx(radius * kept)
    # A fixed radius wins over the mode.
    fixed = SegmentationParams(learned_radius=True, radius_factor=0.8, cell_radius_px=30.0)
    assert segment_cells(rgb, fixed, measure=False).cell_radius_px == 30.0


def test_a_field_with_too_few_cells_to_size_keeps_the_estimate() -> None:
    blank = np.full((120, 160, 3), 235, np.uint8)
    blank[50:60, 70:80] = (200, 120, 140)
    params = SegmentationParams(learned_radius=True, radius_factor=0.8)
    assert learned_radius(blank, params) is None
    default = segment_cells(blank, measure=False)
    assert segment_cells(blank, params, measure=False).cell_radius_px == default.cell_radius_px
