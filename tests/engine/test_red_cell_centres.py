"""The red-cell centre network: the shipped artifact, its checks, its training and the fused count."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.engine.counting import parse_voc
from inference.engine.errors import EngineError, ModelArtifactError
from inference.engine.imageio import read_image
from inference.engine.red_cell_centres import (
    CENTRE_MODEL_DIR,
    CENTRE_MODEL_ENV,
    MODEL_JSON,
    WEIGHTS_FILE,
    CentreModel,
    centre_features,
    default_centre_model,
)
from inference.engine.red_cell_training import (
    _random_crop,
    centre_sample,
    load_marked_centres,
    marked_sample,
    train_centre_net,
    write_centre_artifact,
)
from inference.engine.segmentation import (
    SegmentationParams,
    _fuse_centres,
    centre_input,
    red_cell_counts,
    segment_cells,
)
from tests.engine.conftest import shared_data_path
from tests.engine.synthetic import touching_field


def test_shipped_centre_model_loads_and_matches_its_sha256() -> None:
    model = default_centre_model()
    info = json.loads((CENTRE_MODEL_DIR / MODEL_JSON).read_text())
    assert model.info["weights"]["sha256"] == info["weights"]["sha256"]
    assert info["training_command"].startswith("python manage.py train_red_cell_centres")
    assert (CENTRE_MODEL_DIR / "MODEL_CARD.md").is_file()


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "centres"
    shutil.copytree(CENTRE_MODEL_DIR, folder)
    with (folder / WEIGHTS_FILE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelArtifactError, match="sha256"):
        CentreModel(folder)


def test_missing_model_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match=MODEL_JSON):
        CentreModel(tmp_path)


def test_heat_map_has_the_input_size() -> None:
    field = touching_field(radius=10, seed=3)
    features, _, cells = centre_input(field.rgb)
    heat = default_centre_model().heatmap(features)
    assert heat.shape == features.shape[:2] == cells.shape
    assert heat.dtype == np.float32
    assert float(heat.min()) >= 0.0
    assert float(heat.max()) <= 1.0


def test_heat_peaks_on_the_red_cells_of_a_field_it_never_saw() -> None:
    # BloodImage_00010 is in the held-out recount, left out of the network's training.
    cbc = shared_data_path("counting", "cbc")
    rgb = read_image(cbc / "Images" / "BloodImage_00010.jpg")
    boxes = [b for b in parse_voc(cbc / "Annotations" / "BloodImage_00010.xml").boxes if b.name == "RBC"]
    features, scale, cells = centre_input(rgb)
    heat = default_centre_model().heatmap(features)
    rows = [round((b.ymin + b.ymax) / 2 * scale) for b in boxes]
    cols = [round((b.xmin + b.xmax) / 2 * scale) for b in boxes]
    near_centres = [
        heat[max(0, r - 2) : r + 3, max(0, c - 2) : c + 3].max() for r, c in zip(rows, cols, strict=True)
    ]
    assert len(boxes) >= 5
    # Nearly every boxed red cell has a peak near its centre; the glass stays cold.
    threshold = default_centre_model().peak_threshold
    assert threshold is not None
    assert np.mean(np.array(near_centres) > threshold) >= 0.8
    assert np.percentile(heat[~cells], 95) < threshold


def test_features_are_scaled_and_clipped() -> None:
    distance = np.array([[0.0, 12.0, 24.0, 1000.0]])
    features = centre_features(distance, 12.0)
    assert features.dtype == np.float32
    assert features.shape == (1, 4, 1)
    assert features[0, :, 0].tolist() == [0.0, 1.0, 2.0, 4.0]
    # An Otsu threshold under the least contrast is raised to it (empty glass is not all cells).
    assert centre_features(distance, 1.0)[0, 1, 0] == pytest.approx(2.0)


def _two_clumps() -> np.ndarray:
    """Labels: nucleated cell 1; clump A of red regions 2 and 3; clump B, one region 4."""
    labels = np.zeros((40, 80), dtype=np.int32)
    labels[5:15, 5:15] = 1
    labels[20:35, 5:20] = 2
    labels[20:35, 20:35] = 3
    labels[10:30, 50:75] = 4
    return labels


def test_fusion_takes_the_mean_of_regions_and_peaks_per_clump() -> None:
    labels = _two_clumps()
    # Clump A: 2 regions, 4 peaks -> 3 cells; clump B: 1 region, 3 peaks -> 2 cells. The peak on the
    # nucleated cell and the one on the glass count for nothing.
    peaks = np.array([[25, 8], [25, 14], [30, 25], [30, 31], [15, 55], [20, 62], [25, 70], [8, 8], [2, 40]])
    fused, n_red = _fuse_centres(labels.copy(), 1, peaks)
    assert n_red == 5
    assert sorted(np.unique(fused).tolist()) == [0, 1, 2, 3, 4, 5, 6]
    assert np.array_equal(fused == 1, labels == 1)
    assert np.array_equal(fused > 1, labels > 1)


def test_fusion_keeps_a_clump_where_both_agree_and_never_drops_one() -> None:
    labels = _two_clumps()
    # Clump A: 2 regions, 2 peaks -> unchanged; clump B: 1 region, no peak -> still 1 cell (mean 0.5).
    peaks = np.array([[25, 10], [25, 30]])
    fused, n_red = _fuse_centres(labels.copy(), 1, peaks)
    assert n_red == 3
    assert np.array_equal(fused, labels)


def test_a_network_that_hardly_answers_is_not_heard() -> None:
    # One peak for three regions: under the quorum, so even clump A keeps its two cells.
    labels = _two_clumps()
    fused, n_red = _fuse_centres(labels.copy(), 1, np.array([[25, 10]]))
    assert n_red == 3
    assert np.array_equal(fused, labels)


def test_training_writes_an_artifact_that_loads(tmp_path: Path) -> None:
    field = touching_field(radius=10, seed=2)
    boxes = [("RBC", x - 10.0, y - 10.0, x + 10.0, y + 10.0) for x, y in field.red_centres]
    sample = centre_sample(field.rgb, boxes, "generated.png")
    # The boxed cells' centres are the target's peaks and weigh in the loss; unboxed cells (here the
    # white cells) are ignored, as an unboxed red cell would be.
    scale = sample.features.shape[1] / field.rgb.shape[1]
    assert sample.target.max() == pytest.approx(1.0)
    for x, y in field.red_centres:
        assert sample.weight[round(y * scale), round(x * scale)] == 1.0
    for x, y in field.nucleated_centres:
        assert sample.weight[round(y * scale), round(x * scale)] == 0.0
    model = train_centre_net([sample], steps=2, seed=0, progress=False)
    folder = write_centre_artifact(model, tmp_path / "centres", {"data": {"fields": 1}})
    loaded = CentreModel(folder)
    assert loaded.info["data"] == {"fields": 1}
    # A new network has no threshold until one is chosen for it on recounted fields.
    assert loaded.peak_threshold is None
    assert loaded.heatmap(sample.features).shape == sample.features.shape[:2]


def test_training_needs_fields() -> None:
    with pytest.raises(ValueError, match="No training fields"):
        train_centre_net([], steps=1, progress=False)


def test_a_marked_field_learns_every_marked_cell_and_nothing_else() -> None:
    field = touching_field(radius=10, seed=2)
    marked = [(float(x), float(y)) for x, y in field.red_centres[:3]]
    sample = marked_sample(field.rgb, marked, "generated.png")
    scale = sample.features.shape[1] / field.rgb.shape[1]
    # Full supervision: every pixel weighs, the unmarked red cells' centres as negatives.
    assert sample.weight.min() == 1.0
    for x, y in marked:
        assert sample.target[int(y * scale), int(x * scale)] == pytest.approx(1.0)
    for x, y in field.red_centres[3:]:
        if min(np.hypot(x - mx, y - my) for mx, my in marked) > 30:
            assert sample.target[int(y * scale), int(x * scale)] < 0.01


def test_marked_centres_are_read_per_image_and_bad_rows_refused(tmp_path: Path) -> None:
    good = tmp_path / "centres.csv"
    good.write_text("image,x,y\na.jpg,10,20.5\na.jpg,30,40\nb.jpg,0,0\n")
    assert load_marked_centres(good) == {"a.jpg": [(10.0, 20.5), (30.0, 40.0)], "b.jpg": [(0.0, 0.0)]}
    for body, message in [
        ("image,x\na.jpg,10\n", "line 2: needs image, x and y"),
        ("image,x,y\na.jpg,10,ten\n", "line 2: needs image, x and y"),
        ("image,x,y\na.jpg,1,2\na.jpg,-1,2\n", "line 3: needs an image name and x, y >= 0"),
        ("image,x,y\n,1,2\n", "line 2: needs an image name"),
    ]:
        bad = tmp_path / "bad.csv"
        bad.write_text(body)
        with pytest.raises(EngineError, match=message):
            load_marked_centres(bad)
    with pytest.raises(EngineError, match="cannot be read"):
        load_marked_centres(tmp_path / "missing.csv")


def test_every_cell_in_a_zoomed_crop_keeps_one_centre_pixel() -> None:
    # Zooming resamples the target off its peaks; the loss counts a centre only at >= 0.99, so each
    # Gaussian wholly inside the crop must still have exactly one such pixel.
    field = touching_field(radius=10, seed=2)
    sample = marked_sample(field.rgb, [(float(x), float(y)) for x, y in field.red_centres], "generated.png")
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(40):
        _, truth, _ = _random_crop(sample, rng)
        target = np.ascontiguousarray(truth[..., 0])
        n_blobs, blobs = cv2.connectedComponents((target > 0.5).astype(np.uint8))
        for blob in range(1, n_blobs):
            rows, cols = np.nonzero(blobs == blob)
            if min(rows.min(), cols.min()) > 0 and max(rows.max(), cols.max()) < target.shape[0] - 1:
                assert (target[rows, cols] >= 0.99).sum() == 1
                checked += 1
    assert checked >= 20


def _copy_of_the_shipped_network(tmp_path: Path, **changes: object) -> Path:
    folder = tmp_path / "centres"
    shutil.copytree(CENTRE_MODEL_DIR, folder)
    info = json.loads((folder / MODEL_JSON).read_text())
    info.update(changes)
    info = {key: value for key, value in info.items() if value is not None}
    (folder / MODEL_JSON).write_text(json.dumps(info))
    return folder


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "0.2", True])
def test_a_bad_peak_threshold_is_refused(tmp_path: Path, bad: object) -> None:
    folder = _copy_of_the_shipped_network(tmp_path, peak_threshold=bad)
    with pytest.raises(ModelArtifactError, match="peak_threshold must be a number between 0 and 1"):
        CentreModel(folder)


def test_the_shipped_network_carries_its_threshold_and_how_it_was_chosen() -> None:
    info = default_centre_model().info
    choice = info["peak_threshold_choice"]
    assert default_centre_model().peak_threshold == choice["chosen"] == 0.175
    assert choice["recount"] == "cbc-red-cell-recount.csv"
    assert min(choice["mape_percent"].values()) == choice["mape_percent"]["0.175"]


@pytest.fixture
def centre_model_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped network without a threshold, named by the environment variable."""
    folder = _copy_of_the_shipped_network(tmp_path, peak_threshold=None, peak_threshold_choice=None)
    monkeypatch.setenv(CENTRE_MODEL_ENV, str(folder))
    return folder


def test_the_environment_names_the_network_and_an_untuned_one_is_refused(centre_model_from_env: Path) -> None:
    field = touching_field(radius=10, seed=1)
    with pytest.raises(ModelArtifactError, match=r"no peak_threshold.*choose_centre_threshold"):
        segment_cells(field.rgb, measure=False)
    assert default_centre_model().folder == centre_model_from_env
    # A threshold given by the caller needs none from the network.
    result = segment_cells(field.rgb, SegmentationParams(centre_threshold=0.2), measure=False)
    assert result.n_red > 0


def test_counts_per_threshold_are_the_segmentation_s_counts() -> None:
    cbc = shared_data_path("counting", "cbc")
    rgb = read_image(cbc / "Images" / "BloodImage_00010.jpg")
    thresholds = [0.1, 0.175, 0.3, 0.999]
    counts = red_cell_counts(rgb, default_centre_model(), thresholds)
    for threshold in thresholds:
        params = SegmentationParams(centre_threshold=threshold)
        assert counts[threshold] == segment_cells(rgb, params, measure=False).n_red
    # A higher threshold hears fewer peaks; at 0.999 none, so the quorum leaves the watershed's count.
    assert counts[0.1] > counts[0.3]
    watershed = segment_cells(rgb, SegmentationParams(use_centre_network=False), measure=False)
    assert counts[0.999] == watershed.n_red != counts[0.175]
