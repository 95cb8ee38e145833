"""Errors a user can cause. Each says what was wrong and what to do.

The CLI prints them on one line and exits with status 1."""


class DigitnetError(Exception):
    """Base class for every error a user can cause (bad file, bad option, diverging training)."""


class DataError(DigitnetError):
    """A data file or dataset that cannot be read: wrong format, corrupt, missing, offline."""


class SpecError(DigitnetError):
    """A network spec, preset or layer option that does not make sense."""


class ModelFileError(DigitnetError):
    """A model file that is missing, corrupt, truncated or not a digitnet model."""


class TrainingError(DigitnetError):
    """Training that cannot go on, e.g. the loss became NaN or infinite."""


class ImageError(DataError):
    """An image that cannot be read or holds no digit: not an image, too large, blank."""
