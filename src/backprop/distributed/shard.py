"""The worker's side: the rows a worker holds, and the gradient sums of eq. (3) over them.

Eq. (3) is a sum over samples divided by m. Split the rows of a batch among workers and each
worker's part of that sum, sum_d delta_j^k a_i^{k-1} over its own rows d (eq. (1)), can be
computed where the rows are; the driver adds the parts and divides by m once. This module is
what runs on the workers:

* :func:`prepare_block` turns one row block of the user's data (a NumPy block of a Dask array, or a
  pandas partition) into the checked ``(X, Y)`` pair that training uses -- the same checks and
  conversions as ``Network.fit`` (``check_xy``), plus class labels encoded as one-hot rows.
  It runs as an ordinary Dask task, so a block lost with its worker is computed (or read) again.
* :class:`Shard` is a Dask actor: it keeps a fixed group of those blocks and, once per update,
  receives the weights and its rows' positions and returns the summed gradients. The blocks stay
  where they are between updates; only weights and sums travel.

Everything here is plain NumPy on the worker; nothing imports Dask.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop.core.validation import check_xy
from backprop.data.datasets import encode_labels
from backprop.errors import InvalidInputError

#: rows gathered per call of the network's gradient sum: bounds the worker's scratch memory
CHUNK_ROWS = 8192


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """What a worker needs to check a block: the network's shape, output and dtype (not its weights)."""

    sizes: tuple
    output: str
    dtype: str
    columns: tuple | None = None   # data frames: the feature columns, in the network's input order
    target: str | None = None      # data frames: the target column
    classes: tuple | None = None   # data frames with class labels: the labels, in output order


def prepare_block(x: Any, y: Any, spec: BlockSpec, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The checked ``(X, Y)`` of row block ``index``; an error names the block (and its row inside)."""
    if y is None:  # a pandas partition holding both the features and the target
        x, y = _split_frame(x, spec)
    elif hasattr(x, "to_numpy"):
        x = x.to_numpy()
        y = y.to_numpy() if hasattr(y, "to_numpy") else y
    try:
        X, Y = check_xy(x, y, _Shape(spec))
    except InvalidInputError as exc:
        raise InvalidInputError(f"row block {index} of the data (rows counted inside it): {exc}") from None
    return X, Y


class _Shape:
    """The attributes of a Network that ``check_xy`` reads."""

    def __init__(self, spec):
        self.sizes, self.output, self.dtype = list(spec.sizes), spec.output, np.dtype(spec.dtype)


def _split_frame(frame, spec):
    X = frame[list(spec.columns)].to_numpy()
    y = frame[spec.target].to_numpy()
    if spec.classes is not None:
        y = encode_labels(y, list(spec.classes), where=f"target column {spec.target!r}")
    elif y.dtype == object or y.dtype.kind in "USb":
        raise InvalidInputError(
            f"target column {spec.target!r} holds labels, not numbers; a network with one output "
            "needs numeric targets (0/1 for a sigmoid output)"
        )
    return X, y


def block_rows(pair: Any) -> int:
    """Rows of a prepared block (a tiny task: the driver learns the block sizes, not the data)."""
    return int(pair[0].shape[0])


class Shard:
    """A Dask actor holding a fixed group of prepared blocks; one per worker at the start of a run.

    ``net`` is a copy of the network (its weights are replaced at every call). Rows are addressed
    by their position inside the shard: the blocks' rows one after another, in the order given.
    """

    def __init__(self, net: Any, loss: Any, chunk_rows: int, *blocks: Sequence):
        self.net = net
        self.loss = loss
        self.chunk_rows = int(chunk_rows)
        self.blocks = list(blocks)
        sizes = [int(b[0].shape[0]) for b in self.blocks]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_rows = int(self.starts[-1])
        self._x: np.ndarray | None = None  # gather buffers, reused by every call
        self._y: np.ndarray | None = None

    def info(self) -> dict:
        """Where this shard lives and what it holds (for tests and the bench)."""
        return {"pid": os.getpid(), "n_rows": self.n_rows, "n_blocks": len(self.blocks)}

    def gradient_sum(self, local: np.ndarray, weights: list, biases: list) -> tuple[list[np.ndarray],
                     list[np.ndarray], float]:
        """Sums over the rows at positions ``local`` (None: all of them): (gw_sum, gb_sum, loss_sum)."""
        net = self.net
        for k in range(net.n_layers):
            # into the arrays the network already has: received arrays may be read-only views
            np.copyto(net.weights[k], weights[k])
            np.copyto(net.biases[k], biases[k])
        gw: list[np.ndarray] = []
        gb: list[np.ndarray] = []
        loss_sum = 0.0
        for x, y in self._chunks(local):
            cw, cb, cl = net.gradient_sum(x, y, self.loss)
            if not gw:
                gw, gb = [np.array(g) for g in cw], [np.array(g) for g in cb]
            else:
                for acc, g in zip(gw + gb, cw + cb):
                    acc += g
            loss_sum += float(cl)
        return gw, gb, loss_sum

    def _chunks(self, local):
        """The rows at positions ``local`` (None: all rows, block by block), ``chunk_rows`` at a time."""
        if local is None:
            for X, Y in self.blocks:
                for s in range(0, X.shape[0], self.chunk_rows):
                    yield X[s:s + self.chunk_rows], Y[s:s + self.chunk_rows]
            return
        local = np.asarray(local, dtype=np.int64)
        for s in range(0, local.size, self.chunk_rows):
            yield self._rows(local[s:s + self.chunk_rows])

    def _rows(self, idx):
        """The rows at shard positions ``idx`` (a view when they are one run of one block)."""
        blk = np.searchsorted(self.starts, idx, side="right") - 1
        first = int(blk[0])
        one_block = bool(np.all(blk == first))
        if one_block:
            X, Y = self.blocks[first]
            lo = int(idx[0] - self.starts[first])
            if int(idx[-1] - idx[0]) == idx.size - 1 and (idx.size < 2 or bool(np.all(np.diff(idx) == 1))):
                return X[lo:lo + idx.size], Y[lo:lo + idx.size]  # a contiguous run: no copy
        X0, Y0 = self.blocks[first]
        if self._x is None or self._x.shape[0] < idx.size:
            self._x = np.empty((max(idx.size, min(self.chunk_rows, self.n_rows)), X0.shape[1]), X0.dtype)
            self._y = np.empty((self._x.shape[0], Y0.shape[1]), Y0.dtype)
        assert self._y is not None  # made with _x
        x, y = self._x[:idx.size], self._y[:idx.size]
        if one_block:
            np.take(X0, idx - self.starts[first], axis=0, out=x)
            np.take(Y0, idx - self.starts[first], axis=0, out=y)
            return x, y
        for b in np.unique(blk):
            where = np.flatnonzero(blk == b)
            Xb, Yb = self.blocks[b]
            pos = idx[where] - self.starts[b]
            x[where], y[where] = Xb[pos], Yb[pos]
        return x, y
