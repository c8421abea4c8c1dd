"""Colour and resolution perturbations for robustness checks (`--perturb` of the evaluate commands).

Applied to the RGB image as read, colour first; several combine, e.g. `hue=20,saturation=0.8`:

- `hue=N`: rotate hue by N degrees of the 360-degree colour wheel. OpenCV stores 8-bit hue as 0..179
  (2 degrees per step), so N is applied as round(N / 2) steps, modulo 180: resolution 2 degrees.
- `saturation=F`: multiply HSV saturation by F (0.5 halves it), clipped to 0..255.
- `brightness=F`: multiply HSV value by F, clipped to 0..255.
- `haematoxylin=F`, `eosin=F`: multiply the haematoxylin or eosin density (colour deconvolution,
  Ruifrok and Johnston's stain vectors) by F, as a longer or shorter stain, or another stain batch,
  would; applied to the slide's colours before the camera's (hue, saturation, brightness).
- `scale=F`: resize by F (0.5 halves each side; area interpolation down, bilinear up), as a camera of
  lower or higher resolution, or another objective, would give. Counting scales its boxes with it.
- `tile=K`: after the rest, the field mirrored into K x K copies (K = 1-8), as a larger camera sensor
  or a stitched field at the same magnification would give: more cells, the same size. Mirroring
  makes the cells cut by a seam whole, so the copies hold exactly the field's cells; counting
  multiplies its reference counts by K x K and mirrors its boxes into every copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .augment import hed_jitter

SCALE_RANGE = (0.1, 4.0)
TILE_RANGE = (1, 8)
_FACTOR_RANGE = (0.0, 10.0)
_NAMES = {
    "hue": "hue_degrees",
    "saturation": "saturation",
    "brightness": "brightness",
    "haematoxylin": "haematoxylin",
    "hematoxylin": "haematoxylin",
    "eosin": "eosin",
    "scale": "scale",
    "tile": "tile",
}


@dataclass(frozen=True)
class Perturbation:
    hue_degrees: float = 0.0
    saturation: float = 1.0
    brightness: float = 1.0
    scale: float = 1.0
    haematoxylin: float = 1.0
    eosin: float = 1.0
    tile: int = 1

    @property
    def _hue_steps(self) -> int:
        return round(self.hue_degrees / 2) % 180

    @property
    def _changes_colour(self) -> bool:
        return self._hue_steps != 0 or self._changes_stain or self.saturation != 1.0 or self.brightness != 1.0

    @property
    def _changes_stain(self) -> bool:
        return self.haematoxylin != 1.0 or self.eosin != 1.0

    @property
    def is_identity(self) -> bool:
        return not self._changes_colour and self.scale == 1.0 and self.tile == 1

    @property
    def copies(self) -> int:
        """How many copies of the field the perturbed image holds."""
        return self.tile * self.tile

    def describe(self) -> str:
        parts = [f"hue={self.hue_degrees:g}"] if self._hue_steps else []
        for name in ("saturation", "brightness", "haematoxylin", "eosin", "scale", "tile"):
            if getattr(self, name) != 1:
                parts.append(f"{name}={getattr(self, name):g}")
        return ",".join(parts) or "none"

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """The perturbed copy of an RGB uint8 image."""
        if self.is_identity:
            return rgb
        out = self._recolour(rgb)
        if self.scale != 1.0:
            height, width = out.shape[:2]
            size = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
            interpolation = cv2.INTER_AREA if self.scale < 1.0 else cv2.INTER_LINEAR
            out = cv2.resize(out, size, interpolation=interpolation)
        if self.tile > 1:
            height, width = out.shape[:2]
            out = np.pad(
                out, ((0, (self.tile - 1) * height), (0, (self.tile - 1) * width), (0, 0)), "symmetric"
            )
        return out

    def _recolour(self, rgb: np.ndarray) -> np.ndarray:
        if not self._changes_colour:
            return rgb
        if self._changes_stain:
            rgb = hed_jitter(rgb, np.array([self.haematoxylin, self.eosin, 1.0]), np.zeros(3))
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        if self._hue_steps:
            hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int16) + self._hue_steps) % 180).astype(np.uint8)
        for channel, factor in ((1, self.saturation), (2, self.brightness)):
            if factor != 1.0:
                scaled = hsv[:, :, channel].astype(np.float32) * factor
                hsv[:, :, channel] = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def parse_perturbation(text: str | None) -> Perturbation | None:
    """Parse `hue=20,saturation=0.8,brightness=1.1,scale=0.5,tile=3`; None, "" or "none" is no
    perturbation."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    values: dict[str, float] = {}
    tile = 1
    for part in text.split(","):
        key, sep, raw = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in _NAMES:
            raise ValueError(
                f"Bad perturbation {part!r}; use hue=DEGREES, saturation=FACTOR, brightness=FACTOR, "
                "haematoxylin=FACTOR, eosin=FACTOR, scale=FACTOR, tile=COPIES."
            )
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"Bad number in perturbation {part!r}.") from None
        if key == "tile":
            if not value.is_integer() or not TILE_RANGE[0] <= value <= TILE_RANGE[1]:
                raise ValueError(
                    f"tile must be a whole number of copies from 1 to {TILE_RANGE[1]}, got {raw}."
                )
            tile = int(value)
            continue
        low, high = SCALE_RANGE if key == "scale" else _FACTOR_RANGE
        if key != "hue" and not (low <= value <= high):
            raise ValueError(f"{key} factor must be between {low:g} and {high:g}, got {value:g}.")
        values[_NAMES[key]] = value
    return Perturbation(**values, tile=tile)
