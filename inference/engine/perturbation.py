"""Colour and resolution perturbations for robustness checks (`--perturb` of the evaluate commands).

Applied to the RGB image as read, in the order a picture is made: the slide's and camera's colour,
then blur, scale, exposure, noise and JPEG, then tiles. Several combine, e.g. `hue=20,saturation=0.8`:

- `hue=N`: rotate hue by N degrees of the 360-degree colour wheel. OpenCV stores 8-bit hue as 0..179
  (2 degrees per step), so N is applied as round(N / 2) steps, modulo 180: resolution 2 degrees.
- `saturation=F`: multiply HSV saturation by F (0.5 halves it), clipped to 0..255.
- `brightness=F`: multiply HSV value by F, clipped to 0..255. A colour keeps its saturation, so a
  bright field does not turn white; `exposure` does.
- `exposure=F`: multiply every channel by F, clipped to 0..255, as a longer exposure or a higher gain
  gives: where the light is over the sensor's range the field is white (over-exposed).
- `haematoxylin=F`, `eosin=F`: multiply the haematoxylin or eosin density (colour deconvolution,
  Ruifrok and Johnston's stain vectors) by F, as a longer or shorter stain, or another stain batch,
  would; applied to the slide's colours before the camera's (hue, saturation, brightness).
- `blur=S`: a Gaussian blur of standard deviation S pixels (of the field as read), as a field out of
  focus would give.
- `scale=F`: resize by F (0.5 halves each side; area interpolation down, bilinear up), as a camera of
  lower or higher resolution, or another objective, would give. Counting scales its boxes with it.
- `noise=S`: Gaussian noise of standard deviation S grey levels on every channel, as a camera's sensor
  in dim light gives; drawn from a fixed seed, so a run repeats.
- `jpeg=Q`: the field saved as a JPEG of quality Q (1-100) and read back, as a camera or a laboratory
  system that compresses hard would give.
- `tile=K`: after the rest, the field mirrored into K x K copies (K = 1-8), as a larger camera sensor
  or a stitched field at the same magnification would give: more cells, the same size. Mirroring
  makes the cells cut by a seam whole, so the copies hold exactly the field's cells; counting
  multiplies its reference counts by K x K and mirrors its boxes into every copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .augment import hed_jitter

SCALE_RANGE = (0.1, 4.0)
TILE_RANGE = (1, 8)
BLUR_RANGE = (0.0, 20.0)
NOISE_RANGE = (0.0, 100.0)
JPEG_RANGE = (1, 100)
_FACTOR_RANGE = (0.0, 10.0)
_NOISE_SEED = 20261126
_NAMES = {
    "hue": "hue_degrees",
    "saturation": "saturation",
    "brightness": "brightness",
    "exposure": "exposure",
    "haematoxylin": "haematoxylin",
    "hematoxylin": "haematoxylin",
    "eosin": "eosin",
    "scale": "scale",
    "blur": "blur_sigma",
    "noise": "noise_sigma",
    "jpeg": "jpeg_quality",
    "tile": "tile",
}
_WHOLE = {"tile": TILE_RANGE, "jpeg": JPEG_RANGE}
_RANGES = {"scale": SCALE_RANGE, "blur": BLUR_RANGE, "noise": NOISE_RANGE}


@dataclass(frozen=True)
class Perturbation:
    hue_degrees: float = 0.0
    saturation: float = 1.0
    brightness: float = 1.0
    exposure: float = 1.0
    scale: float = 1.0
    haematoxylin: float = 1.0
    eosin: float = 1.0
    blur_sigma: float = 0.0
    noise_sigma: float = 0.0
    jpeg_quality: int | None = None
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
    def _degrades(self) -> bool:
        clipped = self.exposure != 1.0
        return self.blur_sigma > 0 or self.noise_sigma > 0 or self.jpeg_quality is not None or clipped

    @property
    def is_identity(self) -> bool:
        return not self._changes_colour and not self._degrades and self.scale == 1.0 and self.tile == 1

    @property
    def copies(self) -> int:
        """How many copies of the field the perturbed image holds."""
        return self.tile * self.tile

    def describe(self) -> str:
        parts = [f"hue={self.hue_degrees:g}"] if self._hue_steps else []
        for name in ("saturation", "brightness", "exposure", "haematoxylin", "eosin", "scale", "tile"):
            if getattr(self, name) != 1:
                parts.append(f"{name}={getattr(self, name):g}")
        for name, value in (("blur", self.blur_sigma), ("noise", self.noise_sigma)):
            if value > 0:
                parts.append(f"{name}={value:g}")
        if self.jpeg_quality is not None:
            parts.append(f"jpeg={self.jpeg_quality}")
        return ",".join(parts) or "none"

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """The perturbed copy of an RGB uint8 image."""
        if self.is_identity:
            return rgb
        out = self._recolour(rgb)
        if self.blur_sigma > 0:
            out = cv2.GaussianBlur(out, (0, 0), self.blur_sigma)
        if self.scale != 1.0:
            height, width = out.shape[:2]
            size = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
            interpolation = cv2.INTER_AREA if self.scale < 1.0 else cv2.INTER_LINEAR
            out = cv2.resize(out, size, interpolation=interpolation)
        if self.exposure != 1.0:
            # On the sensor: after the optics (focus, magnification), before its noise.
            out = np.clip(np.rint(out.astype(np.float32) * self.exposure), 0, 255).astype(np.uint8)
        if self.noise_sigma > 0:
            noise = np.random.default_rng(_NOISE_SEED).normal(0.0, self.noise_sigma, out.shape)
            out = np.clip(np.rint(out + noise), 0, 255).astype(np.uint8)
        if self.jpeg_quality is not None:
            out = _jpeg_round_trip(out, self.jpeg_quality)
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


def _jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError(f"OpenCV could not encode a JPEG of quality {quality}.")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError(f"OpenCV could not read back a JPEG of quality {quality}.")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def parse_perturbation(text: str | None) -> Perturbation | None:
    """Parse `hue=20,saturation=0.8,brightness=1.1,exposure=1.2,blur=1.5,scale=0.5,noise=8,jpeg=30,tile=3`;
    None, "" or "none" is no perturbation."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    values: dict[str, float] = {}
    whole: dict[str, int] = {}
    for part in text.split(","):
        key, sep, raw = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in _NAMES:
            raise ValueError(
                f"Bad perturbation {part!r}; use hue=DEGREES, saturation=FACTOR, brightness=FACTOR, "
                "exposure=FACTOR, haematoxylin=FACTOR, eosin=FACTOR, blur=PIXELS, scale=FACTOR, "
                "noise=LEVELS, jpeg=QUALITY, tile=COPIES."
            )
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"Bad number in perturbation {part!r}.") from None
        if not math.isfinite(value):
            raise ValueError(f"Bad number in perturbation {part!r}: it must be a finite number.")
        if key in _WHOLE:
            low_whole, high_whole = _WHOLE[key]
            if not value.is_integer() or not low_whole <= value <= high_whole:
                raise ValueError(f"{key} must be a whole number from {low_whole} to {high_whole}, got {raw}.")
            whole[_NAMES[key]] = int(value)
            continue
        low, high = _RANGES.get(key, _FACTOR_RANGE)
        if key != "hue" and not (low <= value <= high):
            raise ValueError(f"{key} must be between {low:g} and {high:g}, got {value:g}.")
        values[_NAMES[key]] = value
    return Perturbation(**values, tile=whole.get("tile", 1), jpeg_quality=whole.get("jpeg_quality"))
