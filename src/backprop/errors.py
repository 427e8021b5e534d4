"""The package's own exceptions.

Every error a user can cause is one of these, so a caller can catch ``BackpropError``
and still get the built-in type (``ValueError``/``TypeError``) it expects.
"""


class BackpropError(Exception):
    """Base class of every error raised on purpose by backprop."""


class InvalidInputError(BackpropError, ValueError):
    """An argument, data array or file has a value that cannot be used; the message says which and why."""


class InvalidTypeError(BackpropError, TypeError):
    """An argument has a type that cannot be used; the message says which type is expected."""


class DivergenceError(BackpropError, FloatingPointError):
    """Training produced a non-finite loss or weight.

    ``epoch`` and ``step`` say where (1-based); the network is left at its last finite parameters.
    """

    def __init__(self, message, *, epoch=None, step=None, history=None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.history = history


class ModelFileError(BackpropError, ValueError):
    """A model or checkpoint file is missing, truncated, not safetensors, or does not match its metadata."""
