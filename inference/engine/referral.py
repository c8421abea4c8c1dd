"""Why an image is referred to the pathologist, in words: the reason codes of the trust checks
(`trust.py`), of the views of a large field (`field_views.py`) and of a model without trust, each with
what the check saw and what the laboratory can do about it. `ImageCall.to_dict` gives them as
`reason_texts` beside the codes.
"""

from __future__ import annotations

from .field_views import REASON_VIEWS_DISAGREE
from .trust import (
    REASON_ACQUISITION,
    REASON_INVALID_OUTPUT,
    REASON_LOW_CONFIDENCE,
    REASON_OUT_OF_DISTRIBUTION,
    REASON_STAIN,
)

REASON_TRUST_NOT_FITTED = "trust_not_fitted"
# Why an image is referred, in words for the pathologist and the laboratory: what the check saw and
# what can be done about it.
REASON_TEXTS = {
    REASON_LOW_CONFIDENCE: "The model is not confident enough in any class.",
    REASON_OUT_OF_DISTRIBUTION: "The image does not look like the images the model was trained on "
    "(another laboratory, magnification or preparation, or not a smear).",
    REASON_STAIN: "The stain or lighting differs from the training laboratory's; the model is not "
    "validated for these colours.",
    REASON_ACQUISITION: "The picture is blurred or noisier than the pictures the model was validated on, "
    "or enlarged from a lower resolution; check the focus and the camera, and take it again.",
    REASON_INVALID_OUTPUT: "The model's output for this image is not a valid number (undefined or "
    "infinite), so nothing it says about the image can be used; analyse it again, and if this recurs, "
    "report it: the model or the software needs checking.",
    REASON_VIEWS_DISAGREE: "The parts of this large field were given different classes.",
    REASON_TRUST_NOT_FITTED: "This model has no fitted trust checks, so no call can be vouched for.",
}
