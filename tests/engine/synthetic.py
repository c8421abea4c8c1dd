"""Generated smear-like fields with known cells: pink red cells with a pale centre, purple nucleated
cells (violet nucleus in lilac cytoplasm) and small violet platelets, on light glass."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

BACKGROUND = (226, 228, 218)
RED_CELL = (196, 140, 142)
RED_CELL_CENTRE = (214, 178, 176)
CYTOPLASM = (196, 178, 214)
NUCLEUS = (112, 88, 196)
PLATELET = (150, 120, 200)
# Red cells as the ALL fields (all4) show them: blue-grey, CIELAB hue -76 degrees and chroma 33 from the
# glass, beside nuclei at -57; a stain turned towards magenta moves them into the nucleus score.
BLUE_GREY_RED_CELL = ((136, 152, 200), (176, 184, 212))
RGB = tuple[int, int, int]


@dataclass
class Field:
    rgb: np.ndarray
    n_red: int
    n_nucleated: int
    n_platelets: int
    red_radius: int
    nucleated_centres: list[tuple[int, int]] = field(default_factory=list)
    red_centres: list[tuple[int, int]] = field(default_factory=list)


def _disc(image: np.ndarray, centre: tuple[int, int], radius: float, colour: tuple[int, int, int]) -> None:
    cv2.circle(image, centre, round(radius), colour, thickness=-1, lineType=cv2.LINE_AA)


def _finish(image: np.ndarray, seed: int, radius: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blurred = cv2.GaussianBlur(image, (0, 0), max(0.6, radius / 16))
    noisy = blurred.astype(np.float32) + rng.normal(0.0, 3.0, size=image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def draw_red_cell(
    image: np.ndarray,
    centre: tuple[int, int],
    radius: int,
    colours: tuple[RGB, RGB] = (RED_CELL, RED_CELL_CENTRE),
) -> None:
    _disc(image, centre, radius, colours[0])
    _disc(image, centre, radius * 0.4, colours[1])


def draw_nucleated_cell(image: np.ndarray, centre: tuple[int, int], radius: int) -> None:
    _disc(image, centre, radius * 1.6, CYTOPLASM)
    _disc(image, centre, radius * 1.05, NUCLEUS)


def touching_field(
    radius: int = 12, seed: int = 0, red_colours: tuple[RGB, RGB] = (RED_CELL, RED_CELL_CENTRE)
) -> Field:
    """Ten red cells (four touching pairs overlapping by about a quarter of their diameter, two
    single), two nucleated cells and three platelets; the scene scales with `radius`. `red_colours`
    (cell, pale centre) stain the red cells otherwise, e.g. `BLUE_GREY_RED_CELL`."""
    r = radius
    width, height = 26 * r, 18 * r
    image = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    # Centre distance 1.5 r: the discs overlap by a quarter of a diameter.
    pair_step = round(1.5 * r)
    red_centres: list[tuple[int, int]] = []
    for col, row in ((3, 3), (3, 8), (3, 13), (11, 14)):
        x, y = col * r, row * r
        red_centres += [(x, y), (x + pair_step, y)]
    red_centres += [(17 * r, 15 * r), (22 * r, 15 * r)]
    for centre in red_centres:
        draw_red_cell(image, centre, r, red_colours)
    nucleated_centres = [(12 * r, 5 * r), (20 * r, 6 * r)]
    for centre in nucleated_centres:
        draw_nucleated_cell(image, centre, r)
    platelets = [(8 * r, 11 * r), (16 * r, 10 * r), (24 * r, 11 * r)]
    for centre in platelets:
        _disc(image, centre, max(1.5, 0.28 * r), PLATELET)
    return Field(
        rgb=_finish(image, seed, r),
        n_red=len(red_centres),
        n_nucleated=len(nucleated_centres),
        n_platelets=len(platelets),
        red_radius=r,
        nucleated_centres=nucleated_centres,
        red_centres=red_centres,
    )


def touching_nucleated_pair(radius: int = 10, seed: int = 0) -> Field:
    """Two nucleated cells whose cytoplasm and nuclei touch (large blasts side by side), plus red cells."""
    r = radius
    width, height = 20 * r, 12 * r
    image = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    red_centres = [(3 * r, 3 * r), (3 * r, 9 * r), (17 * r, 3 * r), (17 * r, 9 * r)]
    for centre in red_centres:
        draw_red_cell(image, centre, r)
    left, right = (8 * r, 6 * r), (8 * r + round(3.2 * r), 6 * r)
    for centre in (left, right):
        _disc(image, centre, r * 2.0, CYTOPLASM)
    for centre in (left, right):
        _disc(image, centre, r * 1.6, NUCLEUS)
    return Field(
        rgb=_finish(image, seed, r),
        n_red=len(red_centres),
        n_nucleated=2,
        n_platelets=0,
        red_radius=r,
        nucleated_centres=[left, right],
    )


def red_cells_against_a_white_cell(radius: int = 12, seed: int = 0) -> Field:
    """A large white cell (nucleus 1.3 r, cytoplasm to 2.0 r) with three red cells pressed into its
    rim and two apart.

    The mask is one blob whose distance transform rises towards the white cell, so the pressed red
    cells have no peak of their own (a BCCD neutrophil with its neighbours). The cytoplasm reaches
    0.7 r beyond the nucleus: on the CBC white cells the box edge lies a median 0.47 r beyond the
    nucleus on a side, 0.72 r on the widest side (docs/counting.md)."""
    r = radius
    width, height = 22 * r, 16 * r
    image = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    centre = (9 * r, 8 * r)
    # Centre distance 2.4 r: each red disc overlaps the cytoplasm by 0.6 r.
    angles = np.deg2rad([0.0, 120.0, 240.0])
    red_centres = [
        (round(centre[0] + 2.4 * r * np.cos(a)), round(centre[1] + 2.4 * r * np.sin(a))) for a in angles
    ]
    red_centres += [(19 * r, 3 * r), (19 * r, 13 * r)]
    _disc(image, centre, r * 2.0, CYTOPLASM)
    for red in red_centres:
        draw_red_cell(image, red, r)
    _disc(image, centre, r * 1.3, NUCLEUS)
    return Field(
        rgb=_finish(image, seed, r),
        n_red=len(red_centres),
        n_nucleated=1,
        n_platelets=0,
        red_radius=r,
        nucleated_centres=[centre],
        red_centres=red_centres,
    )


# A pale, bluish field like the all4 (Aria et al.) images at 100x: grey-blue red cells of low contrast.
PALE_BACKGROUND = (236, 238, 246)
PALE_RED_CELL = (184, 186, 206)
PALE_RED_CELL_CENTRE = (204, 206, 222)
PALE_NUCLEUS = (120, 100, 200)


def dense_pale_field(radius: int = 8, seed: int = 0, size: int = 224) -> Field:
    """A 224x224 field packed with pale red cells that touch in a network around patches of glass
    (a hexagonal lattice with about a third of the sites left empty), plus three nucleated cells.

    Filling every hole of such a network fills the glass between the cells too and the whole field
    reads as a few huge cells; this mimics the all4 image Early-438 where that happened."""
    rng = np.random.default_rng(seed)
    r = radius
    image = np.full((size, size, 3), PALE_BACKGROUND, dtype=np.uint8)
    nucleated_centres = [(size // 4, size // 3), (3 * size // 4, size // 4), (size // 2, 3 * size // 4)]
    step = 1.9 * r
    red_centres: list[tuple[int, int]] = []
    for row, y in enumerate(np.arange(r, size - r, step * 0.87)):
        for x in np.arange(r + (row % 2) * step / 2, size - r, step):
            centre = (round(x), round(y))
            clear = all(np.hypot(x - cx, y - cy) > 2.6 * r for cx, cy in nucleated_centres)
            if clear and rng.random() > 0.33:
                red_centres.append(centre)
    for centre in red_centres:
        _disc(image, centre, r, PALE_RED_CELL)
        _disc(image, centre, r * 0.45, PALE_RED_CELL_CENTRE)
    for centre in nucleated_centres:
        _disc(image, centre, r * 1.9, PALE_RED_CELL_CENTRE)
        _disc(image, centre, r * 1.4, PALE_NUCLEUS)
    return Field(
        rgb=_finish(image, seed, r),
        n_red=len(red_centres),
        n_nucleated=len(nucleated_centres),
        n_platelets=0,
        red_radius=r,
        nucleated_centres=nucleated_centres,
    )


def border_field(radius: int = 10, seed: int = 0) -> Field:
    """Six whole red cells (a touching pair and four single), one cut by the left border with about
    two thirds of it in the field (counted), and one outside the top border of which only a cap of
    about a quarter of a cell (30% of its width) is in the field (not counted: the neighbouring field
    has it; counters by eye count a cut cell from about 40-45% of its width)."""
    r = radius
    width, height = 22 * r, 14 * r
    image = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    centres = [(5 * r, 5 * r), (5 * r + round(1.3 * r), 5 * r), (13 * r, 5 * r), (18 * r, 5 * r)]
    centres += [(9 * r, 10 * r), (15 * r, 10 * r), (round(0.3 * r), 10 * r)]
    for centre in centres:
        draw_red_cell(image, centre, r)
    draw_red_cell(image, (15 * r, round(-0.4 * r)), r)
    return Field(rgb=_finish(image, seed, r), n_red=len(centres), n_nucleated=0, n_platelets=0, red_radius=r)


def ringed_field(
    radius: int = 30, columns: int = 3, rows: int = 3, seed: int = 0, pale_centre: float = 0.55
) -> Field:
    """A grid of `columns` x `rows` red cells, each 3 r apart, whose pale centres (`pale_centre` r) are as
    light as the glass: the rings that many CBC red cells show. On a field of nine of them the estimate
    reads about a quarter of the radius, since centres of 0.55 r are larger than the holes a field that
    small fills (a twentieth of its side); on a field of 24 they are filled and it reads the radius."""
    r = radius
    image = np.full((rows * 3 * r, columns * 3 * r, 3), BACKGROUND, dtype=np.uint8)
    centres = [
        (round((3 * i + 1.5) * r), round((3 * j + 1.5) * r)) for i in range(columns) for j in range(rows)
    ]
    for centre in centres:
        _disc(image, centre, r, RED_CELL)
        _disc(image, centre, pale_centre * r, BACKGROUND)
    return Field(
        rgb=_finish(image, seed, r),
        n_red=len(centres),
        n_nucleated=0,
        n_platelets=0,
        red_radius=r,
        red_centres=centres,
    )
