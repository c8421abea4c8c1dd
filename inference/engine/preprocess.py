"""Colour normalisation and resizing shared by training, inference and the benchmark."""

from __future__ import annotations

import cv2
import numpy as np

CLAHE_CLIP_LIMIT = 2.0
CLAHE_TILES = (8, 8)
MODEL_INPUT_SIZE = 224


def clahe_rgb(image: np.ndarray) -> np.ndarray:
    """Equalise contrast on the luminance channel only, so stain hues are kept."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=CLAHE_TILES)
    lab[:, :, 0] = clahe.apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def resize_for_model(image: np.ndarray, size: int = MODEL_INPUT_SIZE) -> np.ndarray:
    if image.shape[:2] == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)


def prepare_for_model(image: np.ndarray, size: int = MODEL_INPUT_SIZE) -> np.ndarray:
    """CLAHE then bilinear resize: RGB uint8 (size, size, 3).

    The backbone's own `preprocess_input` is applied inside the model graph (see the classifier),
    so this array is what every caller hands to the model, whatever the backbone.
    """
    return resize_for_model(clahe_rgb(image), size)
