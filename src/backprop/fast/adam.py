"""Adam's step on flat buffers: the fast strategy of ``backprop.train.optimizers.Adam``.

The optimizer (``Adam.update``) is written as its equations, one parameter at a time, each line a
NumPy expression. Here the same elementwise arithmetic -- in the same order, so the same bits --
runs

* over all parameters at once when their gradients are consecutive views of one flat array (the
  network's gradient buffers are): 11 passes over that array and one subtraction per parameter,
  instead of a dozen NumPy calls per parameter (:meth:`FlatAdam.update_all`);
* in row blocks on the BLAS threads (``parallel.for_rows``) for a large parameter, with the
  (1 - b1) g transient in blocks of at most :data:`BLOCK` elements (no second parameter-sized
  array), and in one shared scratch for a small one (:meth:`FlatAdam.update`).

* with numba (the ``fast`` extra, :func:`backprop.fast.compiled.adam_kernels`), in one compiled
  pass per parameter (``fast.kernels.adam_segment``): the same operations per element in the same
  order, so the same bits, reading and writing each array once instead of a dozen times.

The moments stay in the optimizer's ``state`` (``state["m"][key]``, ``state["v"][key]``), so
checkpoints see them as always; for the flat path they become views of two flat arrays.
``backprop.train.strategy`` decides when this runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop.fast import parallel as _par

#: most elements of Adam's (1 - b1) g transient (512 KB of float32): a large update's peak memory
#: stays well below one more parameter-sized array, for a dozen more NumPy calls a step
BLOCK = 1 << 17

Key = Any  # a parameter's key in the optimizer's state, ("w", k)
State = dict  # the optimizer's state: {"m": {key: array}, "v": {key: array}}


def adam_step(grad: np.ndarray, m: np.ndarray, v: np.ndarray, c1_grad: np.ndarray, b1: float, b2: float,
              eps: float, lr_t: float) -> None:
    """Adam's moments and step, in place: afterwards ``grad`` holds the step to subtract.
    ``c1_grad`` is (1 - b1) grad."""
    m *= b1
    m += c1_grad
    np.multiply(grad, grad, out=grad)
    v *= b2
    grad *= 1.0 - b2
    v += grad
    np.sqrt(v, out=grad)
    grad += eps
    np.divide(m, grad, out=grad)
    grad *= lr_t


def _adam(param, grad, m, v, c1_grad, b1, b2, eps, lr_t) -> None:
    """The Adam step on arrays of one shape, in place; grad is scratch."""
    adam_step(grad, m, v, c1_grad, b1, b2, eps, lr_t)
    param -= grad


def _moment(state: State, name: str, key: Key, like: np.ndarray) -> np.ndarray:
    """The optimizer's moment ``name`` of ``key`` (zeros when new or of another shape)."""
    slots = state.setdefault(name, {})
    buf = slots.get(key)
    if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
        buf = slots[key] = np.zeros_like(like)
    return buf


class _Whole:
    """The arrays one flat step was prepared for, and its flat views."""

    def __init__(self, keys, params, grads, G=None, M=None, V=None, segments=None) -> None:
        self.keys, self.params, self.grads = tuple(keys), tuple(params), tuple(grads)
        self.G, self.M, self.V = G, M, V
        self.segments = segments or []  # (start, end, flat param)

    def same(self, keys, params, grads, state) -> bool:
        """Whether this step's arrays are those it was made for (by identity), the moments still
        the views of M and V (a loaded state replaces them)."""
        if len(self.params) != len(params) or any(a is not b for a, b in zip(self.params, params)) \
                or any(a is not b for a, b in zip(self.grads, grads)) or self.keys != tuple(keys):
            return False
        if self.G is None:
            return True
        m, v = state.get("m", {}), state.get("v", {})
        return all(m.get(k) is not None and m[k].base is self.M and v.get(k) is not None
                   and v[k].base is self.V for k in keys)


class _Views:
    """One parameter's arrays of the last step and their flat views (None: not all C-contiguous of
    one dtype), with the shared scratch for a small parameter."""

    def __init__(self, param, grad, m, v, flat=None, scratch=None) -> None:
        self.param, self.grad, self.m, self.v = param, grad, m, v
        self.flat, self.scratch = flat, scratch

    def same(self, param, grad, m, v) -> bool:
        return self.param is param and self.grad is grad and self.m is m and self.v is v


class FlatAdam:
    """Adam's step on flat views, cached for the arrays the training loop passes every step."""

    def __init__(self, kernels: Any = None) -> None:
        #: ``fast.kernels`` (numba) for the one-pass update of :meth:`update_all`, or None: NumPy
        self.kernels = kernels
        self.views: dict = {}
        self.scratch: np.ndarray | None = None
        self.whole: _Whole | None = None

    def update(self, state: State, key: Key, param: np.ndarray, grad: np.ndarray, b1: float, b2: float,
               eps: float, lr_t: float) -> None:
        """One parameter's step (``grad`` is scratch afterwards)."""
        m, v = _moment(state, "m", key, param), _moment(state, "v", key, param)
        views = self.views.get(key)
        if views is None or not views.same(param, grad, m, v):
            views = self._prepare(key, param, grad, m, v)
        if views.flat is None:  # not one contiguous dtype: whole arrays
            _adam(param, grad, m, v, grad * (1.0 - b1), b1, b2, eps, lr_t)
            return
        P, G, M, V = views.flat
        T = views.scratch
        if T is not None:  # small: one thread does it all, no blocks, in the shared scratch
            _adam(P, G, M, V, np.multiply(G, 1.0 - b1, out=T), b1, b2, eps, lr_t)
            return

        def rows(lo, hi) -> None:  # elementwise: the same bits whichever block an element falls in
            for s in range(lo, hi, BLOCK):  # (1 - b1) g in a transient of at most BLOCK elements
                e = min(s + BLOCK, hi)
                g = G[s:e]
                _adam(P[s:e], g, M[s:e], V[s:e], np.multiply(g, 1.0 - b1), b1, b2, eps, lr_t)

        _par.for_rows(rows, P.size, P.size)

    def update_all(self, state: State, keys: Sequence[Key], params: Sequence[np.ndarray],
                   grads: Sequence[np.ndarray], b1: float, b2: float, eps: float, lr_t: float) -> bool:
        """All parameters of one step at once; False (nothing done) when the gradients are not
        consecutive views of one flat array of the parameters' dtype."""
        whole = self.whole
        if whole is None or not whole.same(keys, params, grads, state):
            whole = self._prepare_all(state, keys, params, grads)
        if whole.G is None:
            return False
        G, M, V, segments = whole.G, whole.M, whole.V, whole.segments
        if self.kernels is not None:  # one pass per parameter; scalars cast as NumPy casts them
            dt = G.dtype.type
            scalars = (dt(b1), dt(b2), dt(1.0 - b1), dt(1.0 - b2), dt(eps), dt(lr_t))
            for start, end, P in segments:
                self.kernels.adam_segment(P, G[start:end], M[start:end], V[start:end], *scalars)
            return True

        def rows(lo, hi) -> None:  # elementwise: the same bits whichever block an element falls in
            for s in range(lo, hi, BLOCK):  # (1 - b1) g in a transient of at most BLOCK elements
                e = min(s + BLOCK, hi)
                g = G[s:e]
                adam_step(g, M[s:e], V[s:e], np.multiply(g, 1.0 - b1), b1, b2, eps, lr_t)
                for start, end, P in segments:  # param -= step, for the parameters in this block
                    a, z = max(s, start), min(e, end)
                    if a < z:
                        P[a - start:z - start] -= G[a:z]

        _par.for_rows(rows, G.size, G.size)
        return True

    def _prepare_all(self, state, keys, params, grads) -> _Whole:
        """The flat views of this step (G None when the gradients are not consecutive views of one
        flat array, or a parameter is not C-contiguous). The moments become views of flat M and V
        (their values kept)."""
        G = grads[0].base if grads else None
        ok = isinstance(G, np.ndarray) and G.ndim == 1 and G.flags.c_contiguous and all(
            g.base is G and g.flags.c_contiguous and p.flags.c_contiguous and p.shape == g.shape
            and p.dtype == g.dtype == G.dtype for p, g in zip(params, grads))
        segments, o = [], 0
        if ok and isinstance(G, np.ndarray):
            for p, g in zip(params, grads):
                start = (g.__array_interface__["data"][0] - G.__array_interface__["data"][0]) // G.itemsize
                ok = ok and start == o
                segments.append((o, o + g.size, p.reshape(-1)))
                o += g.size
            ok = ok and o == G.size
        if not ok or not isinstance(G, np.ndarray):
            self.whole = _Whole(keys, params, grads)
            return self.whole
        M, V = np.empty_like(G), np.empty_like(G)
        self.views.clear()  # per-parameter views of the moments replaced below: not kept alive
        for slot, flat in (("m", M), ("v", V)):
            slots = state.setdefault(slot, {})
            for key, p, (start, end, _) in zip(keys, params, segments):
                view = flat[start:end].reshape(p.shape)
                old = slots.get(key)
                view[...] = old if old is not None and old.shape == p.shape else 0.0
                slots[key] = view
        self.whole = _Whole(keys, params, grads, G, M, V, segments)
        return self.whole

    def _prepare(self, key, param, grad, m, v) -> _Views:
        """The flat views of one parameter's arrays, kept for the next step."""
        views = _Views(param, grad, m, v)
        if (param.flags.c_contiguous and grad.flags.c_contiguous and m.flags.c_contiguous
                and v.flags.c_contiguous and param.dtype == grad.dtype == m.dtype == v.dtype):
            P = param.reshape(-1)
            views.flat = (P, grad.reshape(-1), m.reshape(-1), v.reshape(-1))
            views.scratch = self._scratch(P) if P.size < _par.MIN_SIZE else None
        if len(self.views) > 64:  # parameters replaced again and again: start over
            self.views.clear()
        self.views[key] = views
        return views

    def _scratch(self, P):
        """Room for (1 - b1) grad of a small parameter (below ``parallel.MIN_SIZE`` elements): one
        buffer the size of the largest of them, shared (the updates run one after the other)."""
        T = self.scratch
        if T is None or T.dtype != P.dtype or T.size < P.size:
            self.views.clear()  # no view of a smaller buffer is kept alive beside the new one
            T = self.scratch = np.empty(P.size, P.dtype)
        return T[:P.size]
