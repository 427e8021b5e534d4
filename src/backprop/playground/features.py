"""Input features of data on the plane, as TensorFlow Playground offers them: x1, x2, x1^2, x2^2,
x1*x2, sin(x1), sin(x2).

Each chosen feature is one input unit of the network. They are computed from the raw coordinates
of a point (the numbers on the plot's axes) and standardized afterwards, like any input column, by
``backprop.data.preparation``: computing them after standardizing would make x1^2 and sin(x1)
depend on the training rows' mean and spread instead of on the point itself, and standardizing
last gives every input unit mean 0 and spread 1 whatever its feature, so one learning rate suits
them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from backprop.errors import InvalidInputError

#: the features, in the order the page lists them: name -> f(x1, x2)
FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1*x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1),
    "sin(x2)": lambda x1, x2: np.sin(x2),
}
DEFAULT = ["x1", "x2"]


def check(value: object) -> list[str]:
    """``value`` as a list of feature names, or an error naming what is wrong and the choices."""
    choices = ", ".join(FEATURES)
    if not isinstance(value, list):
        raise InvalidInputError(f'features must be a list of input features like ["x1", "x2", "x1^2"], '
                                f"got {value!r:.60}")
    if not value:
        raise InvalidInputError(f"features must list at least one input feature; choose from: {choices}")
    seen = set()
    for f in value:
        if not isinstance(f, str) or f not in FEATURES:
            raise InvalidInputError(f"unknown input feature {f!r:.40}; choose from: {choices}")
        if f in seen:
            raise InvalidInputError(f"input feature {f!r} is listed twice; list each feature once")
        seen.add(f)
    return list(value)


def compute(raw: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """The feature columns of the points ``raw`` (rows of x1, x2), one column per feature."""
    raw = np.asarray(raw, np.float64)
    x1, x2 = raw[:, 0], raw[:, 1]
    return np.column_stack([FEATURES[f](x1, x2) for f in features])


def names(features: Sequence[str], columns: Sequence[str]) -> list[str]:
    """The features' names with x1 and x2 replaced by the data's own two column names."""
    c1, c2 = str(columns[0]), str(columns[1])
    if (c1, c2) == ("x1", "x2"):
        return list(features)
    return [f.replace("x1", "\0").replace("x2", c2).replace("\0", c1) for f in features]
