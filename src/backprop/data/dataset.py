"""The Dataset record: a data set's training part, its optional test part, and how it was made."""

from __future__ import annotations

import dataclasses

import numpy as np

from backprop.errors import InvalidInputError


@dataclasses.dataclass
class Dataset:
    """A data set with its training part and (optionally) its test part.

    ``X`` is float (rows are samples); ``y`` holds the raw targets: labels (1-D, any dtype: ints,
    strings) for classification, floats (1-D or 2-D) for regression, or None when a file has no
    target column (prediction). ``options`` reproduces the data set (recorded in a model's metadata).
    """

    name: str
    X: np.ndarray
    y: np.ndarray | None
    task: str  # "classification" | "regression"
    feature_names: list
    target: str | list | None = None
    kind: str = "tabular"  # "tabular" | "image"
    options: dict = dataclasses.field(default_factory=dict)
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    classes: list | None = None  # known class order (built-ins), else None: sorted unique labels

    @property
    def has_test(self) -> bool:
        return self.X_test is not None

    def part(self, split: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(X, y) of ``split``: "train", "test" or "all" (both parts stacked)."""
        if split == "train":
            return self.X, self.y
        if split == "test":
            if self.X_test is None:
                raise InvalidInputError(f"data set {self.name!r} has no test part; use --split all "
                                        "or give --test-fraction")
            return self.X_test, self.y_test
        if split == "all":
            if self.X_test is None:
                return self.X, self.y
            y = None if self.y is None else np.concatenate([self.y, self.y_test])
            return np.concatenate([self.X, self.X_test]), y
        raise InvalidInputError(f"split must be 'train', 'test' or 'all', got {split!r}")
