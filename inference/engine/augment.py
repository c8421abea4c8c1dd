"""Training-time augmentation on RGB uint8 arrays (NumPy/OpenCV, no TensorFlow).

Geometry (flips, right-angle and small free rotations) because a smear field has no orientation;
colour (hue, saturation, brightness, contrast) and stain (HED) jitter because another laboratory's
Giemsa/Wright batch, lamp or camera shifts the colours while the morphology that defines the class
does not change. Hue shifts are in degrees of the colour wheel (as `evaluation.py --perturb hue=N`);
`shift_hue` itself takes OpenCV units (0..179, 2 degrees per unit).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from skimage.color import hed_from_rgb, rgb_from_hed

_HED_FROM_RGB = np.asarray(hed_from_rgb, dtype=np.float64)
_RGB_FROM_HED = np.asarray(rgb_from_hed, dtype=np.float64)
# Optical density of each 8-bit intensity, -ln(max(v, 0.5) / 255): a table instead of a log per pixel.
_OD_TABLE = (-np.log(np.maximum(np.arange(256, dtype=np.float64), 0.5) / 255.0)).astype(np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    flips: bool = True
    rot90: bool = True
    max_rotation_deg: float = 15.0
    hue_shift: float = 25.0  # +/- degrees
    saturation: float = 0.2  # multiplicative +/- fraction
    brightness: float = 0.15  # multiplicative +/- fraction
    contrast: float = 0.15  # +/- fraction around the mean
    hed_sigma: float = 0.05  # per-stain scale jitter (Tellez et al. 2018)
    hed_bias: float = 0.05  # per-stain additive jitter, optical density units
    colour_probability: float = 0.8

    def to_dict(self) -> dict[str, float | bool]:
        return dict(self.__dict__)


NO_AUGMENTATION = AugmentConfig(
    flips=False,
    rot90=False,
    max_rotation_deg=0.0,
    hue_shift=0.0,
    saturation=0.0,
    brightness=0.0,
    contrast=0.0,
    hed_sigma=0.0,
    hed_bias=0.0,
    colour_probability=0.0,
)
FLIPS_ONLY = replace(NO_AUGMENTATION, flips=True, rot90=True)


def shift_hue(image: np.ndarray, delta: float) -> np.ndarray:
    """Rotate the hue of an RGB uint8 image by `delta` OpenCV units (wrapping around 180)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hue = (hsv[:, :, 0].astype(np.int16) + round(delta)) % 180
    hsv[:, :, 0] = hue.astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _scale_saturation_value(image: np.ndarray, saturation: float, value: float) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[:, :, 1] *= saturation
    hsv[:, :, 2] *= value
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)


def hed_jitter(image: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Perturb haematoxylin/eosin/DAB densities (hed' = hed * scale + bias per stain) of RGB uint8.

    The round trip RGB -> OD -> HED -> jitter -> OD is linear, so it folds into one 3x4 affine
    map applied by OpenCV; only the final exp is per pixel (about 1 ms for 224x224).
    """
    # Row vectors: od' = od @ (H diag(scale) R) + bias @ R; cv2.transform wants the column form.
    matrix = _HED_FROM_RGB @ np.diag(np.asarray(scale, np.float64)) @ _RGB_FROM_HED
    offset = np.asarray(bias, np.float64) @ _RGB_FROM_HED
    affine = np.hstack([matrix.T, offset[:, None]]).astype(np.float32)
    od = _OD_TABLE[image]
    jittered = cv2.transform(od, affine)
    out = cv2.exp(-jittered)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _adjust_contrast(image: np.ndarray, factor: float) -> np.ndarray:
    mean = float(image.mean())
    return np.clip((image.astype(np.float32) - mean) * factor + mean, 0, 255).astype(np.uint8)


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def augment_image(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """One random augmentation of an RGB uint8 (H, W, 3) image."""
    out = image
    if config.flips:
        if rng.random() < 0.5:
            out = out[:, ::-1]
        if rng.random() < 0.5:
            out = out[::-1]
    if config.rot90:
        out = np.rot90(out, int(rng.integers(0, 4)))
    out = np.ascontiguousarray(out)
    if config.max_rotation_deg > 0 and rng.random() < 0.5:
        out = _rotate(out, float(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg)))
    if config.colour_probability > 0 and rng.random() < config.colour_probability:
        if config.hed_sigma > 0 or config.hed_bias > 0:
            scale = rng.uniform(1 - config.hed_sigma, 1 + config.hed_sigma, size=3)
            bias = rng.uniform(-config.hed_bias, config.hed_bias, size=3)
            out = hed_jitter(out, scale, bias)
        if config.hue_shift > 0:
            out = shift_hue(out, float(rng.uniform(-config.hue_shift, config.hue_shift)) / 2.0)
        if config.saturation > 0 or config.brightness > 0:
            sat = float(rng.uniform(1 - config.saturation, 1 + config.saturation))
            val = float(rng.uniform(1 - config.brightness, 1 + config.brightness))
            out = _scale_saturation_value(out, sat, val)
        if config.contrast > 0:
            out = _adjust_contrast(out, float(rng.uniform(1 - config.contrast, 1 + config.contrast)))
    return out


def augment_batch(images: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Augment a (N, H, W, 3) uint8 batch; returns float32 0..255, ready for the model."""
    out = np.empty(images.shape, dtype=np.float32)
    for index, image in enumerate(images):
        out[index] = augment_image(image, rng, config)
    return out
