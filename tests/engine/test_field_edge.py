"""The dark surround of a field (a black band, frame or round field stop) is no cell: the segmentation
counts the field inside it as it counts the field alone. It was one huge cell that set the red-cell
radius (a 20-pixel band over an all4 field took the radius from 8 to 20 pixels). Its edge is the
picture's edge: a cell cut by a thin black frame is measured as a cell cut by the image border."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.engine.field_edge import outside_field
from inference.engine.segmentation import SegmentationParams, field_radius, segment_cells
from tests.engine.conftest import shared_data_path
from tests.engine.synthetic import BACKGROUND, NUCLEUS, draw_red_cell, touching_field

PARAMS = SegmentationParams(use_centre_network=False)
FRAMES = (1, 2, 3)


def _counts(rgb: np.ndarray) -> tuple[int, int, float]:
    result = segment_cells(rgb, PARAMS, measure=False)
    return result.n_nucleated, result.n_red, result.cell_radius_px


def test_an_ordinary_field_has_no_surround() -> None:
    assert not outside_field(touching_field().rgb).any()


def test_a_black_band_beside_the_cells_changes_no_count() -> None:
    field = touching_field(radius=12)
    banded = field.rgb.copy()
    banded[:, -24:] = 0  # the cells end 36 pixels from the right edge
    mask = outside_field(banded)
    assert mask[:, -24:].all()
    assert not mask[:, :-28].any()
    n_nucleated, n_red, radius = _counts(field.rgb)
    banded_nucleated, banded_red, banded_radius = _counts(banded)
    assert (banded_nucleated, banded_red) == (n_nucleated, n_red) == (field.n_nucleated, field.n_red)
    assert banded_radius == pytest.approx(radius, rel=0.1)


def test_a_round_field_stop_changes_no_count() -> None:
    field = touching_field(radius=12)
    height, width = field.rgb.shape[:2]
    pad = 60
    framed = cv2.copyMakeBorder(field.rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    yy, xx = np.mgrid[: framed.shape[0], : framed.shape[1]]
    # An ellipse through the padding: the whole field is inside it, the corners of the picture are black.
    beyond = ((yy - framed.shape[0] / 2) / (height / 2 + pad)) ** 2 + (
        (xx - framed.shape[1] / 2) / (width / 2 + pad)
    ) ** 2
    framed[beyond > 1.0] = 0
    assert outside_field(framed)[0, 0]
    n_nucleated, n_red, radius = _counts(framed)
    assert (n_nucleated, n_red) == (field.n_nucleated, field.n_red)
    assert radius == pytest.approx(_counts(field.rgb)[2], rel=0.1)


def test_dark_stain_and_a_dark_speck_inside_are_not_surround() -> None:
    rgb = touching_field(radius=12).rgb.copy()
    # Nucleus-coloured, darkened, against the border: stained, so it is a cell.
    rgb[:30, :30] = np.array(NUCLEUS) // 3
    # A black speck away from the border: debris for the segmentation, not the field's edge.
    rgb[100:110, 150:160] = 0
    assert not outside_field(rgb).any()


def _tinted(rgb: np.ndarray) -> np.ndarray:
    """As under a warm lamp without white balance: the glass 22 from neutral in chroma."""
    return np.clip(rgb * np.array([1.0, 0.93, 0.72]), 0, 255).astype(np.uint8)


def test_a_black_band_on_tinted_glass_is_found() -> None:
    # Black is far from such a glass's tint, so the band was taken for a huge cell.
    field = touching_field(radius=12)
    tinted = _tinted(field.rgb)
    banded = tinted.copy()
    banded[:, -24:] = 0
    mask = outside_field(banded)
    assert mask[:, -24:].all()
    assert not mask[:, :-28].any()
    assert _counts(banded)[:2] == _counts(tinted)[:2] == (field.n_nucleated, field.n_red)


def test_a_dark_navy_nucleus_at_the_border_is_not_surround() -> None:
    # Near black and nearly grey (chroma 10, as the darkest all4 nucleus at a border), but stained.
    rgb = _tinted(touching_field(radius=12).rgb)
    rgb[:12, :12] = (25, 28, 43)
    assert not outside_field(rgb).any()


def test_a_picture_that_is_all_surround_keeps_its_pixels() -> None:
    # Bright specks in black: grown over, the surround would leave no glass to paint it with.
    rgb = np.zeros((224, 224, 3), np.uint8)
    rgb[::4, ::4] = 230
    assert not outside_field(rgb).any()
    result = segment_cells(rgb, PARAMS, measure=False)
    assert (result.n_nucleated, result.n_red) == (0, 0)


def _cells_past_every_border(radius: int, seed: int, step: float, size: int = 224) -> np.ndarray:
    """Red cells of 0.8-1.2 `radius` on a jittered hexagonal lattice `step` radii apart that runs past
    every border, so that a sixth of them or more are cut by it, as in a real field."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), BACKGROUND, np.uint8)
    spacing = step * radius
    for row, y in enumerate(np.arange(0, size + radius, 0.87 * spacing)):
        for x in np.arange((row % 2) * spacing / 2, size + radius, spacing):
            jitter = rng.uniform(-0.2, 0.2, 2) * radius
            centre = (round(x + jitter[0]), round(y + jitter[1]))
            draw_red_cell(image, centre, round(radius * rng.uniform(0.8, 1.2)))
    blurred = cv2.GaussianBlur(image, (0, 0), 0.65)
    noisy = blurred.astype(np.float32) + rng.normal(0.0, 3.0, size=image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _framed(rgb: np.ndarray, width: int) -> np.ndarray:
    framed = rgb.copy()
    framed[:width] = framed[-width:] = 0
    framed[:, :width] = framed[:, -width:] = 0
    return framed


def _cropped(rgb: np.ndarray, width: int) -> np.ndarray:
    """The field without the frame and the pixel of its edge that the surround takes in."""
    return np.ascontiguousarray(rgb[width + 1 : -width - 1, width + 1 : -width - 1])


def test_a_thin_frame_is_found_as_a_band_is() -> None:
    rgb = touching_field(radius=12).rgb
    for width in FRAMES:
        mask = outside_field(_framed(rgb, width))
        inner = mask[width + 1 : -width - 1, width + 1 : -width - 1]
        assert mask[: width + 1].all()
        assert mask[:, -width - 1 :].all()
        assert not inner.any()


def test_a_thin_black_frame_does_not_move_the_radius() -> None:
    # The cells cut by a painted frame lost their depth, where the image border lets the distance run
    # on: the radius read 0.93-1.0 of the cropped field's, 0.96 at the median.
    ratios = []
    for seed in range(6):
        rgb = _cells_past_every_border(radius=10, seed=seed, step=2.3)
        for width in FRAMES:
            framed = field_radius(_framed(rgb, width), PARAMS)
            ratios.append(framed / field_radius(_cropped(rgb, width), PARAMS))
    # The estimate jumps by a few percent with any change to a field: so do crops one pixel apart.
    assert float(np.median(ratios)) == pytest.approx(1.0, abs=0.01), ratios
    assert all(abs(ratio - 1.0) < 0.05 for ratio in ratios), ratios


def test_a_thin_black_frame_counts_the_cells_it_cuts_as_the_border_does() -> None:
    # At one radius, so that only the frame differs: up to 4 red cells from the cropped field before.
    params = SegmentationParams(use_centre_network=False, cell_radius_px=10.0)
    differences = []
    for seed in range(3):
        rgb = _cells_past_every_border(radius=10, seed=seed, step=2.8)
        for width in FRAMES:
            framed = segment_cells(_framed(rgb, width), params, measure=False).n_red
            differences.append(framed - segment_cells(_cropped(rgb, width), params, measure=False).n_red)
    assert max(abs(difference) for difference in differences) <= 1, differences
    assert sum(abs(difference) for difference in differences) <= 2, differences


DATA_FIELDS = (
    ("counting", "cbc", "Images", "BloodImage_00000.jpg"),
    ("all4", "val", "Benign", "WBC-Benign-249.jpg"),
    ("all4", "val", "Early", "WBC-Malignant-Early-266.jpg"),
    ("all4", "val", "Pro", "WBC-Malignant-Pro-796.jpg"),
    ("all4", "val", "Pre", "WBC-Malignant-Pre-894.jpg"),
)


def test_a_thin_black_frame_on_data_set_fields_counts_as_the_cropped_field() -> None:
    # Before: the radius 0.81-1.0 of the cropped field's (0.95 at the median), and the red cells 8.3
    # apart on average (up to 26: Benign-249 framed by one pixel, 140 for 114).
    ratios, differences = [], []
    for parts in DATA_FIELDS:
        rgb = cv2.cvtColor(cv2.imread(str(shared_data_path(*parts))), cv2.COLOR_BGR2RGB)
        for width in FRAMES:
            framed = segment_cells(_framed(rgb, width), measure=False)
            cropped = segment_cells(_cropped(rgb, width), measure=False)
            ratios.append(framed.cell_radius_px / cropped.cell_radius_px)
            differences.append(framed.n_red - cropped.n_red)
    assert float(np.median(ratios)) == pytest.approx(1.0, abs=0.02), ratios
    assert all(abs(ratio - 1.0) < 0.1 for ratio in ratios), ratios
    # A field cropped by one pixel more moves by as much: the counts jump with any change.
    assert float(np.mean(np.abs(differences))) <= 3.0, differences
