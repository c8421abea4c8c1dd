"""The stain check: colour statistics of a field, and trust that refers a foreign stain."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inference.engine.augment import shift_hue
from inference.engine.errors import EngineError
from inference.engine.preprocess import prepare_for_model
from inference.engine.stain import DESCRIPTOR_SIZE, colour_descriptor, colour_descriptors
from inference.engine.trust import REASON_STAIN, TrustModel, fit_trust_arrays

from .conftest import smear_image


def test_descriptor_of_a_field_of_known_colours() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, :80] = (200, 40, 40)
    image[:, 80:] = (40, 40, 200)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    descriptor = colour_descriptor(image)
    assert descriptor.shape == (DESCRIPTOR_SIZE,)
    assert descriptor[:3] == pytest.approx(lab.mean(axis=0), abs=1e-3)
    assert descriptor[3:6] == pytest.approx(lab.std(axis=0), abs=1e-3)
    red, blue = cv2.cvtColor(image[:1, [0, 99]], cv2.COLOR_RGB2LAB)[0].astype(float)
    # 80 % of pixels are red: the 10th and 90th percentiles of a and b are blue's and red's values.
    assert descriptor[6:] == pytest.approx([min(red[1], blue[1]), max(red[1], blue[1]), blue[2], red[2]])
    assert colour_descriptors([]).shape == (0, DESCRIPTOR_SIZE)


def _fields(rng: np.random.Generator, count: int, hue: float = 0.0) -> np.ndarray:
    images = [smear_image(rng, int(i % 4), size=96) for i in range(count)]
    return np.stack([prepare_for_model(shift_hue(im, hue / 2) if hue else im, 96) for im in images])


def _trust_with_stain(rng: np.random.Generator) -> tuple[TrustModel, np.ndarray, np.ndarray, np.ndarray]:
    train, val = _fields(rng, 200), _fields(rng, 150)
    labels = np.arange(200) % 4
    val_labels = np.arange(150) % 4
    # Features that say nothing about colour, as for a network trained with colour augmentation.
    train_f, val_f = rng.normal(size=(200, 8)), rng.normal(size=(150, 8))
    val_logits = 6.0 * np.eye(4)[val_labels] + rng.normal(size=(150, 4))
    trust = fit_trust_arrays(
        train_f,
        labels,
        val_f,
        val_logits,
        val_labels,
        train_colours=colour_descriptors(train),
        val_colours=colour_descriptors(val),
        n_components=4,
    )
    return trust, val_f, val_logits, val


def test_a_foreign_stain_is_referred_whatever_the_network_says() -> None:
    rng = np.random.default_rng(3)
    trust, val_f, val_logits, val = _trust_with_stain(rng)
    assert trust.val_flagged_rate <= 0.02
    shifted = _fields(rng, 40, hue=90)
    rows = trust.assess(val_logits[:40], val_f[:40], colour_descriptors(shifted))
    assert np.mean([REASON_STAIN in r.reasons for r in rows]) >= 0.9
    assert all(r.flagged for r in rows if REASON_STAIN in r.reasons)
    same = trust.assess(val_logits[:40], val_f[:40], colour_descriptors(val[:40]))
    assert np.mean([REASON_STAIN in r.reasons for r in same]) <= 0.05
    assert same[0].stain_score < rows[0].stain_score


def test_the_stain_check_survives_json_and_cannot_be_skipped() -> None:
    rng = np.random.default_rng(4)
    trust, val_f, val_logits, val = _trust_with_stain(rng)
    state = json.loads(json.dumps(trust.to_dict()))
    again = TrustModel.from_dict(state)
    colours = colour_descriptors(val[:5])
    assert [r.stain_score for r in again.assess(val_logits[:5], val_f[:5], colours)] == pytest.approx(
        [r.stain_score for r in trust.assess(val_logits[:5], val_f[:5], colours)], rel=1e-4
    )
    with pytest.raises(EngineError, match="colour descriptors"):
        again.assess(val_logits[:5], val_f[:5])
    # A model fitted before the check existed loads and is assessed without it.
    del state["stain"]
    older = TrustModel.from_dict(state)
    assert older.stain is None
    assert np.isnan(older.assess(val_logits[:1], val_f[:1])[0].stain_score)
