"""The red-cell networks' weights are checked without TensorFlow (`manage.py check`) against tables of
their convolutions; those tables must stay the networks the engine builds and the shipped weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from inference.engine.red_cell_centres import (
    CENTRE_CONVOLUTIONS,
    CENTRE_MODEL_DIR,
    build_centre_net,
    check_centre_folder,
    convolution_arrays,
)
from inference.engine.red_cell_radius import (
    RADIUS_CONVOLUTIONS,
    RADIUS_MODEL_DIR,
    build_radius_net,
    check_radius_folder,
)


@pytest.mark.parametrize(
    ("build", "convolutions"),
    [(build_centre_net, CENTRE_CONVOLUTIONS), (build_radius_net, RADIUS_CONVOLUTIONS)],
    ids=["centre", "radius"],
)
def test_the_tables_are_the_built_networks(
    build: Callable[[], Any], convolutions: dict[str, tuple[int, int, int]]
) -> None:
    built = {variable.path: tuple(variable.shape) for variable in build().weights}
    assert built == convolution_arrays(convolutions)


def test_the_shipped_networks_pass_the_check() -> None:
    check_centre_folder(CENTRE_MODEL_DIR)
    check_radius_folder(RADIUS_MODEL_DIR)
