"""Typed errors of the analysis engine.

Every refusal says why, so the web layer can show the message as it is and the worker can store it.
"""


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class ImageError(EngineError, ValueError):
    """An input image that cannot be analysed."""


class EmptyImageError(ImageError):
    """The file has no bytes."""


class NotAnImageError(ImageError):
    """The bytes are not a decodable image of an accepted format."""


class UnsupportedImageError(ImageError):
    """A decodable image whose format, depth or channel layout we do not accept."""


class TruncatedImageError(ImageError):
    """The image ends before its data does (an interrupted upload or copy)."""


class ImageTooLargeError(ImageError):
    """More bytes or pixels than allowed; protects workers from decompression bombs."""


class ModelArtifactError(EngineError):
    """A model folder that is missing files, or whose weights do not match model.json."""


class DatasetError(EngineError):
    """A training or evaluation folder that does not have the expected layout."""


class TrustFitRefusedError(EngineError):
    """Trust fitting refused: on the validation images, the calls its checks would accept are not
    accurate enough to be shown as classes, so no thresholds are written for the model."""
