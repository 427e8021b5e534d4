"""A feedforward network trained by explicit backpropagation.

Notation (that of the project's reference, docs/reference.md): layer k computes

    h^k = a^{k-1} W^k + b^k          (the affine transformation; a^0 = x)
    a^k = g(h^k)                     (g_h for hidden layers, g_o for the output layer)

``weights[k][i, j]`` is the reference's w_ij^{k+1}: the link from neuron i of layer k to neuron j
of layer k+1. The bias weight w_0j (the link from the constant input x_0 = 1) is kept as its own
vector ``biases[k][j]`` instead of a row of ``weights``, so no column of ones is ever concatenated.
In the worked two-layer example, ``weights[0]`` is v (without its row v_0j = ``biases[0]``) and
``weights[1]`` is w (without w_0k = ``biases[1]``).

Rows are samples everywhere: ``h[k][d]`` is sample d's h^k, so a whole batch goes through each
layer as one matrix product in each direction.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from backprop.core import activations as _act
from backprop.core import losses as _losses
from backprop.core.validation import as_matrix, check_xy, make_rng, resolve_dtype
from backprop.errors import InvalidInputError, InvalidTypeError
from backprop.fast import blas as _blas
from backprop.fast.passes import column_sums, forward_layer, g_prime
from backprop.io.container import save_arrays
from backprop.model import display as _display
from backprop.train.history import History
from backprop.train.trainable import Buffers as BufferSet
from backprop.train.trainable import Trainable
from backprop.train.trainer import fit as _fit

#: Activations whose backward pass needs only a = g(h) (not h): h may be overwritten by a.
_G_PRIME_FROM_A = ("relu", "sigmoid", "tanh")
#: How many batch sizes keep their buffers at once (a fit needs two: B and the last, smaller batch).
_BUFFER_CACHE = 4


@dataclasses.dataclass
class Trace:
    """Every quantity of the reference for one batch (row d is sample d).

    ``x`` is the input a^0; ``h[k]``, ``a[k]`` and ``delta[k]`` belong to the layer that
    ``weights[k]`` feeds, so ``a[-1]`` is yhat and ``delta[-1]`` the output error term of eq. (2);
    ``grad_weights[k]``/``grad_biases[k]`` are dE/dw of eq. (3), the mean over the samples of
    eq. (1), delta_j^k a_i^{k-1}; ``loss`` is E.
    """

    x: np.ndarray
    h: list
    a: list
    delta: list
    grad_weights: list
    grad_biases: list
    loss: float

    @property
    def yhat(self) -> np.ndarray:
        return self.a[-1]

    def _repr_html_(self) -> str:  # a notebook shows the tables of h, a, delta, dE/dw per layer
        return _display.trace_html(self)


@dataclasses.dataclass
class Forward:
    """The forward pass over a data set (:meth:`Network.forward_all`): yhat, E when asked (else
    None), and with ``layers=True`` every layer's a^k (the last is yhat)."""

    yhat: np.ndarray
    loss: float | None = None
    layers: list[np.ndarray] | None = None


class Buffers:
    """Per-batch-size arrays, allocated once and reused by every step of that size."""

    def __init__(self, sizes: Sequence[int], m: int, dtype: np.dtype, acts: Sequence[_act.Activation],
                 train: bool = False) -> None:
        shapes = [(m, n) for n in sizes[1:]]
        self.h = [np.empty(s, dtype) for s in shapes]
        # identity's a is h itself: no copy in the forward pass, nothing to do backward
        self.identity = [act.name == "identity" for act in acts]
        # Training buffers also let g overwrite h in place for hidden layers whose g' needs only
        # a = g(h): one activation-sized array less per layer (h is not kept; a trace needs it).
        in_place = [train and k < len(acts) - 1 and act.name in _G_PRIME_FROM_A
                    for k, act in enumerate(acts)]
        self.a = [h if ident or inp else np.empty_like(h)
                  for h, ident, inp in zip(self.h, self.identity, in_place)]
        self.delta = [np.empty(s, dtype) for s in shapes]
        # scratch of g' and eq. (2): only ever used for one layer at a time, so all layers share it;
        # ReLU's g' is a 0/1 mask, which a bool array holds in a quarter of the memory (delta *= mask
        # gives the bits of delta *= 1.0/0.0)
        mask = [k < len(acts) - 1 and act.name == "relu" for k, act in enumerate(acts)]
        widths = sizes[1:]
        scratch = np.empty(m * max([n for n, b in zip(widths, mask) if not b]), dtype)
        masks = np.empty(m * max([n for n, b in zip(widths, mask) if b], default=0), bool)
        self.tmp = [(masks if b else scratch)[:m * n].reshape(m, n) for n, b in zip(widths, mask)]
        self.y: np.ndarray | None = None  # reusable target rows when batches are gathered by index
        self.x: np.ndarray | None = None
        self.gb = [np.empty(n, dtype) for n in sizes[1:]]  # bias gradients of the fused SGD step
        self.m, self.train = m, train

    def first_rows(self, m: int) -> Buffers:
        """Buffers for m <= self.m rows that are the first m rows of these (views: C-contiguous,
        no new arrays). A smaller batch -- an epoch's last, a chunk's rest -- needs no set of its own."""
        view = object.__new__(Buffers)
        view.m, view.train, view.identity, view.gb = m, self.train, self.identity, self.gb
        view.h = [h[:m] for h in self.h]
        view.a = [a[:m] for a in self.a]
        view.delta = [d[:m] for d in self.delta]
        view.tmp = [t[:m] for t in self.tmp]
        view.x = None if self.x is None else self.x[:m]
        view.y = None if self.y is None else self.y[:m]
        return view


class Network:
    """A feedforward network of ``len(sizes) - 1`` fully connected layers.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output; ``[L, M, N]`` is the reference's two-layer example.
    hidden : str or sequence of str
        Hidden activation g_h: one name for all hidden layers or one per hidden layer.
    output : str
        Output activation g_o.
    seed : int or None
        Seed of the initial weights (and the default seed of :meth:`fit`).
    dtype : "float32" (default, fast) or "float64" (exact checks).
    init : "auto", "xavier", "he" or callable(rng, fan_in, fan_out) -> array
        "auto" takes Xavier/Glorot (uniform, +-sqrt(6/(fan_in+fan_out))) for layers with
        saturating activations and He (normal, sd sqrt(2/fan_in)) for ReLU-like ones.
        Biases start at zero.
    """

    def __init__(self, sizes: Sequence[int], hidden: str | Sequence[str | _act.Activation] = "sigmoid",
                 output: str | _act.Activation = "sigmoid",
                 *, seed: int | None = None, dtype: str = "float32", init: str | Callable = "auto") -> None:
        self.sizes = check_sizes(sizes)
        n_hidden = len(self.sizes) - 2
        if isinstance(hidden, (str, _act.Activation)):
            hidden = [hidden] * n_hidden
        else:
            try:
                hidden = list(hidden)
            except TypeError:
                raise InvalidTypeError(
                    f"hidden must be an activation name or a list of names, got {hidden!r}") from None
            if len(hidden) != n_hidden:
                raise InvalidInputError(
                    f"hidden lists {len(hidden)} activations but sizes has {n_hidden} hidden layers"
                )
        for name in hidden:
            if (name.name if isinstance(name, _act.Activation) else name) == "softmax":
                raise InvalidInputError(
                    "softmax is for the output layer only; choose a hidden activation from: "
                    + ", ".join(_act.HIDDEN_ACTIVATIONS)
                )
        self.activations = [_act.get(n, where="hidden activation") for n in hidden]
        self.activations.append(_act.get(output, where="output activation"))
        if self.activations[-1].name == "softmax" and self.sizes[-1] < 2:
            raise InvalidInputError("a softmax output needs at least 2 units; use sigmoid for one")
        self.dtype = resolve_dtype(dtype)
        self.seed = seed
        self.weights, self.biases = self._initial_parameters(init, seed)
        self._buffers: OrderedDict[int | tuple[int, str], Buffers] = OrderedDict()
        self._grads: tuple[list[np.ndarray], list[np.ndarray]] | None = None
        #: what a model file stored beside the weights (loss, classes, standardization, ...)
        self.metadata: dict = {}

    # -- construction ---------------------------------------------------------------------------
    def _initial_parameters(self, init, seed):
        rng = make_rng(seed)
        weights, biases = [], []
        for fan_in, fan_out, act in zip(self.sizes[:-1], self.sizes[1:], self.activations):
            kind = act.init if init == "auto" else init
            if callable(kind):
                w = np.asarray(kind(rng, fan_in, fan_out))
                if w.shape != (fan_in, fan_out):
                    raise InvalidInputError(
                        f"init returned shape {w.shape}, expected {(fan_in, fan_out)}"
                    )
            elif kind == "xavier":
                bound = np.sqrt(6.0 / (fan_in + fan_out))
                w = _draw(lambda size, bound=bound: rng.uniform(-bound, bound, size), (fan_in, fan_out),
                          self.dtype)
            elif kind == "he":
                sd = np.sqrt(2.0 / fan_in)
                w = _draw(lambda size, sd=sd: rng.normal(0.0, sd, size), (fan_in, fan_out), self.dtype)
            else:
                raise InvalidInputError(
                    f"unknown init {init!r}; valid values are 'auto', 'xavier', 'he' or a callable"
                )
            weights.append(np.ascontiguousarray(w, dtype=self.dtype))
            biases.append(np.zeros(fan_out, dtype=self.dtype))
        return weights, biases

    @property
    def hidden(self) -> list[str]:
        """Names of the hidden activations, one per hidden layer."""
        return [a.name for a in self.activations[:-1]]

    @property
    def output(self) -> str:
        """Name of the output activation."""
        return self.activations[-1].name

    @property
    def n_layers(self) -> int:
        """Number of weight layers (the reference's two-layer example has 2)."""
        return len(self.sizes) - 1

    @property
    def n_parameters(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    def __repr__(self) -> str:
        acts = ", ".join(self.hidden + [self.output])
        return f"Network({self.sizes}, activations=[{acts}], dtype={self.dtype.name})"

    def _repr_html_(self) -> str:  # a notebook shows the layers and (small) weight matrices
        return _display.network_html(self)

    def check_parameters(self, *, names: tuple[str, str] = ("net.weights", "net.biases"),
                         array_like: bool = False) -> None:
        """Check that user-assigned ``weights``/``biases`` still have the right shapes and dtype.

        Arrays of another float dtype or layout are converted in place in the lists. ``names``: what
        the errors call the two lists (an estimator's ``coefs_``, ``intercepts_``); ``array_like``:
        tuples and array-likes are taken too (converted), as scikit-learn's attributes allow.
        """
        for i, (name, shape_of) in enumerate((
            (names[0], lambda k: (self.sizes[k], self.sizes[k + 1])),
            (names[1], lambda k: (self.sizes[k + 1],)),
        )):
            params = self.weights if i == 0 else self.biases
            if array_like and isinstance(params, tuple):
                params = list(params)
                if i == 0:
                    self.weights = params
                else:
                    self.biases = params
            if not isinstance(params, list) or len(params) != self.n_layers:
                what = f"must be a list of {self.n_layers} arrays"
                if array_like and isinstance(params, list):
                    what = f"has {len(params)} arrays but the network has {self.n_layers} layers"
                raise InvalidInputError(f"{name} {what}")
            for k, p in enumerate(params):
                if not isinstance(p, np.ndarray):
                    if not array_like:
                        raise InvalidTypeError(f"{name}[{k}] must be a NumPy array, got {type(p).__name__}")
                    p = np.asarray(p)
                if p.shape != shape_of(k):
                    raise InvalidInputError(f"{name}[{k}] has shape {p.shape}, expected {shape_of(k)}")
                if (p is not params[k] or p.dtype != self.dtype or not p.flags.c_contiguous
                        or not p.flags.writeable):
                    params[k] = np.array(p, dtype=self.dtype, order="C")

    # -- the seam of the training loop (backprop.train.trainable.Trainable) ------------------------
    def buffers(self, m: int, *, train: bool = False) -> Buffers:
        """Buffers for batches of m rows; ``train=True``: the training loop's, where h may be overwritten."""
        key: int | tuple[int, str] = (m, "train") if train else m
        buf = self._buffers.get(key)
        if buf is None:
            larger = [b for b in self._buffers.values() if b.train == train and b.m > m]
            if larger:  # the first rows of the smallest larger set
                buf = min(larger, key=lambda b: b.m).first_rows(m)
            else:
                buf = Buffers(self.sizes, m, self.dtype, self.activations, train=train)
            self._buffers[key] = buf
            if len(self._buffers) > _BUFFER_CACHE:
                self._buffers.popitem(last=False)
        return buf

    def _grad_buffers(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(gW, gb): views of one flat buffer, laid out in the order of the updates -- W^L, b^L, ...,
        W^1, b^1 -- so that a fast optimizer may treat them as one array (``fast.adam.FlatAdam``)."""
        if self._grads is None or self._grads[0][0].dtype != self.dtype:
            pairs = [(self.weights[k], self.biases[k]) for k in range(self.n_layers - 1, -1, -1)]
            flat = np.empty(sum(w.size + b.size for w, b in pairs), self.dtype)
            gW: list[np.ndarray] = [flat[:0]] * self.n_layers
            gb: list[np.ndarray] = [flat[:0]] * self.n_layers
            o = 0
            for k, (w, b) in zip(range(self.n_layers - 1, -1, -1), pairs):
                gW[k] = flat[o:o + w.size].reshape(w.shape)
                o += w.size
                gb[k] = flat[o:o + b.size].reshape(b.shape)
                o += b.size
            self._grads = (gW, gb)
        return self._grads

    def update_order(self, gW: list[np.ndarray], gb: list[np.ndarray]
                     ) -> tuple[list[tuple[str, int]], list[np.ndarray], list[np.ndarray]]:
        """(keys, parameters, gradients) in the order of the updates and of the flat gradient
        buffer: W^L, b^L, ..., W^1, b^1."""
        keys: list[tuple[str, int]] = []
        params: list[np.ndarray] = []
        grads: list[np.ndarray] = []
        for k in range(self.n_layers - 1, -1, -1):
            keys += [("w", k), ("b", k)]
            params += [self.weights[k], self.biases[k]]
            grads += [gW[k], gb[k]]
        return keys, params, grads

    def forward_into(self, x: np.ndarray, buf: BufferSet) -> np.ndarray:
        """Forward pass, step (i): h^k = a^{k-1} W^k + b^k, a^k = g(h^k), stored in ``buf``;
        returns yhat (``buf.a[-1]``)."""
        a_prev = x
        for W, b, act, h, a, ident in zip(self.weights, self.biases, self.activations, buf.h, buf.a,
                                          buf.identity):
            a_prev = forward_layer(a_prev, W, b, act, h, a, ident)
        return a_prev

    def backward_into(self, x: np.ndarray, y: np.ndarray, buf: BufferSet, loss: _losses.Loss, *,
                      scale: float = 1.0, l2: float = 0.0, scaled_deltas: bool = True,
                      l1: float = 0.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Backward pass, steps (ii)-(iii): error terms and gradients of the batch in ``buf``.

        Output error term by eq. (2) (or the simplified yhat - y of a matched loss), hidden error
        terms by eq. (4), gradients by eq. (1) summed over the batch and divided by m, eq. (3):
        the gradient of ``scale`` x (E + (l2/2) sum w^2) (the penalty on the weights only, as
        scikit-learn has it), in the network's gradient buffers, returned as (gW, gb). With ``l1``
        the subgradient of the penalty l1 sum |w|, l1 sign(w) (sign(0) = 0), is added too, again
        to the weights only (:func:`backprop.core.reference.l1_subgradient`).
        With ``scaled_deltas`` the factor scale/m is folded into the small output error term once
        -- every later quantity is linear in it -- instead of scaling each weight gradient; the
        stored deltas are then scaled too (a trace keeps them unscaled: ``scaled_deltas=False``).
        """
        L = self.n_layers
        m = x.shape[0]
        gW, gb = self._grad_buffers()
        acts = self.activations
        d = buf.delta[L - 1]
        loss.output_delta(y, buf.a[L - 1], buf.h[L - 1], acts[L - 1], d, buf.tmp[L - 1])  # eq. (2)
        c = scale / m
        if scaled_deltas and c != 1.0:
            d *= c
        for k in range(L - 1, -1, -1):
            a_prev = x if k == 0 else buf.a[k - 1]
            W = self.weights[k]
            # eq. (1) for every sample, summed over the batch: sum_d a_i^{k-1} delta_j^k
            decayed = _weight_gradient(a_prev, d, W, gW[k], gb[k], l2 * scale if scaled_deltas else 0.0)
            if not scaled_deltas and c != 1.0:
                gW[k] *= c
                gb[k] *= c
            if k > 0:
                d_prev = buf.delta[k - 1]
                np.matmul(d, W.T, out=d_prev)  # eq. (4): sum_k delta_k^{h+1} w_jk^{h+1} ...
                g_prime(acts[k - 1], buf.h[k - 1], buf.a[k - 1], d_prev, buf.tmp[k - 1])  # ... * g'_h
                d = d_prev
            if l2 and not decayed:
                # gradient of the penalty (l2/2) sum w^2, weights only, as scikit-learn does
                gW[k] += (l2 * scale) * W
            if l1:
                gW[k] += (l1 * scale) * np.sign(W)
        return gW, gb

    # -- public API -----------------------------------------------------------------------------
    def forward(self, X: ArrayLike) -> np.ndarray:
        """Forward pass of a batch; returns yhat (a new array)."""
        return self.predict(X)

    def predict(self, X: ArrayLike, *, chunk: int = 4096) -> np.ndarray:
        """Return yhat = a^L for the rows of ``X`` (computed in chunks of ``chunk`` rows)."""
        self.check_parameters()  # user-assigned weights: a clear error, not a matmul ValueError
        x = as_matrix(X, "X", self.dtype, n_features=self.sizes[0])
        return self.forward_all(x, chunk=chunk).yhat

    def forward_all(self, X: np.ndarray, *, Y: np.ndarray | None = None, loss: _losses.Loss | None = None,
                    chunk: int = 4096, layers: bool = False, check_finite: bool = True) -> Forward:
        """The forward pass over a whole data set, ``chunk`` rows at a time (in the buffers of that size).

        ``X`` is a checked matrix of the network's dtype (``as_matrix``/``check_xy``); with ``Y`` and
        ``loss`` also E over all rows; with ``layers`` every layer's a^k for all rows. ``check_finite``:
        a non-finite output raises :class:`InvalidInputError` naming the row and the likely cause;
        without it NaN and infinity are returned as they are."""
        n = X.shape[0]
        yhat = np.empty((n, self.sizes[-1]), dtype=self.dtype)
        outs = [np.empty((n, w), dtype=self.dtype) for w in self.sizes[1:-1]] + [yhat] if layers else None
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # reported below, if asked
            for start in range(0, n, chunk):
                xb = X[start:start + chunk]
                buf = self.buffers(xb.shape[0])
                yhat[start:start + chunk] = self.forward_into(xb, buf)
                if outs is not None:
                    for out, a in zip(outs[:-1], buf.a[:-1]):
                        out[start:start + chunk] = a
                if loss is not None and Y is not None:
                    total += loss.value(Y[start:start + chunk], buf.a[-1], buf.h[-1]) * xb.shape[0]
        if check_finite and not np.isfinite(yhat).all():
            raise InvalidInputError(_not_finite_message(self, X, yhat))
        return Forward(yhat, total / n if loss is not None and Y is not None else None, outs)

    def _checked_pass(self, X, Y, loss, backward=None):
        """Check the inputs and run the forward pass -- and the backward pass when ``backward`` is
        "mean" (eq. (3)) or "sum" (eq. (1) summed over the rows) -- in buffers of this size.

        Returns (X as checked, the buffers, E, (grad_weights, grad_biases) or None)."""
        loss = self.check_loss(loss)
        self.check_parameters()
        X, Y = check_xy(X, Y, self)
        buf = self.buffers(X.shape[0])
        # the mean times m is the sum: scale/m = 1 is then never applied
        scale = {None: None, "mean": 1.0, "sum": float(X.shape[0])}[backward]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # may be inf, never a warning
            self.forward_into(X, buf)
            value = loss.value(Y, buf.a[-1], buf.h[-1])
            grads = (None if scale is None
                     else self.backward_into(X, Y, buf, loss, scale=scale, scaled_deltas=False))
        return X, buf, value, grads

    def loss(self, X: ArrayLike, Y: ArrayLike, loss: str | _losses.Loss = "mse") -> float:
        """The error E of the whole data set (a float)."""
        return self._checked_pass(X, Y, loss)[2]

    def trace(self, X: ArrayLike, Y: ArrayLike, loss: str | _losses.Loss = "mse") -> Trace:
        """Forward and backward pass of one batch, returning every quantity of the reference.

        Nothing is updated. See :class:`Trace`.
        """
        x, buf, value, (gW, gb) = self._checked_pass(X, Y, loss, backward="mean")
        return Trace(
            x=x.copy(),
            h=[h.copy() for h in buf.h],
            a=[a.copy() for a in buf.a],
            delta=[d.copy() for d in buf.delta],
            grad_weights=[g.copy() for g in gW],
            grad_biases=[g.copy() for g in gb],
            loss=value,
        )

    def gradient_sum(self, X: ArrayLike, Y: ArrayLike, loss: str | _losses.Loss = "mse"
                     ) -> tuple[list[np.ndarray], list[np.ndarray], float]:
        """Eq. (1) summed over the rows of ``X`` -- before eq. (3)'s 1/m -- and the summed loss.

        Returns ``(grad_weights_sum, grad_biases_sum, loss_sum)``; ``loss_sum / m`` is E of these
        rows. Sums over any split of a batch's rows add up to the whole batch's (up to float
        summation order): the gradient of a batch can be computed where its rows are.
        """
        x, buf, value, (gW, gb) = self._checked_pass(X, Y, loss, backward="sum")
        return [g.copy() for g in gW], [g.copy() for g in gb], value * x.shape[0]

    def fit(self, X: ArrayLike, Y: ArrayLike, **kwargs: Any) -> History:
        """Train by backpropagation; see :func:`backprop.train.trainer.fit` for the arguments.

        Returns a :class:`backprop.train.trainer.History`.
        """
        return _fit(self, X, Y, **kwargs)

    def check_loss(self, loss: str | _losses.Loss) -> _losses.Loss:
        """The loss object of ``loss`` (a name or a Loss), checked against the output activation."""
        loss = _losses.get(loss)
        loss.check_output(self.output)
        return loss

    def copy(self) -> Network:
        """A deep copy (parameters copied, buffers not shared)."""
        new = object.__new__(Network)
        new.__dict__.update(self.__dict__)
        new.weights = [w.copy() for w in self.weights]
        new.biases = [b.copy() for b in self.biases]
        new.activations = list(self.activations)
        new.metadata = dict(self.metadata)
        new._buffers = OrderedDict()
        new._grads = None
        return new

    # -- state: plain dicts, so file formats sit above the model ----------------------------------
    @staticmethod
    def state_shapes(sizes: Sequence[int]) -> dict[str, tuple[int, ...]]:
        """The name and shape of every array in the state of a network of layer widths ``sizes``."""
        shapes: dict[str, tuple[int, ...]] = {}
        for k in range(len(sizes) - 1):
            shapes[f"weights.{k}"] = (sizes[k], sizes[k + 1])
            shapes[f"biases.{k}"] = (sizes[k + 1],)
        return shapes

    def state_dict(self) -> dict[str, np.ndarray]:
        """The parameters by name: ``weights.k`` (W^{k+1}) and ``biases.k`` (its bias weights w_0j).

        The arrays are the network's own (not copies)."""
        state = {}
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            state[f"weights.{k}"], state[f"biases.{k}"] = w, b
        return state

    def load_state_dict(self, state: Mapping[str, ArrayLike]) -> None:
        """Set the parameters from ``state`` (as :meth:`state_dict` names them; copied, cast to dtype)."""
        shapes = self.state_shapes(self.sizes)
        missing = sorted(set(shapes) - set(state))
        if missing:
            raise InvalidInputError(f"the state lacks {', '.join(missing[:5])} for a {self.sizes} network")
        for name, shape in shapes.items():
            if tuple(np.shape(state[name])) != shape:
                raise InvalidInputError(
                    f"state[{name!r}] has shape {tuple(np.shape(state[name]))}, expected {shape}")
        for k in range(self.n_layers):
            self.weights[k] = np.array(state[f"weights.{k}"], dtype=self.dtype, order="C")
            self.biases[k] = np.array(state[f"biases.{k}"], dtype=self.dtype, order="C")

    def config(self) -> dict:
        """The architecture as JSON-able values: what :meth:`from_config` needs to build it again."""
        seed = self.seed
        seed = int(seed) if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) else None
        return {"sizes": list(self.sizes), "hidden": self.hidden, "output": self.output,
                "dtype": self.dtype.name, "seed": seed}

    @classmethod
    def from_config(cls, config: dict, *, init: str | Callable = "auto") -> Network:
        """A network of the architecture ``config`` (see :meth:`config`); ``init="zeros"`` skips
        drawing weights that a state is about to replace."""
        if init == "zeros":
            init = _zeros
        return cls(config["sizes"], hidden=config["hidden"] or "sigmoid", output=config["output"],
                   seed=config.get("seed"), dtype=config["dtype"], init=init)

    def save(self, path: str | os.PathLike, **metadata: Any) -> str | os.PathLike:
        """Save as safetensors + JSON metadata (atomic write); ``backprop.load`` reads it back.

        ``metadata`` (JSON-able values: loss, task, classes, feature_names, standardize, dataset,
        history, ...) is stored with the architecture; a loaded network's own ``net.metadata`` is
        kept and updated by it. Returns the path.
        """
        self.check_parameters()
        for name, params in (("weights", self.weights), ("biases", self.biases)):
            for k, p in enumerate(params):
                if not np.isfinite(p).all():  # backprop.load refuses such a file: do not write it
                    raise InvalidInputError(
                        f"{name}[{k}] contains NaN or infinity; the network diverged. Train it again "
                        "(a smaller learning rate, standardized inputs) before saving it")
        user = {k: v for k, v in (getattr(self, "metadata", None) or {}).items()
                if k not in ("format_version", "library_version")}
        user.update(metadata)
        save_arrays(path, self.state_dict(), {"network": self.config(), "metadata": user}, kind="network")
        return path


def _weight_gradient(a_prev, d, W, gW, gb, decay) -> bool:
    """eq. (1) summed over the rows into gW and gb; with ``decay`` (l2 x scale, deltas scaled) and
    BLAS, the penalty's gradient is written first and the product added to it (beta = 1): no pass
    over gW and no temporary of W's size. Returns whether the decay is in gW."""
    if a_prev.shape[0] == 1:
        # an outer product; a matrix product with inner dimension 1 is slow in BLAS
        np.multiply(a_prev.reshape(-1, 1), d, out=gW)
        np.copyto(gb, d.reshape(-1))
        return False
    if decay and _blas.usable(a_prev, d, gW, W):
        np.multiply(W, decay, out=gW)
        _blas.gemm_add(a_prev, d, gW)
        column_sums(d, gb)
        return True
    np.matmul(a_prev.T, d, out=gW)
    column_sums(d, gb)
    return False


def _not_finite_message(net, X, out) -> str:
    row = int(np.argwhere(~np.isfinite(out))[0][0])
    params = net.weights + net.biases
    if not all(np.isfinite(p).all() for p in params):
        why = "the network's weights are not finite; train it again"
    else:
        why = (f"the inputs or weights are too large (max |x| = {float(np.abs(X).max()):.3g}, max |w| = "
               f"{max(float(np.abs(p).max()) for p in params):.3g}); standardize the inputs as for "
               "training, or retrain with a smaller learning rate")
    return f"the network's output is not finite for row {row} of X: {why}"


def _draw(draw, shape, dtype):
    """``draw(shape)`` cast to ``dtype``, drawn in blocks of rows: the same numbers (the generator
    produces them in order) without a float64 temporary of the whole matrix."""
    if dtype == np.float64:
        return draw(shape)
    out = np.empty(shape, dtype)
    rows = max(1, 16384 // shape[1])
    for s in range(0, shape[0], rows):
        out[s:s + rows] = draw((min(rows, shape[0] - s), shape[1]))
    return out


def _zeros(rng, fan_in, fan_out):
    return np.zeros((fan_in, fan_out))


def check_sizes(sizes: Sequence[int]) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise InvalidTypeError(f"sizes must be a list of layer widths like [2, 3, 1], got {sizes!r}")
    try:
        sizes = list(sizes)
    except TypeError:  # a 0-d array has __iter__ but cannot be iterated
        raise InvalidTypeError(
            f"sizes must be a list of layer widths like [2, 3, 1], got {sizes!r}") from None
    if len(sizes) < 2:
        raise InvalidInputError(
            f"sizes needs at least an input and an output width, e.g. [2, 3, 1]; got {sizes!r}"
        )
    out = []
    for k, n in enumerate(sizes):
        # (NumPy counts timedelta64 among its integer types)
        if isinstance(n, (bool, np.timedelta64)) or not isinstance(n, (int, np.integer)):
            raise InvalidTypeError(f"sizes[{k}] must be an int, got {n!r}")
        if n < 1:
            raise InvalidInputError(f"sizes[{k}] is {n}; every layer width must be at least 1")
        out.append(int(n))
    return out


def as_trainable(net: Network) -> Trainable:
    """``net`` as the training loop sees it (mypy checks here that Network fits the seam)."""
    return net
