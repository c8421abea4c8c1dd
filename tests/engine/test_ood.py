"""OOD scoring: the PPCA Mahalanobis distance, the energy score, and the flag thresholds of trust."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.engine import trust as trust_module
from inference.engine.errors import ModelArtifactError
from inference.engine.ood import energy_score, fit_mahalanobis
from inference.engine.trust import (
    REASON_LOW_CONFIDENCE,
    REASON_OUT_OF_DISTRIBUTION,
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
    assert choose_thresholds(conf[:10], ood[:10], 0.02).rate == 0.0


def test_a_third_criterion_shares_the_same_budget() -> None:
    rng = np.random.default_rng(6)
    conf, ood, stain = rng.uniform(0.3, 1.0, 483), rng.gamma(4.0, 0.25, 483), rng.gamma(2.0, 0.5, 483)
    chosen = choose_thresholds(conf, ood, 0.02, stain)
    assert int((stain > chosen.stain).sum()) == int(0.02 * 483 / 3)
    flagged = (conf < chosen.confidence) | (ood > chosen.ood) | (stain > chosen.stain)
    assert flagged.mean() == pytest.approx(chosen.rate)
    assert chosen.rate <= 0.02


def _fitted(seed: int = 6) -> tuple[TrustModel, np.ndarray, np.ndarray]:
    train, labels = _blobs(150, 32, seed=seed)
    val, val_labels = _blobs(100, 32, seed=seed + 1)
    rng = np.random.default_rng(seed)
    # over-confident logits: 4 x the (noisy) class evidence
    val_logits = 4.0 * (np.eye(3)[val_labels] * 2.0 + rng.normal(size=(300, 3)))
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
