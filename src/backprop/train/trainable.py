"""The seam between the training loop and a network: what :class:`~backprop.train.trainer.Trainer`
(and every other caller that trains or evaluates a network -- the estimators, ``explain``, the
playground, the distributed gradient source) may ask of it.

``backprop.model.Network`` is the implementation; the training loop knows only this protocol, so
it never reaches into the network's own names. One update through the seam is the reference's
general algorithm:

1. ``buf = net.buffers(B, train=True)`` -- the working memory of a batch of B rows, owned by the
   network and reused by every step of that size;
2. ``net.forward_into(x, buf)`` -- step (i): h and a of every layer into ``buf``, returns yhat;
3. ``net.backward_into(x, y, buf, loss, scale=..., l2=...)`` -- steps (ii)-(iii): the error terms
   of eqs. (2) and (4) into ``buf.delta`` and eq. (3)'s gradients into the network's gradient
   buffers, which it returns;
4. ``net.update_order(gW, gb)`` -- the parameters with their gradients, in the order the
   optimizer updates them (W^L, b^L, ..., W^1, b^1: the order of the flat gradient buffer).

Step (iv) -- which optimizer, and whether a fast strategy fuses it into step (iii) -- is the
training loop's (:mod:`backprop.train.strategy`). ``forward_all`` is the forward pass over a whole
data set (predictions, a validation loss, a playground's maps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

from backprop.core.activations import Activation
from backprop.core.losses import Loss

#: A parameter's key in the optimizers' state: ("w", k) or ("b", k).
ParamKey = tuple[str, int]


class Buffers(Protocol):
    """The arrays of one batch size: row d of each is sample d.

    ``h[k]``, ``a[k]``, ``delta[k]`` belong to the layer that ``weights[k]`` feeds; ``tmp[k]`` is
    scratch of g' (shared between layers); ``gb[k]`` the bias sums of a fused step; ``x``/``y``
    rows gathered by index (``None`` until a caller sets them); ``identity[k]``: layer k's a is
    its h (an identity g)."""

    m: int
    identity: list[bool]
    h: list[np.ndarray]
    a: list[np.ndarray]
    delta: list[np.ndarray]
    tmp: list[np.ndarray]
    gb: list[np.ndarray]
    x: np.ndarray | None
    y: np.ndarray | None


class Forward(Protocol):
    """What :meth:`Trainable.forward_all` returns."""

    yhat: np.ndarray
    loss: float | None
    layers: list[np.ndarray] | None


@runtime_checkable
class Trainable(Protocol):
    """A feedforward network as the training loop uses it (see the module docstring)."""

    sizes: list[int]
    dtype: np.dtype
    seed: Any
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activations: list[Activation]

    @property
    def n_layers(self) -> int: ...

    @property
    def output(self) -> str: ...

    @property
    def n_parameters(self) -> int: ...

    def check_loss(self, loss: str | Loss) -> Loss:
        """The loss object of ``loss``, checked against the output activation."""
        ...

    def check_parameters(self) -> None:
        """Check (and convert in place) user-assigned weights and biases."""
        ...

    def buffers(self, m: int, *, train: bool = False) -> Buffers:
        """The working memory of a batch of m rows (``train``: h may be overwritten by a)."""
        ...

    def forward_into(self, x: np.ndarray, buf: Buffers) -> np.ndarray:
        """Step (i) for the rows of ``x`` into ``buf``; returns yhat (a view of ``buf``)."""
        ...

    def backward_into(self, x: np.ndarray, y: np.ndarray, buf: Buffers, loss: Loss, *,
                      scale: float = 1.0, l2: float = 0.0, scaled_deltas: bool = True,
                      l1: float = 0.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Steps (ii)-(iii) after :meth:`forward_into`: the gradient of ``scale`` x (E + (l2/2) sum w^2)
        into the network's gradient buffers (returned as (gW, gb)). ``scaled_deltas``: scale/m is
        folded into delta^o, so ``buf.delta`` holds scaled error terms. ``l1``: plus ``scale`` x
        l1 sign(w), the subgradient of l1 sum |w| (weights only; the trainer passes it only when
        l1 > 0, so a Trainable without L1 support still trains without it)."""
        ...

    def update_order(self, gW: list[np.ndarray], gb: list[np.ndarray]
                     ) -> tuple[list[ParamKey], list[np.ndarray], list[np.ndarray]]:
        """(keys, parameters, gradients) in the order of the updates: W^L, b^L, ..., W^1, b^1."""
        ...

    def forward_all(self, X: np.ndarray, *, Y: np.ndarray | None = None, loss: Loss | None = None,
                    chunk: int = 4096, layers: bool = False, check_finite: bool = True) -> Forward:
        """The forward pass over a whole (checked) data set, in chunks."""
        ...

    def trace(self, X: ArrayLike, Y: ArrayLike, loss: str | Loss = "mse") -> Any:
        """Forward and backward pass of one batch with every quantity of the reference (a Trace)."""
        ...

    def state_dict(self) -> dict[str, np.ndarray]: ...

    def load_state_dict(self, state: Mapping[str, ArrayLike]) -> None: ...
