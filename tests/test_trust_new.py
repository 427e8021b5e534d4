"""Defects found by trying the newest features as a new user and as an attacker would (see each test)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from backprop.errors import InvalidInputError

pytest.importorskip("starlette", reason="the playground extra (starlette) is not installed")

from backprop.playground import arrays as _arrays  # noqa: E402
from backprop.playground import export as _export  # noqa: E402


class _Rows:
    """A sized sequence that must not be read: only its length may be asked for."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __array__(self, *args, **kwargs):  # pragma: no cover - the defect: converted before the check
        raise AssertionError("converted to an array before its row count was checked")


@pytest.mark.parametrize("which", ["X", "y"])
def test_too_many_rows_are_refused_before_converting_them(which):
    n = _export.MAX_ROWS + 1
    X, y = (_Rows(n), np.zeros(10)) if which == "X" else (np.zeros((10, 2)), _Rows(n))
    with pytest.raises(InvalidInputError, match=f"{which} has {n} rows; the playground takes 4 to"):
        _arrays.check_arrays(X, y)


def test_complex_x_is_refused_not_cut_to_its_real_part():
    X = np.zeros((10, 2)) + 1j
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before the fix: a ComplexWarning, then the real parts trained on
        with pytest.raises(InvalidInputError, match="X holds complex numbers; give real numbers"):
            _arrays.check_arrays(X, np.arange(10) % 2)


def test_byte_string_labels_are_their_text():
    X = np.arange(20.0).reshape(10, 2)
    y = np.array([b"cat", b"dog"] * 5)
    _, ya, names = _arrays.check_arrays(X, y)
    text = _arrays.to_csv(X, ya, names).decode()
    assert text.splitlines()[1].endswith(",cat") and "b'" not in text


def test_byte_labels_that_are_not_utf8_are_a_clear_error():
    y = np.array([b"\xff", b"a"] * 5)
    with pytest.raises(InvalidInputError, match="not UTF-8 text; give str labels"):
        _arrays.check_arrays(np.zeros((10, 2)), y)
