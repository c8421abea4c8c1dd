"""A field too large to classify whole is classified in views at the training scale, and one call is
pooled from the views' calls."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.engine.field_views import (
    REASON_VIEWS_DISAGREE,
    TRAINING_RADIUS_PX,
    View,
    field_views,
    pooled_assessment,
)
from inference.engine.trust import REASON_LOW_CONFIDENCE, Assessment


@pytest.mark.parametrize(
    ("shape", "radius"),
    [
        ((224, 224), 3.0),  # an all4-sized field, whatever its estimate says
        ((480, 640), 40.0),  # a BCCD field: 137 pixels across at the training scale
        ((300, 330), 8.4),  # under one and a half inputs at the training scale
        ((300, 330), 11.0),  # the same field at the training magnification: one input across
    ],
)
def test_a_field_of_about_one_input_at_the_training_scale_is_classified_whole(
    shape: tuple[int, int], radius: float
) -> None:
    assert field_views(shape, radius) is None


def test_a_field_over_one_input_whose_cells_are_small_is_cut_into_enlarged_views() -> None:
    # A 2x2 mosaic of training fields shrunk to 336 pixels: cells of 6.3 pixels, 4.2 at the input.
    views = field_views((336, 336), 6.3)
    assert views is not None
    side = round(224 * 6.3 / TRAINING_RADIUS_PX)  # 168 pixels, enlarged to the input
    assert {(view.height, view.width) for view in views} == {(side, side)}
    assert len(views) == 4


def test_a_field_twice_the_training_field_is_cut_into_four_views() -> None:
    views = field_views((448, 448), TRAINING_RADIUS_PX)
    assert views == [
        View(0, 0, 224, 224),
        View(0, 224, 224, 224),
        View(224, 0, 224, 224),
        View(224, 224, 224, 224),
    ]


def test_views_cover_the_field_at_the_training_scale() -> None:
    # Cells half the training radius: each view is 112 pixels, five across 500 and three down 300.
    views = field_views((300, 500), TRAINING_RADIUS_PX / 2)
    assert views is not None
    assert {(v.height, v.width) for v in views} == {(112, 112)}
    assert len(views) == 3 * 5
    covered = np.zeros((300, 500), bool)
    for view in views:
        covered[view.top : view.top + view.height, view.left : view.left + view.width] = True
    assert covered.all()
    rgb = np.arange(300 * 500 * 3, dtype=np.uint32).reshape(300, 500, 3)
    assert views[-1].of(rgb).shape == (112, 112, 3)
    assert views[-1].of(rgb)[-1, -1, 0] == rgb[-1, -1, 0]


def _call(probabilities: tuple[float, ...], ood: float, reasons: tuple[str, ...] = ()) -> Assessment:
    index = int(np.argmax(probabilities))
    return Assessment(
        probabilities=probabilities,
        predicted_index=index,
        confidence=probabilities[index],
        ood_score=ood,
        flagged=bool(reasons),
        reasons=reasons,
    )


def test_views_that_agree_give_their_mean_call() -> None:
    pooled = pooled_assessment([_call((0.1, 0.7, 0.1, 0.1), 0.8), _call((0.0, 0.9, 0.1, 0.0), math.nan)])
    assert pooled.probabilities == pytest.approx((0.05, 0.8, 0.1, 0.05))
    assert pooled.predicted_code == "early_pre_b"
    assert pooled.confidence == pytest.approx(0.8)
    assert pooled.ood_score == pytest.approx(0.8)
    assert math.isnan(pooled.stain_score)
    assert not pooled.flagged


def test_views_that_disagree_or_any_flagged_view_refer_the_field() -> None:
    disagree = pooled_assessment([_call((0.9, 0.1, 0, 0), 1.0), _call((0.2, 0.8, 0, 0), 2.5)])
    assert disagree.flagged
    assert disagree.reasons == (REASON_VIEWS_DISAGREE,)
    assert disagree.ood_score == pytest.approx(2.5)
    one_unsure = pooled_assessment(
        [_call((0.9, 0.1, 0, 0), 1.0), _call((0.5, 0.4, 0.1, 0), 1.0, (REASON_LOW_CONFIDENCE,))]
    )
    assert one_unsure.flagged
    assert one_unsure.reasons == (REASON_LOW_CONFIDENCE,)
