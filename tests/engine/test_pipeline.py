"""One image end to end with a tiny model: typed result, JSON summary, blast count, refer-if-flagged."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.engine import trust
from inference.engine.classes import CLASS_CODES
from inference.engine.count_cautions import (
    CAUTION_ACQUISITION,
    CAUTION_SCALE_OUTSIDE_CALIBRATION,
    CAUTION_TEXTS,
)
from inference.engine.errors import ImageError
from inference.engine.evaluation import evaluate_cells
from inference.engine.field_views import (
    REASON_VIEWS_DISAGREE,
    field_views,
    pooled_assessment,
    whole_at_any_radius,
)
from inference.engine.imageio import read_image
from inference.engine.perturbation import Perturbation
from inference.engine.pipeline import (
    END_TO_END,
    REFER_LABEL,
    STAGES,
    CellCall,
    Pipeline,
    PipelineResult,
)
from inference.engine.preprocess import prepare_for_model
from inference.engine.referral import REASON_TEXTS
from inference.engine.scale_calibration import SCALE_CALIBRATION_ENV, ScaleCalibration
from inference.engine.segmentation import SegmentationParams, segment_cells
from inference.engine.stain_calibration import STAIN_CALIBRATION_ENV, StainCalibration
from tests.engine.blast_colour_model import blast_colour_artifact
from tests.engine.synthetic import touching_field
from tests.engine.test_evaluation import make_tiny_artifact, smear_like, write_dataset


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from inference.engine.artifact import update_model_info
    from inference.engine.predictor import Predictor
    from inference.engine.trust import fit_trust

    root = tmp_path_factory.mktemp("pipeline")
    bare = make_tiny_artifact(root / "bare")
    trusted = blast_colour_artifact(root / "trusted")  # a random network's trust fit is refused
    train = write_dataset(root / "train", per_class=6, seed=3)
    val = write_dataset(root / "val", per_class=4, seed=4)
    update_model_info(trusted, trust=fit_trust(Predictor.from_artifact(trusted), train, val, folder=trusted))
    return {"bare": bare, "trusted": trusted, "val": val}


@pytest.fixture(scope="module")
def field_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rgb = smear_like(np.random.default_rng(7), tint=0, size=(180, 224))
    path = tmp_path_factory.mktemp("field") / "field.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_result_is_typed_and_json_ready(model_dirs: dict[str, Path], field_png: Path) -> None:
    result = Pipeline(model_dirs["trusted"]).run(field_png)
    assert isinstance(result, PipelineResult)
    assert result.image_shape == (180, 224)
    assert result.gradcam_heatmap.shape == (180, 224)
    assert result.gradcam_overlay.shape == result.segmentation_overlay.shape == (180, 224, 3)
    assert set(result.timings_ms) == {*STAGES, END_TO_END}
    # The segmentation overlaps the classification: the wall time is less than the stages' sum.
    stages = [result.timings_ms[stage] for stage in STAGES]
    assert max(stages) <= result.timings_ms[END_TO_END] <= sum(stages) + 5.0
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["ai_generated"] is True
    assert data["classification"]["predicted"] in CLASS_CODES
    assert 0.0 <= data["classification"]["confidence"] <= 1.0
    assert data["model"]["trust_fitted"] is True
    assert data["segmentation"]["nucleated_cells"] == len(data["cells"])


def test_segmenting_beside_the_classification_changes_no_result(
    model_dirs: dict[str, Path], field_png: Path
) -> None:
    pipeline = Pipeline(model_dirs["trusted"])
    rgb = read_image(field_png)
    assert whole_at_any_radius(rgb.shape)  # so the two run side by side
    result = pipeline.run(rgb)
    alone = segment_cells(rgb, pipeline.segmentation_params)
    np.testing.assert_array_equal(result.segmentation.labels, alone.labels)
    prediction = pipeline.predictor.predict(prepare_for_model(rgb), prepared=True, gradcam=True)
    assert pipeline.trust is not None
    expected = pipeline.trust.calibrated(np.asarray(prediction.logits)[None])[0]
    assert result.classification.assessment.probabilities == pytest.approx(tuple(expected), abs=1e-6)
    # An error of the segmentation's thread reaches the caller as it would alone.
    with pytest.raises(ImageError, match="at least 16 pixels"):
        pipeline.run(rgb[:8, :8].copy())


def test_every_nucleated_cell_is_classified_and_blasts_counted(
    model_dirs: dict[str, Path], field_png: Path
) -> None:
    result = Pipeline(model_dirs["trusted"]).run(field_png)
    assert result.segmentation.n_nucleated >= 1
    assert [c.cell_id for c in result.cells] == list(range(1, result.segmentation.n_nucleated + 1))
    assert result.blast_count == sum(c.predicted != "benign" for c in result.cells)
    assert result.blast_percentage == pytest.approx(100 * result.blast_count / len(result.cells))


def test_any_all_class_is_a_blast() -> None:
    call = CellCall(cell_id=1, predicted="pro_b", confidence=0.9, probabilities=(0.0, 0.0, 0.1, 0.9))
    assert call.is_blast
    assert call.to_dict()["is_blast"] is True
    assert not CellCall(
        cell_id=2, predicted="benign", confidence=0.9, probabilities=(0.9, 0, 0, 0.1)
    ).is_blast


def test_flagged_image_is_referred_not_classified(model_dirs: dict[str, Path], field_png: Path) -> None:
    pipeline = Pipeline(model_dirs["trusted"])
    noise = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)  # nothing like a smear
    result = pipeline.run(noise)
    assert result.classification.flagged
    call = result.to_dict()["classification"]
    assert call["display_label"] == REFER_LABEL
    # Each reason comes with words a pathologist can act on, in the same order.
    assert call["reasons"]
    assert call["reason_texts"] == [REASON_TEXTS[reason] for reason in call["reasons"]]
    # a model without fitted trust cannot vouch for anything: refer
    bare = Pipeline(model_dirs["bare"]).run(field_png).to_dict()["classification"]
    assert bare["display_label"] == REFER_LABEL
    assert bare["ood_score"] is None
    assert bare["reasons"] == ["trust_not_fitted"]
    assert bare["reason_texts"] == [REASON_TEXTS["trust_not_fitted"]]


def test_every_referral_reason_has_words() -> None:
    codes = {value for name, value in vars(trust).items() if name.startswith("REASON_")}
    codes |= {REASON_VIEWS_DISAGREE, "trust_not_fitted"}
    assert set(REASON_TEXTS) == codes
    assert all(text.endswith(".") and len(text) > 30 for text in REASON_TEXTS.values())


def test_bytes_and_arrays_are_accepted(model_dirs: dict[str, Path], field_png: Path) -> None:
    pipeline = Pipeline(model_dirs["trusted"])
    from_bytes = pipeline.run(field_png.read_bytes())
    rgb = cv2.cvtColor(cv2.imread(str(field_png)), cv2.COLOR_BGR2RGB)
    from_array = pipeline.run(rgb)
    assert from_bytes.classification.assessment.probabilities == pytest.approx(
        from_array.classification.assessment.probabilities
    )


def test_cell_agreement_report(model_dirs: dict[str, Path]) -> None:
    report = evaluate_cells(model_dirs["trusted"], model_dirs["val"], limit=8, show_progress=False)
    assert report["n_images"] == 8
    assert report["perturbation"] == "none"
    tiled = evaluate_cells(
        model_dirs["trusted"], model_dirs["val"], limit=2, show_progress=False, perturb="tile=2"
    )
    assert tiled["perturbation"] == "tile=2"
    assert report["n_cells"] == sum(v["cells"] for v in report["per_class"].values())
    if report["n_cells"]:
        assert 0.0 <= report["cell_agreement"] <= 1.0
        assert report["cell_agreement"] <= report["blast_agreement"]


def test_roi_cell_method_matches_crops_shape_and_whole_field(
    model_dirs: dict[str, Path], field_png: Path
) -> None:
    crops = Pipeline(model_dirs["trusted"]).run(field_png)
    roi = Pipeline(model_dirs["trusted"], cell_method="roi").run(field_png)
    assert [c.cell_id for c in roi.cells] == [c.cell_id for c in crops.cells]
    # the whole-field row of the ROI head is the classifier's own features: same OOD score
    assert roi.classification.assessment.ood_score == pytest.approx(
        crops.classification.assessment.ood_score, rel=1e-3
    )
    with pytest.raises(ValueError, match="cell_method"):
        Pipeline(model_dirs["trusted"], cell_method="magic")


def test_per_cell_calls_reuse_the_gradcam_pass_maps(model_dirs: dict[str, Path], field_png: Path) -> None:
    from inference.engine.imageio import read_image
    from inference.engine.preprocess import prepare_for_model
    from inference.engine.segmentation import segment_cells

    pipeline = Pipeline(model_dirs["trusted"], cell_method="roi")
    rgb = read_image(field_png)
    prepared = prepare_for_model(rgb)
    prediction = pipeline.predictor.predict(prepared, prepared=True, gradcam=True)
    assert prediction.conv_maps is not None
    segmentation = segment_cells(rgb)
    assert segmentation.n_nucleated > 0
    reused = pipeline.roi_pass(prepared, segmentation, prediction.conv_maps)
    own = pipeline.roi_pass(prepared, segmentation)
    assert reused[1] == pytest.approx(own[1], abs=1e-4)
    assert reused[0] == pytest.approx(own[0], abs=1e-4)


def test_numpy_blas_runs_on_one_thread_during_an_analysis(
    model_dirs: dict[str, Path], field_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenBLAS threads left spinning after a matrix product slow the next TensorFlow pass.
    from threadpoolctl import threadpool_info, threadpool_limits

    from inference.engine import pipeline as pipeline_module

    seen: list[int] = []
    real_segment = pipeline_module.segment_cells

    def recording_segment(*args: object, **kwargs: object) -> object:
        seen.extend(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
        return real_segment(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "segment_cells", recording_segment)
    with threadpool_limits(limits=2, user_api="blas"):
        Pipeline(model_dirs["trusted"]).run(field_png)
        after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert seen
    assert set(seen) == {1}
    assert set(after) == {2}


def test_warm_up_loads_the_red_cell_centre_network(model_dirs: dict[str, Path]) -> None:
    from inference.engine.red_cell_centres import CENTRE_MODELS

    CENTRE_MODELS.clear()
    Pipeline(
        model_dirs["trusted"], segmentation_params=SegmentationParams(use_centre_network=False)
    ).warm_up()
    assert CENTRE_MODELS.loaded is None
    Pipeline(model_dirs["trusted"]).warm_up()
    assert CENTRE_MODELS.loaded is not None


def test_warm_up_loads_the_radius_network_only_in_the_learned_radius_mode(
    model_dirs: dict[str, Path],
) -> None:
    from inference.engine.red_cell_radius import RADIUS_MODELS

    RADIUS_MODELS.clear()
    Pipeline(model_dirs["trusted"]).warm_up()
    assert RADIUS_MODELS.loaded is None
    Pipeline(model_dirs["trusted"], segmentation_params=SegmentationParams(learned_radius=True)).warm_up()
    assert RADIUS_MODELS.loaded is not None


def test_the_laboratory_stain_calibration_is_used_and_recorded(
    model_dirs: dict[str, Path], field_png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STAIN_CALIBRATION_ENV, raising=False)
    plain = Pipeline(model_dirs["trusted"]).run(field_png).to_dict()
    assert plain["stain_correction"] == {"hue_shift": 0.0, "chroma_gain": 1.0}
    calibration = tmp_path / "stain.json"
    StainCalibration(hue_shift=-8.0, chroma_gain=1.3, fields=20).save(calibration)
    monkeypatch.setenv(STAIN_CALIBRATION_ENV, str(calibration))
    pipeline = Pipeline(model_dirs["trusted"])
    assert (pipeline.segmentation_params.stain_hue_shift, pipeline.segmentation_params.stain_chroma_gain) == (
        -8.0,
        1.3,
    )
    assert pipeline.run(field_png).to_dict()["stain_correction"] == {"hue_shift": -8.0, "chroma_gain": 1.3}


def test_the_laboratory_scale_calibration_is_used_and_recorded(
    model_dirs: dict[str, Path], field_png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SCALE_CALIBRATION_ENV, raising=False)
    plain = Pipeline(model_dirs["trusted"]).run(field_png)
    assert plain.to_dict()["scale_range_px"] is None
    # A calibration whose range lies wholly above the field's own estimate: its cells are looked for at
    # the range's lower end, and the counts carry the caution.
    estimate = plain.segmentation.cell_radius_px
    calibration = ScaleCalibration(radius_px=2.0 * estimate, fields=20)
    saved = tmp_path / "scale.json"
    calibration.save(saved)
    monkeypatch.setenv(SCALE_CALIBRATION_ENV, str(saved))
    result = Pipeline(model_dirs["trusted"]).run(field_png).to_dict()
    assert calibration.bounds is not None
    assert result["scale_range_px"] == [round(bound, 3) for bound in calibration.bounds]
    assert result["segmentation"]["cell_radius_px"] == pytest.approx(calibration.bounds[0], abs=0.01)
    assert CAUTION_SCALE_OUTSIDE_CALIBRATION in result["segmentation"]["cautions"]


def test_a_field_too_large_to_classify_whole_is_called_from_its_views(model_dirs: dict[str, Path]) -> None:
    # A generated field mirrored 2x2 (288 x 416 pixels, red cells of radius 8) is 440 pixels across at
    # the training scale: four views of 213 pixels, each classified as a field of its own would be.
    rgb = Perturbation(tile=2).apply(touching_field(radius=8).rgb)
    pipeline = Pipeline(model_dirs["trusted"])
    result = pipeline.run(rgb)
    views = field_views(rgb.shape, result.segmentation.cell_radius_px)
    assert views is not None
    assert len(views) == 4
    alone = [pipeline.run(np.ascontiguousarray(view.of(rgb))).classification.assessment for view in views]
    pooled = pooled_assessment(alone)
    assert result.classification.assessment.probabilities == pytest.approx(pooled.probabilities, abs=1e-5)
    assert result.classification.assessment.reasons == pooled.reasons
    assert result.gradcam_heatmap.shape == rgb.shape[:2]
    assert 0.0 <= result.gradcam_heatmap.min() <= result.gradcam_heatmap.max() <= 1.0
    # Each cell is called from the view nearest it, with the Grad-CAM pass's maps of that view.
    assert [c.cell_id for c in result.cells] == list(range(1, result.segmentation.n_nucleated + 1))
    assert len(result.cells) == 4 * 2
    own_maps = pipeline.cell_logits(rgb, result.segmentation, views)
    called = np.array([c.probabilities for c in result.cells])
    assert called == pytest.approx(pipeline_probabilities(pipeline, own_maps), abs=1e-4)


def pipeline_probabilities(pipeline: Pipeline, logits: np.ndarray) -> np.ndarray:
    from inference.engine.calibration import softmax

    assert pipeline.trust is not None
    return softmax(logits, pipeline.trust.temperature)


def test_the_process_wide_pipeline_follows_its_model_json(tmp_path: Path) -> None:
    from inference.engine.artifact import update_model_info
    from inference.engine.pipeline import get_pipeline

    folder = make_tiny_artifact(tmp_path / "model")
    first = get_pipeline(folder)
    assert get_pipeline(folder) is first  # loaded once
    update_model_info(folder, name="tiny-test-refitted")
    again = get_pipeline(folder)
    assert again is not first
    assert again.predictor.info["name"] == "tiny-test-refitted"


def test_overlapping_analyses_give_the_process_its_blas_threads_back() -> None:
    from threadpoolctl import threadpool_info

    from inference.engine.pipeline import _single_threaded_blas

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    assert before, "NumPy's BLAS library was not found"
    first, second = _single_threaded_blas(), _single_threaded_blas()
    first.__enter__()
    second.__enter__()
    assert all(n == 1 for n in blas_threads())
    first.__exit__(None, None, None)  # the first to start ends first: the second still runs
    assert all(n == 1 for n in blas_threads())
    second.__exit__(None, None, None)
    assert blas_threads() == before


def test_a_field_referred_for_its_focus_has_its_counts_cautioned(model_dirs: dict[str, Path]) -> None:
    pipeline = Pipeline(model_dirs["trusted"])
    # A field like those the trust checks were fitted on, then out of focus.
    sharp_rgb = read_image(sorted(model_dirs["val"].rglob("*.png"))[0])
    sharp = pipeline.run(sharp_rgb)
    assert trust.REASON_ACQUISITION not in sharp.classification.assessment.reasons
    assert CAUTION_ACQUISITION not in sharp.segmentation.cautions
    result = pipeline.run(cv2.GaussianBlur(sharp_rgb, (0, 0), 4.0))
    assert trust.REASON_ACQUISITION in result.classification.assessment.reasons
    data = result.to_dict()["segmentation"]
    assert CAUTION_ACQUISITION in data["cautions"]
    assert (
        data["caution_texts"][data["cautions"].index(CAUTION_ACQUISITION)]
        == CAUTION_TEXTS[CAUTION_ACQUISITION]
    )


def test_a_views_field_heat_map_keeps_each_views_strength(model_dirs: dict[str, Path]) -> None:
    # A field of two views side by side: a smear, and the same smear faded (weaker evidence). Each
    # view's map is normalised to its own peak; the field's map must show the faded view weaker, in
    # proportion to its raw peak, not as hot as the strong one.
    from inference.engine.field_views import View, view_inputs

    from .test_gradcam import eager_raw_peak

    smear = smear_like(np.random.default_rng(7), tint=0, size=(224, 224))
    rgb = np.concatenate([smear, (smear * 0.3).astype(np.uint8)], axis=1)
    views = [View(0, 0, 224, 224), View(0, 224, 224, 224)]
    pipeline = Pipeline(model_dirs["trusted"])
    batch = view_inputs(rgb, views)
    pooled, heat, _ = pipeline._classify_views(rgb.shape, views, batch)
    peaks = [eager_raw_peak(pipeline.predictor, image, pooled.predicted_index) for image in batch]
    ratio = peaks[1] / peaks[0]
    assert ratio < 0.6  # the faded view's evidence is much weaker
    assert heat.shape == rgb.shape[:2]
    assert heat[:, :224].max() >= 0.9
    assert heat[:, 224:].max() == pytest.approx(ratio, abs=0.05)
    assert heat[:, 224:].mean() < heat[:, :224].mean()


def zero_evidence_pipeline(folder: Path) -> Pipeline:
    """A tiny model whose class 0 always wins by its bias alone: nothing in an image is evidence
    for it, so its Grad-CAM is all zero."""
    pipeline = Pipeline(make_tiny_artifact(folder))
    logits = pipeline.predictor.model.get_layer("logits")
    kernel, bias = logits.get_weights()
    kernel[:, 0] = 0.0
    bias[0] = 100.0
    logits.set_weights([kernel, bias])
    return pipeline


def test_an_all_zero_gradcam_is_reported_empty(
    model_dirs: dict[str, Path], field_png: Path, tmp_path: Path
) -> None:
    pipeline = zero_evidence_pipeline(tmp_path / "zero")
    result = pipeline.run(field_png)
    assert result.classification.predicted == CLASS_CODES[0]
    assert not result.gradcam_heatmap.any()
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["gradcam_empty"] is True
    # So is a field classified in views, none of which has any evidence.
    tiled = pipeline.run(Perturbation(tile=2).apply(touching_field(radius=8).rgb))
    assert field_views(tiled.image_shape, tiled.segmentation.cell_radius_px) is not None
    assert not tiled.gradcam_heatmap.any()
    assert tiled.to_dict()["gradcam_empty"] is True
    # A map with evidence somewhere is not.
    usual = Pipeline(model_dirs["trusted"]).run(field_png)
    assert usual.gradcam_heatmap.max() > 0.5
    assert usual.to_dict()["gradcam_empty"] is False
