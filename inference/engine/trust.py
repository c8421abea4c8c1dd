"""When to trust a prediction: calibrated confidence, an out-of-distribution score, and the flag.

`fit_trust` runs once at the end of training: temperature scaling on validation logits, class means
and a shared covariance of the penultimate features on the training images (`ood.py`), the same for
ten colour statistics of each field (`stain.py`), then three thresholds chosen on validation so that
at most `max_flagged_rate` (2 %) of validation images are flagged; then the same for three numbers
of each field's focus and noise (`acquisition.py`), whose threshold spends what is left of that
budget. `TrustModel.assess` turns a batch of (logits, features, colour descriptors, acquisition
descriptors) into per-image assessments.

The budget is spent without the labels, so it cannot tell a good model from a useless one: on a model
no better than chance it still finds a threshold (about 0.25 for four classes) and accepts the rest.
Two guards use what the budget does not: a fixed confidence floor (`CONFIDENCE_FLOOR`), below which a
call is flagged whatever threshold was fitted or stored, and the validation labels, which the fit
checks itself against (`checked_on_validation`): it refuses (`TrustFitRefusedError`) when the calls it
would accept are right less often than `MIN_ACCEPTED_ACCURACY`, and records that accuracy otherwise.

A flagged image is shown as "refer to pathologist", never as a confident class: the calibrated
confidence is below the threshold, or the image does not look like the training data to the network
(another laboratory, magnification, or not a smear at all), or its colours are not the training
laboratory's stain and lighting, or it is blurred or noisier than the training pictures. Every
check fails closed: a confidence or score that is not a finite number (NaN, infinity) flags the
image under that check's reason, and non-finite network outputs add `invalid_model_output`.

The fitted state is JSON-ready (`to_dict`); its arrays are inline, small for the heads we ship
(about 10^4 floats for a 256-wide feature layer). Where they are larger and the caller gives a folder,
they go to `trust.npz` beside model.json, with a sha256 in the dict.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .acquisition import acquisition_descriptors
from .calibration import fit_temperature, softmax
from .classes import CLASS_CODES
from .errors import DatasetError, EngineError, ModelArtifactError, TrustFitRefusedError
from .ood import DEFAULT_COMPONENTS, MahalanobisModel, fit_mahalanobis
from .stain import DESCRIPTOR_SIZE, STAIN_COMPONENTS, colour_descriptors

TRUST_VERSION = 1
MAX_FLAGGED_RATE = 0.02
# Below this calibrated probability of its class a call is flagged, whatever threshold the budget chose:
# the model itself then holds the call more likely wrong than right (for four classes chance is 0.25,
# where a budget threshold lands on a useless model). The shipped models' thresholds (0.935, 0.686) lie
# above it, so it changes none of their calls.
CONFIDENCE_FLOOR = 0.5
# The least accuracy of the validation calls the checks accept (not flagged) for a fit to be written:
# at most one accepted call in twenty wrong. The shipped models accept 474 of the 483 val fields and
# are right on 474 (ResNet50) and 472 (MobileNet) of them; chance (0.25), or a model that confuses two
# of the four classes (about 0.75), is far below.
MIN_ACCEPTED_ACCURACY = 0.95
# Arrays above this many floats go to trust.npz when a folder is given, instead of inline base64.
INLINE_FLOAT_LIMIT = 50_000
TRUST_ARRAYS_FILE = "trust.npz"

REASON_LOW_CONFIDENCE = "low_confidence"
REASON_OUT_OF_DISTRIBUTION = "out_of_distribution"
REASON_STAIN = "stain_out_of_range"
REASON_ACQUISITION = "focus_or_noise_out_of_range"
# The network's logits or features for the image hold NaN or infinity: nothing it says can be used.
REASON_INVALID_OUTPUT = "invalid_model_output"
# The acquisition descriptor's 3 numbers are few: the model keeps every direction.
ACQUISITION_COMPONENTS = 3


class FeatureExtractor(Protocol):
    """What trust needs from the predictor: one pass giving penultimate features and logits."""

    def features_and_logits(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Assessment:
    """The trust verdict on one image (or one cell crop)."""

    probabilities: tuple[float, ...]  # calibrated, in CLASS_CODES order
    predicted_index: int
    confidence: float  # calibrated probability of the predicted class
    ood_score: float  # Mahalanobis score; ~1 in distribution, larger is stranger; nan if unknown
    flagged: bool
    reasons: tuple[str, ...]
    stain_score: float = math.nan  # Mahalanobis score of the field's colour (`stain.py`); nan if unchecked
    acquisition_score: float = math.nan  # the same of its focus and noise (`acquisition.py`)

    @property
    def predicted_code(self) -> str:
        return CLASS_CODES[self.predicted_index]

    def to_dict(self) -> dict[str, Any]:
        return {
            "probabilities": dict(zip(CLASS_CODES, (round(p, 6) for p in self.probabilities), strict=False)),
            "predicted": self.predicted_code,
            "confidence": round(self.confidence, 6),
            "ood_score": _finite_or_none(self.ood_score),
            "stain_score": _finite_or_none(self.stain_score),
            "acquisition_score": _finite_or_none(self.acquisition_score),
            "flagged": self.flagged,
            "reasons": list(self.reasons),
        }


def _finite_or_none(score: float) -> float | None:
    """A score for JSON: None where it is unknown (unchecked) or not a finite number."""
    return round(score, 6) if math.isfinite(score) else None


@dataclass(frozen=True)
class TrustModel:
    temperature: float
    mahalanobis: MahalanobisModel
    confidence_threshold: float  # flag when calibrated confidence < this
    ood_threshold: float  # flag when ood_score > this
    val_flagged_rate: float
    val_ece_before: float
    val_ece_after: float
    n_train: int
    n_val: int
    stain: MahalanobisModel | None = None  # colour statistics of the training fields (`stain.py`)
    stain_threshold: float = math.inf
    acquisition: MahalanobisModel | None = None  # focus and noise of the training fields
    acquisition_threshold: float = math.inf
    # Accuracy of the validation calls not flagged (`checked_on_validation`); nan in older states.
    val_accepted_accuracy: float = math.nan

    def calibrated(self, logits: np.ndarray) -> np.ndarray:
        return softmax(logits, self.temperature)

    def ood_scores(self, features: np.ndarray) -> np.ndarray:
        return self.mahalanobis.score(features)

    def flags(self, confidence: np.ndarray, ood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boolean arrays (low confidence, out of distribution). Written as "not within the threshold"
        so that NaN, which compares False with everything, is flagged rather than passed. The confidence
        floor holds for a state fitted or edited with a threshold below it too."""
        confidence, ood = np.asarray(confidence), np.asarray(ood)
        least_confidence = max(self.confidence_threshold, CONFIDENCE_FLOOR)
        return ~(confidence >= least_confidence), ~(ood <= self.ood_threshold)

    def stain_scores(self, colours: np.ndarray | None, rows: int) -> np.ndarray:
        if self.stain is None:
            return np.full(rows, math.nan)
        if colours is None:
            raise EngineError("This model's trust checks the stain: pass the images' colour descriptors.")
        return self.stain.score(np.atleast_2d(np.asarray(colours, dtype=np.float64)))

    def image_checks(self, prepared: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The colour and acquisition descriptors of a batch of model-ready images, for `assess`; None
        for a check this state does not make (its statistics are then not worked out)."""
        colours = colour_descriptors(prepared) if self.stain is not None else None
        acquisition = acquisition_descriptors(prepared) if self.acquisition is not None else None
        return colours, acquisition

    def acquisition_scores(self, descriptors: np.ndarray | None, rows: int) -> np.ndarray:
        if self.acquisition is None:
            return np.full(rows, math.nan)
        if descriptors is None:
            raise EngineError(
                "This model's trust checks focus and noise: pass the images' acquisition descriptors."
            )
        return self.acquisition.score(np.atleast_2d(np.asarray(descriptors, dtype=np.float64)))

    def assess(
        self,
        logits: np.ndarray,
        features: np.ndarray,
        colours: np.ndarray | None = None,
        acquisition: np.ndarray | None = None,
    ) -> list[Assessment]:
        """Per-row assessments of a batch: logits (n, C), penultimate features (n, D) and, where the
        trust checks them, the images' colour descriptors (n, 10) from `stain.colour_descriptors` and
        acquisition descriptors (n, 3) from `acquisition.acquisition_descriptors`.
        """
        logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        probs = self.calibrated(logits)
        pred = probs.argmax(axis=1)
        conf = probs[np.arange(len(probs)), pred]
        ood = self.ood_scores(features)
        stain = self.stain_scores(colours, len(probs))
        sharpness = self.acquisition_scores(acquisition, len(probs))
        low, strange = self.flags(conf, ood)
        # An unchecked score is NaN by design and flags nothing; a checked one flags unless it is
        # within the threshold, so NaN from a check that was made is flagged.
        foreign = (self.stain is not None) & ~(stain <= self.stain_threshold)
        degraded = (self.acquisition is not None) & ~(sharpness <= self.acquisition_threshold)
        invalid = ~(
            np.isfinite(logits).all(axis=1)
            & np.isfinite(features).all(axis=1)
            & np.isfinite(probs).all(axis=1)
        )
        out = []
        for i in range(len(probs)):
            reasons = tuple(
                r
                for r, on in (
                    (REASON_LOW_CONFIDENCE, low[i]),
                    (REASON_OUT_OF_DISTRIBUTION, strange[i]),
                    (REASON_STAIN, foreign[i]),
                    (REASON_ACQUISITION, degraded[i]),
                    (REASON_INVALID_OUTPUT, invalid[i]),
                )
                if on
            )
            out.append(
                Assessment(
                    probabilities=tuple(float(p) for p in probs[i]),
                    predicted_index=int(pred[i]),
                    confidence=float(conf[i]),
                    ood_score=float(ood[i]),
                    flagged=bool(reasons),
                    reasons=reasons,
                    stain_score=float(stain[i]),
                    acquisition_score=float(sharpness[i]),
                )
            )
        return out

    # -- persistence ---------------------------------------------------------------------------------

    def to_dict(self, folder: str | Path | None = None) -> dict[str, Any]:
        """JSON-ready state; arrays inline (base64 float32), or in `folder`/trust.npz when large."""
        arrays = self.mahalanobis.to_arrays()
        size = sum(int(a.size) for a in arrays.values())
        state: dict[str, Any] = {
            "version": TRUST_VERSION,
            "method": self.method(),
            "temperature": self.temperature,
            "confidence_threshold": self.confidence_threshold,
            "ood_threshold": self.ood_threshold,
            "max_flagged_rate": MAX_FLAGGED_RATE,
            "confidence_floor": CONFIDENCE_FLOOR,
            "min_accepted_accuracy": MIN_ACCEPTED_ACCURACY,
            "val_flagged_rate": self.val_flagged_rate,
            "val_ece_before": self.val_ece_before,
            "val_ece_after": self.val_ece_after,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "feature_dim": self.mahalanobis.dimension,
            "components": int(self.mahalanobis.components.shape[1]),
        }
        if math.isfinite(self.val_accepted_accuracy):  # unknown for a state fitted before the check
            state["val_accepted_accuracy"] = self.val_accepted_accuracy
        if self.stain is not None:
            state["stain"] = {
                "method": "Mahalanobis (shared PPCA covariance) on 10 colour statistics of the field",
                "threshold": self.stain_threshold,
                "arrays": {name: _encode(a) for name, a in self.stain.to_arrays().items()},
            }
        if self.acquisition is not None:
            state["acquisition"] = self.acquisition_state()
        if folder is not None and size > INLINE_FLOAT_LIMIT:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
            data = buffer.getvalue()
            Path(folder, TRUST_ARRAYS_FILE).write_bytes(data)
            state["arrays_file"] = TRUST_ARRAYS_FILE
            state["arrays_sha256"] = hashlib.sha256(data).hexdigest()
        else:
            state["arrays"] = {name: _encode(a) for name, a in arrays.items()}
        return state

    def method(self) -> str:
        """How this state judges an image, in words (model.json and the model card)."""
        parts = ["temperature scaling; Mahalanobis (shared PPCA covariance) on penultimate features"]
        if self.stain is not None:
            parts.append("the same on the field's colour statistics (stain check)")
        if self.acquisition is not None:
            parts.append("and on its sharpness and noise (focus and noise check)")
        return "; ".join(parts)

    def acquisition_state(self) -> dict[str, Any] | None:
        """The focus and noise check's part of `to_dict` (None without the check)."""
        if self.acquisition is None:
            return None
        return {
            "method": "Mahalanobis (shared covariance) on the field's focus and noise: log Laplacian "
            "energy, log gradient energy, log noise (Immerkaer)",
            "threshold": self.acquisition_threshold,
            "arrays": {name: _encode(a) for name, a in self.acquisition.to_arrays().items()},
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any], folder: str | Path | None = None) -> TrustModel:
        """Rebuild from `to_dict` output; `folder` is the artifact folder when arrays live in trust.npz."""
        try:
            if state.get("version") != TRUST_VERSION:
                raise ModelArtifactError(f"Unsupported trust state version {state.get('version')!r}.")
            if "arrays" in state:
                arrays = {name: _decode(v) for name, v in state["arrays"].items()}
            else:
                arrays = _load_npz(state, folder)
            n_val = int(state.get("n_val", 0))
            # A flag-above threshold is infinite (flags nothing) only where `choose_thresholds` had no
            # validation rows to choose it on; the acquisition check's may be -inf (refers every
            # image: `acquisition_check.threshold_within_budget` when validation was all flagged).
            return cls(
                temperature=_temperature(state["temperature"]),
                mahalanobis=_check_arrays("arrays", lambda: MahalanobisModel.from_arrays(arrays)),
                confidence_threshold=_threshold(state["confidence_threshold"], "confidence_threshold"),
                ood_threshold=_threshold(state["ood_threshold"], "ood_threshold", above=n_val == 0),
                val_flagged_rate=float(state["val_flagged_rate"]),
                val_accepted_accuracy=float(state.get("val_accepted_accuracy", math.nan)),
                val_ece_before=float(state.get("val_ece_before", float("nan"))),
                val_ece_after=float(state.get("val_ece_after", float("nan"))),
                n_train=int(state.get("n_train", 0)),
                n_val=n_val,
                stain=_optional_check(state, "stain"),
                stain_threshold=_threshold(state["stain"]["threshold"], "stain.threshold", above=n_val == 0)
                if state.get("stain")
                else math.inf,
                acquisition=_optional_check(state, "acquisition"),
                acquisition_threshold=_threshold(
                    state["acquisition"]["threshold"], "acquisition.threshold", below=True
                )
                if state.get("acquisition")
                else math.inf,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelArtifactError(f"The trust state in model.json is malformed: {exc}") from exc


def _temperature(value: Any) -> float:
    """The stored temperature: softmax divides by it, so only 0 < T < inf means anything."""
    temperature = float(value)
    if not (0.0 < temperature < math.inf):
        raise ModelArtifactError(
            f"The trust state in model.json is malformed: temperature must be a positive finite number, "
            f"not {value!r}."
        )
    return temperature


def _threshold(value: Any, name: str, *, above: bool = False, below: bool = False) -> float:
    """A stored threshold: a finite number; +inf only where `above` allows it, -inf where `below` does.
    NaN is never one: every comparison with it is False, which would turn its check off."""
    threshold = float(value)
    if math.isfinite(threshold) or (threshold == math.inf and above) or (threshold == -math.inf and below):
        return threshold
    raise ModelArtifactError(
        f"The trust state in model.json is malformed: {name} must be a finite number, not {value!r}."
    )


def _check_arrays(name: str, build: Callable[[], MahalanobisModel]) -> MahalanobisModel:
    """`build()`, with a ValueError from its arrays' checks naming where they are in the state."""
    try:
        return build()
    except ValueError as exc:
        raise ModelArtifactError(f"The trust state in model.json is malformed: {name}: {exc}") from exc


def _optional_check(state: dict[str, Any], name: str) -> MahalanobisModel | None:
    """A check added after an artifact was made (the stain, the acquisition) is missing from the older
    ones: they are assessed without it."""
    check = state.get(name)
    if not check:
        return None
    arrays = {k: _decode(v) for k, v in check["arrays"].items()}
    return _check_arrays(f"{name}.arrays", lambda: MahalanobisModel.from_arrays(arrays))


def _encode(array: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(data.shape), "dtype": "float32", "b64": base64.b64encode(data.tobytes()).decode()}


def _decode(blob: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(blob["b64"])
    return np.frombuffer(raw, dtype="<f4").reshape(blob["shape"]).astype(np.float64)


def _load_npz(state: dict[str, Any], folder: str | Path | None) -> dict[str, np.ndarray]:
    if folder is None:
        raise ModelArtifactError("The trust arrays are in trust.npz but no model folder was given.")
    path = Path(folder, state["arrays_file"])
    if not path.is_file():
        raise ModelArtifactError(f"The model folder lacks {state['arrays_file']}.")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != state.get("arrays_sha256"):
        raise ModelArtifactError(f"{state['arrays_file']} does not match the sha256 in model.json.")
    with np.load(io.BytesIO(data)) as npz:
        return {name: npz[name] for name in npz.files}


# -- fitting --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    confidence: float  # flag below
    ood: float  # flag above
    stain: float  # flag above (inf when the stain is not checked)
    rate: float  # the fraction of the validation rows flagged


# How far above the highest validation score a threshold that flags none of them lies, relative.
_ABOVE_HIGHEST = 1e-3


def _flag_highest(scores: np.ndarray, count: int) -> float:
    """A threshold strictly between two observed scores above which the `count` highest lie."""
    ordered = np.sort(scores)
    if count == 0:
        # Above the highest by a margin the float32 network cannot cross by itself: a batch of another
        # size moved a score by a millionth of itself, which flagged the field that set the threshold.
        return float(ordered[-1] + _ABOVE_HIGHEST * abs(ordered[-1]) + 1e-9)
    return float((ordered[-count - 1] + ordered[-count]) / 2)


def _finite_scores(values: np.ndarray, what: str) -> np.ndarray:
    """`values` as float64, or ModelArtifactError saying how many are NaN or infinite."""
    scores = np.asarray(values, dtype=np.float64)
    bad = int(np.count_nonzero(~np.isfinite(scores)))
    if bad:
        raise ModelArtifactError(
            f"{bad} of {scores.size} validation {what} are not finite numbers (NaN or infinity): no "
            "threshold can be chosen on them; the model's outputs on those images need checking."
        )
    return scores


def choose_thresholds(
    confidence: np.ndarray,
    ood: np.ndarray,
    max_flagged_rate: float = MAX_FLAGGED_RATE,
    stain: np.ndarray | None = None,
) -> Thresholds:
    """Thresholds flagging at most `max_flagged_rate` of these (validation) rows.

    The budget is split evenly between the criteria (confidence, OOD score and, when given, the
    stain score): each threshold flags its share of the most extreme rows, at a value strictly
    between two observed ones, so ties cannot push the rate over.

    A confidence or score that is not a finite number is refused (`ModelArtifactError`): sorted
    last, NaN would become the threshold itself, or be counted among the rows flagged, and the check
    would stay off for every image.
    """
    conf = _finite_scores(confidence, "confidences")
    scores = _finite_scores(ood, "out-of-distribution scores")
    n = conf.size
    if n == 0:
        return Thresholds(0.0, math.inf, math.inf, 0.0)
    criteria = 2 if stain is None else 3
    per_criterion = int(np.floor(max_flagged_rate * n / criteria))
    conf_threshold = -_flag_highest(-conf, per_criterion)
    ood_threshold = _flag_highest(scores, per_criterion)
    flagged = (conf < conf_threshold) | (scores > ood_threshold)
    stain_threshold = math.inf
    if stain is not None:
        stain_scores = _finite_scores(stain, "stain scores")
        stain_threshold = _flag_highest(stain_scores, per_criterion)
        flagged |= stain_scores > stain_threshold
    return Thresholds(conf_threshold, ood_threshold, stain_threshold, float(flagged.mean()))


@dataclass(frozen=True)
class Collected:
    features: np.ndarray  # (n, D) penultimate features
    logits: np.ndarray  # (n, C)
    colours: np.ndarray  # (n, 10) colour descriptors (`stain.py`)
    acquisition: np.ndarray  # (n, 3) focus and noise descriptors (`acquisition.py`)


def collect_features(
    extractor: FeatureExtractor,
    images: Iterable[np.ndarray],
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> Collected:
    """Run prepared images (224x224x3 uint8) through the extractor in batches."""
    feats: list[np.ndarray] = []
    logits: list[np.ndarray] = []
    colours: list[np.ndarray] = []
    acquisition: list[np.ndarray] = []
    batch: list[np.ndarray] = []

    def flush() -> None:
        stacked = np.stack(batch)
        f, z = extractor.features_and_logits(stacked)
        feats.append(np.asarray(f, dtype=np.float32).reshape(len(batch), -1))
        logits.append(np.asarray(z, dtype=np.float32))
        colours.append(colour_descriptors(stacked))
        acquisition.append(acquisition_descriptors(stacked))
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for image in images:
        batch.append(image)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if not feats:
        return Collected(
            np.zeros((0, 0), np.float32),
            np.zeros((0, len(CLASS_CODES)), np.float32),
            np.zeros((0, DESCRIPTOR_SIZE), np.float32),
            acquisition_descriptors([]),
        )
    return Collected(
        np.concatenate(feats), np.concatenate(logits), np.concatenate(colours), np.concatenate(acquisition)
    )


def fit_trust_arrays(
    train_features: np.ndarray,
    train_labels: Sequence[int] | np.ndarray,
    val_features: np.ndarray,
    val_logits: np.ndarray,
    val_labels: Sequence[int] | np.ndarray,
    *,
    train_colours: np.ndarray | None = None,
    val_colours: np.ndarray | None = None,
    train_acquisition: np.ndarray | None = None,
    val_acquisition: np.ndarray | None = None,
    n_classes: int = len(CLASS_CODES),
    n_components: int = DEFAULT_COMPONENTS,
    max_flagged_rate: float = MAX_FLAGGED_RATE,
) -> TrustModel:
    """Fit the trust state from features already computed (no TensorFlow here).

    With colour descriptors of both sets, the stain check is fitted too (see `stain.py`); with
    acquisition descriptors of both, the focus and noise check (`with_acquisition_check`).
    """
    from .metrics import expected_calibration_error

    val_y = np.asarray(val_labels, dtype=np.int64)
    temperature = fit_temperature(val_logits, val_y)
    maha = fit_mahalanobis(train_features, np.asarray(train_labels), n_classes, n_components)
    stain = None
    if train_colours is not None and val_colours is not None:
        stain = fit_mahalanobis(train_colours, np.asarray(train_labels), n_classes, STAIN_COMPONENTS)
    probs = softmax(val_logits, temperature)
    thresholds = choose_thresholds(
        probs.max(axis=1),
        maha.score(val_features),
        max_flagged_rate,
        stain.score(val_colours) if stain is not None and val_colours is not None else None,
    )
    trust = TrustModel(
        temperature=temperature,
        mahalanobis=maha,
        confidence_threshold=max(thresholds.confidence, CONFIDENCE_FLOOR),
        ood_threshold=thresholds.ood,
        val_flagged_rate=thresholds.rate,  # measured again, with the floor, by `checked_on_validation`
        val_ece_before=expected_calibration_error(val_y, softmax(val_logits)),
        val_ece_after=expected_calibration_error(val_y, probs),
        n_train=len(train_features),
        n_val=len(val_features),
        stain=stain,
        stain_threshold=thresholds.stain,
    )
    if train_acquisition is not None and val_acquisition is not None:
        val_flagged = [row.flagged for row in trust.assess(val_logits, val_features, val_colours)]
        from .acquisition_check import with_acquisition_check

        trust = with_acquisition_check(
            trust, train_acquisition, train_labels, val_acquisition, val_flagged, max_flagged_rate
        )
    return checked_on_validation(trust, val_logits, val_features, val_y, val_colours, val_acquisition)


def checked_on_validation(
    trust: TrustModel,
    val_logits: np.ndarray,
    val_features: np.ndarray,
    val_labels: Sequence[int] | np.ndarray,
    val_colours: np.ndarray | None = None,
    val_acquisition: np.ndarray | None = None,
) -> TrustModel:
    """`trust` with the flagged rate and the accuracy of the accepted calls that it gives on these
    (validation) rows, assessed as a user's images would be.

    The thresholds spend the flag budget without the labels; this is where the labels have their say.
    Fewer than `MIN_ACCEPTED_ACCURACY` of the accepted calls right, or none accepted, and the fit is
    refused (`TrustFitRefusedError`, with the figures): its calls must not be shown as classes.
    """
    truth = np.asarray(val_labels, dtype=np.int64).reshape(-1)
    rows = trust.assess(val_logits, val_features, val_colours, val_acquisition)
    flagged = np.array([row.flagged for row in rows], dtype=bool)
    right = np.array([row.predicted_index for row in rows], dtype=np.int64) == truth
    accepted = int((~flagged).sum())
    accepted_right = int(right[~flagged].sum())
    if accepted == 0 or accepted_right / accepted < MIN_ACCEPTED_ACCURACY:
        raise TrustFitRefusedError(_refusal(len(rows), accepted, accepted_right, int(right.sum())))
    return replace(
        trust, val_flagged_rate=float(flagged.mean()), val_accepted_accuracy=accepted_right / accepted
    )


def _refusal(n: int, accepted: int, accepted_right: int, right: int) -> str:
    """Why a trust fit is refused, with the validation figures."""
    overall = f"over all {n} validation images the model is right {right} times ({right / max(n, 1):.1%})"
    if accepted == 0:
        found = (
            f"the checks accept none of the {n} validation images (each is referred: calibrated "
            f"confidence below the floor of {CONFIDENCE_FLOOR} or the fitted threshold, or another check)"
        )
    else:
        accuracy = accepted_right / accepted
        found = (
            f"the checks accept {accepted} of the {n} validation images ({(n - accepted) / n:.1%} "
            f"referred) and {accepted_right} of those calls are right: accepted accuracy {accuracy:.4f}, "
            f"below the {MIN_ACCEPTED_ACCURACY} required before a call is shown as a class"
        )
    return (
        f"Trust not fitted: {found}; {overall}. No thresholds are written: the model is not accurate "
        "enough for its calls to be vouched for. Train it further, or check the training and validation "
        "folders (labels, one sub-folder per class)."
    )


def fit_trust(
    predictor: FeatureExtractor,
    train_dir: str | Path,
    val_dir: str | Path,
    *,
    folder: str | Path | None = None,
    batch_size: int = 32,
    n_components: int = DEFAULT_COMPONENTS,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Fit calibration, OOD statistics and flag thresholds for a trained model; JSON-ready dict.

    `train_dir` and `val_dir` hold one sub-folder per class. Images go through the same
    `read_image` + `prepare_for_model` as inference, without augmentation. Pass the artifact
    `folder` so large arrays can be written to trust.npz beside model.json. A model whose accepted
    validation calls fall short of `MIN_ACCEPTED_ACCURACY` is refused (`TrustFitRefusedError`), before
    anything is written. So is a validation folder that shares images with the training folder
    (`DatasetError`), before the model is run: thresholds chosen and checked on training images vouch
    for calls the model would not make as well on a user's; training refuses it too, but a refit of an
    artifact's trust (`--fit-trust-only`) had not.
    """
    from .evaluation import iter_prepared

    train, val = labelled_folders(train_dir, val_dir)
    bar = progress_bar(len(train) + len(val), show_progress)
    train_set = collect_features(predictor, iter_prepared(train), batch_size, bar)
    val_set = collect_features(predictor, iter_prepared(val), batch_size, bar)
    trust = fit_trust_arrays(
        train_set.features,
        [label for _, label in train],
        val_set.features,
        val_set.logits,
        [label for _, label in val],
        train_colours=train_set.colours,
        val_colours=val_set.colours,
        train_acquisition=train_set.acquisition,
        val_acquisition=val_set.acquisition,
        n_components=n_components,
    )
    return trust.to_dict(folder)


def labelled_folders(
    train_dir: str | Path, val_dir: str | Path
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """The (image, label) lists of a training and a validation folder (one sub-folder per class); both
    must hold images, and the training folder every class: a class it lacks would have no training
    statistics, so its images could not be judged (`DatasetError`). Validation may lack a class, but
    not share images with training (`refuse_val_images_in_train`), as in training: thresholds chosen
    on images the model learned would vouch for calls it makes worse on a user's."""
    from .datasets import refuse_val_images_in_train
    from .evaluation import list_labelled_images

    train = list_labelled_images(train_dir)
    val = list_labelled_images(val_dir)
    if not train or not val:
        raise ModelArtifactError(
            "Trust is fitted on labelled images in both the training and validation folders."
        )
    seen = {label for _, label in train}
    missing = [code for index, code in enumerate(CLASS_CODES) if index not in seen]
    if missing:
        raise DatasetError(
            f"The training folder {str(train_dir)!r} has no images of class(es) {', '.join(missing)}: "
            "trust is fitted on every class, since a class without training images has no statistics "
            "to judge its images by."
        )
    refuse_val_images_in_train(train_dir, val_dir)
    return train, val


def progress_bar(total: int, show: bool) -> Callable[[int], None] | None:
    if not show:
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, desc="trust features", unit="img")
    return bar.update


def load_trust(state: dict[str, Any] | None, folder: str | Path | None = None) -> TrustModel | None:
    """The TrustModel stored in model.json["trust"], or None for a model fitted without one."""
    return None if not state else TrustModel.from_dict(state, folder)
