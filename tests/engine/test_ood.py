"""OOD scoring: the PPCA Mahalanobis distance, the energy score, and the flag thresholds of trust."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.engine import trust as trust_module
from inference.engine.errors import ModelArtifactError
from inference.engine.ood import energy_score, fit_mahalanobis
from inference.engine.trust import (
    REASON_ACQUISITION,
    REASON_INVALID_OUTPUT,
    REASON_LOW_CONFIDENCE,
    REASON_OUT_OF_DISTRIBUTION,
    REASON_STAIN,
    TrustModel,
    choose_thresholds,
    fit_trust_arrays,
)


def _blobs(n_per_class: int, dim: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(3, dim) * 6.0
    scales = np.linspace(0.5, 2.0, dim)
    feats = np.concatenate([c + shift + rng.normal(size=(n_per_class, dim)) * scales for c in centres])
    return feats, np.repeat(np.arange(3), n_per_class)


def test_full_rank_ppca_equals_exact_mahalanobis() -> None:
    feats, labels = _blobs(60, 8, seed=0)
    model = fit_mahalanobis(feats, labels, 3, n_components=7)
    means = np.stack([feats[labels == c].mean(axis=0) for c in range(3)])
    centred = feats - means[labels]
    precision = np.linalg.inv(centred.T @ centred / (len(feats) - 1))
    probe = feats[:5] + 0.3
    diff = probe[:, None, :] - means[None]
    exact = np.einsum("ncd,de,nce->nc", diff, precision, diff)
    assert model.class_distances(probe) == pytest.approx(exact, rel=1e-6)


def test_shifted_features_score_higher_than_held_out_ones() -> None:
    train, labels = _blobs(200, 64, seed=1)
    model = fit_mahalanobis(train, labels, 3, n_components=8)
    held_out, _ = _blobs(50, 64, seed=2)
    shifted, _ = _blobs(50, 64, seed=3, shift=3.0)
    in_scores, out_scores = model.score(held_out), model.score(shifted)
    assert np.median(in_scores) == pytest.approx(1.0, abs=0.3)
    assert out_scores.min() > np.percentile(in_scores, 99)


def test_more_dimensions_than_samples_is_well_conditioned() -> None:
    train, labels = _blobs(10, 300, seed=4)
    model = fit_mahalanobis(train, labels, 3)
    assert np.all(np.isfinite(model.score(train)))
    with pytest.raises(ValueError, match="shape"):
        model.score(train[:, :10])


def test_energy_is_lower_for_confident_logits() -> None:
    e = energy_score(np.array([[10.0, 0.0, 0.0], [0.1, 0.0, 0.0]]))
    assert e[0] < e[1]


def test_thresholds_flag_at_most_the_budget() -> None:
    rng = np.random.default_rng(5)
    conf, ood = rng.uniform(0.3, 1.0, 483), rng.gamma(4.0, 0.25, 483)
    chosen = choose_thresholds(conf, ood, 0.02)
    assert 0.0 < chosen.rate <= 0.02
    assert ((conf < chosen.confidence) | (ood > chosen.ood)).mean() == pytest.approx(chosen.rate)
    assert chosen.stain == float("inf")
    # ties cannot push it over
    assert choose_thresholds(np.full(100, 0.9), np.ones(100), 0.02).rate <= 0.02
    # too few rows to spend the budget: nothing flagged
    few = choose_thresholds(conf[:10], ood[:10], 0.02)
    assert few.rate == 0.0
    # ... and the same rows scored again in another batch (float32 noise of a millionth or so) are
    # not flagged either: the threshold is not a hair above the highest score.
    assert not (ood[:10] * (1 + 1e-5) > few.ood).any()
    assert not (conf[:10] * (1 - 1e-5) < few.confidence).any()


def test_a_third_criterion_shares_the_same_budget() -> None:
    rng = np.random.default_rng(6)
    conf, ood, stain = rng.uniform(0.3, 1.0, 483), rng.gamma(4.0, 0.25, 483), rng.gamma(2.0, 0.5, 483)
    chosen = choose_thresholds(conf, ood, 0.02, stain)
    assert int((stain > chosen.stain).sum()) == int(0.02 * 483 / 3)
    flagged = (conf < chosen.confidence) | (ood > chosen.ood) | (stain > chosen.stain)
    assert flagged.mean() == pytest.approx(chosen.rate)
    assert chosen.rate <= 0.02


def _over_confident(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return 6.0 * (np.eye(3)[labels] * 3.0 + rng.normal(size=(len(labels), 3)))


def _fitted(seed: int = 6) -> tuple[TrustModel, np.ndarray, np.ndarray]:
    train, labels = _blobs(150, 32, seed=seed)
    val, val_labels = _blobs(100, 32, seed=seed + 1)
    rng = np.random.default_rng(seed)
    # over-confident logits: 6 x the (noisy) class evidence, right often enough (97.7 %, 98 % of the
    # accepted calls) for the fit to vouch for them
    val_logits = _over_confident(val_labels, rng)
    return fit_trust_arrays(train, labels, val, val_logits, val_labels, n_components=8), val, val_logits


def test_trust_assess_flags_low_confidence_and_strangers() -> None:
    trust, val, val_logits = _fitted()
    assert trust.temperature > 1.5
    assert trust.val_ece_after < trust.val_ece_before
    assert trust.val_flagged_rate <= 0.02
    rows = trust.assess(val_logits, val)
    assert np.mean([r.flagged for r in rows]) == pytest.approx(trust.val_flagged_rate)
    stranger = trust.assess(np.array([[5.0, 0.0, 0.0]]), val[:1] + 50.0)[0]
    assert stranger.flagged
    assert REASON_OUT_OF_DISTRIBUTION in stranger.reasons
    unsure = trust.assess(np.array([[0.0, 0.0, 0.0]]), val[:1])[0]
    assert unsure.reasons == (REASON_LOW_CONFIDENCE,)
    assert unsure.confidence == pytest.approx(1 / 3)
    assert set(unsure.to_dict()) == {
        "probabilities",
        "predicted",
        "confidence",
        "ood_score",
        "stain_score",
        "acquisition_score",
        "flagged",
        "reasons",
    }
    # Fitted without colours or acquisition descriptors: neither is checked.
    assert unsure.to_dict()["stain_score"] is None
    assert unsure.to_dict()["acquisition_score"] is None


def test_trust_round_trips_through_json_inline() -> None:
    trust, val, val_logits = _fitted()
    state = json.loads(json.dumps(trust.to_dict()))
    assert "arrays" in state
    again = TrustModel.from_dict(state)
    a, b = trust.assess(val_logits[:5], val[:5]), again.assess(val_logits[:5], val[:5])
    assert [x.ood_score for x in a] == pytest.approx([x.ood_score for x in b], rel=1e-4)
    assert [x.flagged for x in a] == [x.flagged for x in b]


def test_large_arrays_go_to_a_checked_npz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trust_module, "INLINE_FLOAT_LIMIT", 10)
    trust, val, _ = _fitted()
    state = json.loads(json.dumps(trust.to_dict(tmp_path)))
    assert state["arrays_file"] == "trust.npz"
    assert TrustModel.from_dict(state, tmp_path).ood_scores(val[:3]) == pytest.approx(
        trust.ood_scores(val[:3])
    )
    with pytest.raises(ModelArtifactError, match="no model folder"):
        TrustModel.from_dict(state)
    (tmp_path / "trust.npz").write_bytes(b"tampered")
    with pytest.raises(ModelArtifactError, match="sha256"):
        TrustModel.from_dict(state, tmp_path)


def test_malformed_state_is_refused() -> None:
    with pytest.raises(ModelArtifactError):
        TrustModel.from_dict({"version": 1, "temperature": 1.0})
    with pytest.raises(ModelArtifactError, match="version"):
        TrustModel.from_dict({"version": 99})


# -- a class absent from training, and numbers that are not numbers ------------------------------------


def _three_clusters() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = np.array([[10.0, 0.0], [-10.0, 0.0], [0.0, 10.0]])
    labels = np.repeat([0, 1, 2], 200)
    return centres[labels] + rng.normal(size=(600, 2)), labels


def test_a_class_absent_from_training_is_never_the_nearest() -> None:
    # Classes 0-2 trained, class 3 has no rows. A stand-in mean for class 3 (the global one) lay
    # between the clusters, so a point there, 6-10 sd from every real class, scored about 0.
    feats, labels = _three_clusters()
    model = fit_mahalanobis(feats, labels, 4)
    probe = feats.mean(axis=0, keepdims=True)
    assert np.isinf(model.class_distances(probe)[:, 3]).all()
    assert model.present.tolist() == [True, True, True, False]
    assert model.score(probe) == pytest.approx(fit_mahalanobis(feats, labels, 3).score(probe))
    assert model.score(probe)[0] > 3.0
    # Stored and loaded (float32, NaN row for the absent class), it scores the same.
    again = type(model).from_arrays(model.to_arrays())
    assert again.score(probe) == pytest.approx(model.score(probe), rel=1e-5)
    assert np.isfinite(again.score(feats)).all()


def test_an_absent_class_survives_the_trust_state() -> None:
    trust, val, _ = _fitted()  # labels 0-2 of the 4 classes
    assert not trust.mahalanobis.present[3]
    again = TrustModel.from_dict(json.loads(json.dumps(trust.to_dict())))
    assert not again.mahalanobis.present[3]
    assert again.ood_scores(val[:5]) == pytest.approx(trust.ood_scores(val[:5]), rel=1e-4)


def test_mahalanobis_arrays_that_cannot_score_are_refused() -> None:
    feats, labels = _three_clusters()
    arrays = fit_mahalanobis(feats, labels, 4).to_arrays()
    bad_mean = {**arrays, "means": arrays["means"].copy()}
    bad_mean["means"][0, 1] = np.nan  # half a mean
    for broken, message in [
        (bad_mean, "means"),
        ({**arrays, "means": np.full_like(arrays["means"], np.nan)}, "no class"),
        ({**arrays, "variances": -arrays["variances"]}, "variances"),
        ({**arrays, "residual_variance": np.array([np.inf], np.float32)}, "residual_variance"),
    ]:
        with pytest.raises(ValueError, match=message):
            type(fit_mahalanobis(feats, labels, 4)).from_arrays(broken)
    with pytest.raises(ValueError, match="class indices"):
        fit_mahalanobis(feats, labels + 2, 4)


def _checked_trust() -> tuple[TrustModel, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fitted trust with the stain and acquisition checks, on made-up descriptors."""
    train, labels = _blobs(150, 32, seed=6)
    val, val_labels = _blobs(100, 32, seed=7)
    rng = np.random.default_rng(6)
    val_logits = _over_confident(val_labels, rng)
    colours = lambda n: rng.normal(size=(n, 10))  # noqa: E731
    acquisition = lambda n: rng.normal(size=(n, 3))  # noqa: E731
    val_colours, val_acquisition = colours(300), acquisition(300)
    trust = fit_trust_arrays(
        train,
        labels,
        val,
        val_logits,
        val_labels,
        train_colours=colours(450),
        val_colours=val_colours,
        train_acquisition=acquisition(450),
        val_acquisition=val_acquisition,
        n_components=8,
    )
    return trust, val, val_logits, val_colours, val_acquisition


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # scipy's softmax of an infinite logit
@pytest.mark.parametrize(
    ("logit", "feature", "colour", "sharpness", "reasons"),
    [
        (np.nan, 0.0, 0.0, 0.0, {REASON_LOW_CONFIDENCE, REASON_INVALID_OUTPUT}),
        (np.inf, 0.0, 0.0, 0.0, {REASON_LOW_CONFIDENCE, REASON_INVALID_OUTPUT}),
        (0.0, np.nan, 0.0, 0.0, {REASON_OUT_OF_DISTRIBUTION, REASON_INVALID_OUTPUT}),
        (0.0, np.inf, 0.0, 0.0, {REASON_OUT_OF_DISTRIBUTION, REASON_INVALID_OUTPUT}),
        (0.0, 1e300, 0.0, 0.0, {REASON_OUT_OF_DISTRIBUTION}),  # finite, but its distance overflows
        (0.0, 0.0, np.nan, 0.0, {REASON_STAIN}),
        (0.0, 0.0, 0.0, np.inf, {REASON_ACQUISITION}),
    ],
)
def test_a_number_that_is_not_finite_is_flagged_not_passed(
    logit: float, feature: float, colour: float, sharpness: float, reasons: set[str]
) -> None:
    # NaN compares False with every threshold: `conf < threshold` and `ood > threshold` let it pass.
    trust, val, val_logits, val_colours, val_acquisition = _checked_trust()
    row = int(np.argmax([not r.flagged for r in trust.assess(val_logits, val, val_colours, val_acquisition)]))
    logits, feats = val_logits[row : row + 1].copy(), val[row : row + 1].copy()
    colours, acquisition = val_colours[row : row + 1].copy(), val_acquisition[row : row + 1].copy()
    assert not trust.assess(logits, feats, colours, acquisition)[0].flagged
    logits[0, 0] += logit
    feats[0, 0] += feature
    colours[0, 0] += colour
    acquisition[0, 0] += sharpness
    verdict = trust.assess(logits, feats, colours, acquisition)[0]
    assert verdict.flagged
    assert set(verdict.reasons) == reasons
    # The scores go to JSON as None rather than as NaN or Infinity.
    summary = verdict.to_dict()
    json.dumps({k: summary[k] for k in ("ood_score", "stain_score", "acquisition_score")}, allow_nan=False)


def test_an_unchecked_stain_or_acquisition_flags_nothing() -> None:
    trust, val, val_logits = _fitted()
    rows = trust.assess(val_logits, val)
    assert all(np.isnan(r.stain_score) and np.isnan(r.acquisition_score) for r in rows)
    assert np.mean([r.flagged for r in rows]) == pytest.approx(trust.val_flagged_rate)


@pytest.mark.parametrize("which", ["confidence", "ood", "stain"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_thresholds_are_not_chosen_on_scores_that_are_not_finite(which: str, bad: float) -> None:
    # One NaN among 100 OOD scores used to become the threshold itself: nothing was ever flagged.
    rng = np.random.default_rng(7)
    scores = {"confidence": rng.uniform(0.3, 1.0, 100), "ood": rng.gamma(4.0, 0.25, 100)}
    scores["stain"] = rng.gamma(2.0, 0.5, 100)
    scores[which][-1] = bad
    with pytest.raises(ModelArtifactError, match="not finite"):
        choose_thresholds(scores["confidence"], scores["ood"], 0.02, scores["stain"])


def _shipped_like_state() -> dict[str, Any]:
    trust, *_ = _checked_trust()
    return json.loads(json.dumps(trust.to_dict()))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("temperature",), 0.0),
        (("temperature",), -1.0),
        (("temperature",), float("nan")),
        (("temperature",), float("inf")),
        (("confidence_threshold",), float("nan")),
        (("confidence_threshold",), float("-inf")),
        (("ood_threshold",), float("nan")),
        (("ood_threshold",), float("inf")),
        (("stain", "threshold"), float("nan")),
        (("acquisition", "threshold"), float("nan")),
        (("acquisition", "threshold"), float("inf")),
    ],
)
def test_a_state_that_would_turn_a_check_off_is_refused(path: tuple[str, ...], value: float) -> None:
    state = _shipped_like_state()
    TrustModel.from_dict(state)  # as fitted, it loads
    target = state
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ModelArtifactError, match=re.escape(".".join(path))):
        TrustModel.from_dict(json.loads(json.dumps(state)))


def test_infinite_thresholds_load_where_fitting_gives_them() -> None:
    # No validation rows: `choose_thresholds` gives inf (nothing to choose on) and the state says n_val 0.
    state = _shipped_like_state()
    state.update(n_val=0, ood_threshold=float("inf"))
    state["stain"]["threshold"] = float("inf")
    # Every validation row already flagged: the acquisition threshold is -inf (refers everything).
    state["acquisition"]["threshold"] = float("-inf")
    loaded = TrustModel.from_dict(json.loads(json.dumps(state)))
    assert loaded.ood_threshold == loaded.stain_threshold == float("inf")
    assert loaded.acquisition_threshold == float("-inf")
    # Mahalanobis arrays that cannot score are named.
    state = _shipped_like_state()
    state["stain"]["arrays"]["variances"] = state["acquisition"]["arrays"]["means"]
    with pytest.raises(ModelArtifactError, match=r"stain\.arrays"):
        TrustModel.from_dict(state)
