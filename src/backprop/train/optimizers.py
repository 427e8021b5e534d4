"""Optimizers: how a gradient dE/dw becomes a weight change. Separate from the layers.

``SGD`` is the reference's delta rule, eq. (5): w <- w - eta dE/dw. The others keep per-parameter
state (velocities, moments) and follow scikit-learn's formulas, so the estimators match it.

Protocol used by the training loop, once per update:

1. ``scale = opt.begin_step()`` -- advances the step counter and the schedule. If it returns a
   number, the optimizer has asked for gradients pre-multiplied by it (plain SGD asks for eta, so
   the network folds eta into the small output error term instead of scaling every weight);
   ``None`` means plain gradients.
2. ``opt.update(key, param, grad)`` for every parameter, in place -- or, with all gradients
   known, ``opt.update_all(keys, params, grads)`` (the same updates; Adam then treats the
   network's flat gradient buffer as one array).
"""

from __future__ import annotations

import math

import numpy as np

from backprop.errors import InvalidInputError
from backprop.fast import parallel as _par


def _check_lr(lr):
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
        raise InvalidInputError(f"lr must be a positive number, got {lr!r}")
    if not math.isfinite(lr) or lr <= 0:
        raise InvalidInputError(f"lr must be a positive finite number, got {lr!r}")
    return float(lr)


class Schedule:
    """Learning rate per update: ``constant``, ``invscaling`` (eta / t^power_t), ``exponential``
    (eta * gamma^(epoch)), or any callable ``f(step, epoch) -> eta``."""

    NAMES = ("constant", "invscaling", "exponential")

    def __init__(self, kind=None, *, power_t=0.5, gamma=0.95):
        if kind is None:
            kind = "constant"
        if not callable(kind) and kind not in self.NAMES:
            raise InvalidInputError(
                f"unknown schedule {kind!r}; valid names are: {', '.join(self.NAMES)}, or a callable"
            )
        self.kind, self.power_t, self.gamma = kind, float(power_t), float(gamma)

    def __call__(self, lr0, step, epoch):
        if callable(self.kind):
            return float(self.kind(step, epoch))
        if self.kind == "invscaling":
            return lr0 / step**self.power_t
        if self.kind == "exponential":
            return lr0 * self.gamma**epoch
        return lr0


class Optimizer:
    name = ""

    def __init__(self, lr=0.1, schedule=None, **schedule_kw):
        self.lr0 = _check_lr(lr)
        self.lr = self.lr0  # the rate of the current step
        self.schedule = schedule if isinstance(schedule, Schedule) else Schedule(schedule, **schedule_kw)
        self.t = 0  # updates made
        self.epoch = 0  # set by the training loop
        self.state: dict = {}

    def begin_step(self):
        self.t += 1
        self.lr = self.schedule(self.lr0, self.t, self.epoch)
        return None

    def update(self, key, param, grad):
        raise NotImplementedError

    def update_all(self, keys, params, grads):
        """``update`` for every parameter of one step, in this order (an optimizer may do them at once)."""
        for key, param, grad in zip(keys, params, grads):
            self.update(key, param, grad)

    def _slot(self, name, key, like):
        slots = self.state.setdefault(name, {})
        buf = slots.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = slots[key] = np.zeros_like(like)
        return buf

    def state_dict(self):
        """Everything needed to continue exactly: counters and per-parameter arrays
        (``state[slot]["w.0"]``: see :func:`param_name`)."""
        return {
            "name": self.name,
            "t": self.t,
            "epoch": self.epoch,
            "lr0": self.lr0,
            "lr": self.lr,
            "state": {slot: {param_name(k): v for k, v in d.items()} for slot, d in self.state.items()},
        }

    def load_state_dict(self, sd):
        self.t, self.epoch = int(sd["t"]), int(sd["epoch"])
        self.lr0, self.lr = float(sd["lr0"]), float(sd["lr"])
        self.state = {
            slot: {param_key(k): np.array(v) for k, v in d.items()} for slot, d in sd["state"].items()
        }

    def __repr__(self):
        return f"<optimizer {self.name} lr={self.lr0}>"


def param_name(key) -> str:
    """The one name scheme of an optimizer's per-parameter state in every file: ("w", 0) -> "w.0".

    Checkpoints and estimator files store slot arrays as ``opt.<slot>.<name>`` (``opt.m.w.0``)."""
    kind, k = key
    return f"{kind}.{int(k)}"


def param_key(name) -> tuple[str, int]:
    """The parameter key of a stored name: "w.0" and, in files written before 0.2, "('w', 0)"."""
    if isinstance(name, tuple):
        return name
    s = str(name)
    if s.startswith("("):  # legacy checkpoints: the repr of the tuple
        kind, _, idx = s.strip("()").partition(",")
        return (kind.strip().strip("'\""), int(idx))
    kind, _, idx = s.partition(".")
    return (kind, int(idx))


class SGD(Optimizer):
    """The delta rule, eq. (5): w <- w - eta dE/dw."""

    name = "sgd"

    def begin_step(self):
        super().begin_step()
        return self.lr  # gradients arrive already multiplied by eta

    def update(self, key, param, grad):
        param -= grad


class Momentum(Optimizer):
    """v <- mu v - eta g;  w <- w + v  (Nesterov: w <- w + mu v - eta g, with the new v)."""

    name = "momentum"
    nesterov = False

    def __init__(self, lr=0.1, momentum=0.9, schedule=None, **kw):
        super().__init__(lr, schedule, **kw)
        self.momentum = float(momentum)

    def update(self, key, param, grad):
        v = self._slot("velocity", key, param)
        v *= self.momentum
        grad *= self.lr  # the gradient buffer is scratch after this
        v -= grad
        if self.nesterov:
            param += self.momentum * v
            param -= grad
        else:
            param += v


class Nesterov(Momentum):
    name = "nesterov"
    nesterov = True


class Adam(Optimizer):
    """Adam (Kingma & Ba), in scikit-learn's form:
    m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
    w <- w - eta sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps)."""

    name = "adam"

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, schedule=None, **kw):
        super().__init__(lr, schedule, **kw)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        # per parameter, the flat views of one step: the training loop passes the same arrays
        # every step, and preparing them cost as much as the update of a bias
        self._flat: dict = {}
        self._tmp: np.ndarray | None = None
        self._whole: tuple | None = None  # the same for all parameters at once (update_all)

    def update(self, key, param, grad):
        m = self._slot("m", key, param)
        v = self._slot("v", key, param)
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        lr_t = self.lr * math.sqrt(1.0 - b2**self.t) / (1.0 - b1**self.t)
        flat = self._flat.get(key)
        if (flat is None or flat[0] is not param or flat[1] is not grad or flat[2] is not m
                or flat[3] is not v):
            flat = self._prepare(key, param, grad, m, v)
        if flat[4] is None:  # not one contiguous dtype: whole arrays
            _adam(param, grad, m, v, grad * (1.0 - b1), b1, b2, eps, lr_t)
            return
        P, G, M, V, T = flat[4:]
        if T is not None:  # small: one thread does it all, no blocks, in the shared scratch
            _adam(P, G, M, V, np.multiply(G, 1.0 - b1, out=T), b1, b2, eps, lr_t)
            return

        def rows(lo, hi):  # elementwise: the same bits whichever block an element falls in
            for s in range(lo, hi, _BLOCK):  # (1 - b1) g in a transient of at most _BLOCK elements
                e = min(s + _BLOCK, hi)
                g = G[s:e]
                _adam(P[s:e], g, M[s:e], V[s:e], np.multiply(g, 1.0 - b1), b1, b2, eps, lr_t)

        _par.for_rows(rows, P.size, P.size)

    def update_all(self, keys, params, grads):
        """All parameters of one step at once when the gradients are consecutive views of one flat
        array (the network's gradient buffers are): 11 passes over that array and one subtraction
        per parameter, instead of 12 NumPy calls per parameter -- the same elementwise arithmetic,
        so the same bits as :meth:`update` one by one."""
        whole = self._whole
        if whole is None or not _same(whole[0], keys, params, grads, self.state):
            whole = self._prepare_all(keys, params, grads)
        if whole[1] is None:  # not one flat gradient array: one by one
            super().update_all(keys, params, grads)
            return
        G, M, V, segments = whole[1:]
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        lr_t = self.lr * math.sqrt(1.0 - b2**self.t) / (1.0 - b1**self.t)

        def rows(lo, hi):  # elementwise: the same bits whichever block an element falls in
            for s in range(lo, hi, _BLOCK):  # (1 - b1) g in a transient of at most _BLOCK elements
                e = min(s + _BLOCK, hi)
                g = G[s:e]
                _adam_step(g, M[s:e], V[s:e], np.multiply(g, 1.0 - b1), b1, b2, eps, lr_t)
                for start, end, P in segments:  # param -= step, for the parameters in this block
                    a, z = max(s, start), min(e, end)
                    if a < z:
                        P[a - start:z - start] -= G[a:z]

        _par.for_rows(rows, G.size, G.size)

    def _prepare_all(self, keys, params, grads):
        """(what it was made for, G, M, V, [(start, end, flat param)]) -- G None when the gradients
        are not consecutive views of one flat array of the parameters' dtype, or a parameter is not
        C-contiguous. The moments become views of flat M and V (their values kept)."""
        G = grads[0].base if grads else None
        ok = G is not None and G.ndim == 1 and G.flags.c_contiguous and all(
            g.base is G and g.flags.c_contiguous and p.flags.c_contiguous and p.shape == g.shape
            and p.dtype == g.dtype == G.dtype for p, g in zip(params, grads))
        segments, o = [], 0
        if ok:
            for p, g in zip(params, grads):
                start = (g.__array_interface__["data"][0] - G.__array_interface__["data"][0]) // G.itemsize
                ok = ok and start == o
                segments.append((o, o + g.size, p.reshape(-1)))
                o += g.size
            ok = ok and o == G.size
        if not ok:
            made = (tuple(keys), tuple(params), tuple(grads), None)
            whole = self._whole = (made, None, None, None, None)
            return whole
        M, V = np.empty_like(G), np.empty_like(G)
        self._flat.clear()  # per-parameter views of the moments replaced below: not kept alive
        for slot, flat in (("m", M), ("v", V)):
            slots = self.state.setdefault(slot, {})
            for key, p, (start, end, _) in zip(keys, params, segments):
                view = flat[start:end].reshape(p.shape)
                old = slots.get(key)
                view[...] = old if old is not None and old.shape == p.shape else 0.0
                slots[key] = view
        made = (tuple(keys), tuple(params), tuple(grads), (M, V))
        whole = self._whole = (made, G, M, V, segments)
        return whole

    def __getstate__(self):  # copies and pickles leave the views of the last step behind
        return {**self.__dict__, "_flat": {}, "_tmp": None, "_whole": None}

    def __setstate__(self, state):  # optimizers pickled before these caches existed
        self.__dict__.update({"_flat": {}, "_tmp": None, "_whole": None, **state})

    def _prepare(self, key, param, grad, m, v):
        """(param, grad, m, v, and their flat views with a scratch T for a small parameter -- the views
        None when they are not all C-contiguous of one dtype), kept for the next step."""
        views: tuple = (None,) * 5
        if (param.flags.c_contiguous and grad.flags.c_contiguous and m.flags.c_contiguous
                and v.flags.c_contiguous and param.dtype == grad.dtype == m.dtype == v.dtype):
            P = param.reshape(-1)
            views = (P, grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                     self._scratch(P) if P.size < _par.MIN_SIZE else None)
        if len(self._flat) > 64:  # parameters replaced again and again: start over
            self._flat.clear()
        flat = self._flat[key] = (param, grad, m, v, *views)
        return flat

    def _scratch(self, P):
        """Room for (1 - b1) grad of a small parameter (below ``_par.MIN_SIZE`` elements): one buffer
        the size of the largest of them, shared (the updates run one after the other)."""
        T = self._tmp
        if T is None or T.dtype != P.dtype or T.size < P.size:
            self._flat.clear()  # no view of a smaller buffer is kept alive beside the new one
            self._tmp = None
            T = self._tmp = np.empty(P.size, P.dtype)
        return T[:P.size]


def _same(made, keys, params, grads, state):
    """Whether the arrays of this step are those ``made`` was prepared for (by identity)."""
    k0, p0, g0, mv = made
    if len(p0) != len(params) or any(a is not b for a, b in zip(p0, params)) \
            or any(a is not b for a, b in zip(g0, grads)) or k0 != tuple(keys):
        return False
    if mv is None:
        return True
    M, V = mv  # the moments still the views of the flat ones (a loaded state replaces them)
    m, v = state.get("m", {}), state.get("v", {})
    return all(m.get(k) is not None and m[k].base is M and v.get(k) is not None and v[k].base is V
               for k in keys)


def _adam_step(grad, m, v, c1_grad, b1, b2, eps, lr_t):
    """Adam's moments and step, in place: afterwards ``grad`` holds the step to subtract."""
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


def _adam(param, grad, m, v, c1_grad, b1, b2, eps, lr_t):
    """The Adam step on arrays of one shape, in place; ``c1_grad`` = (1 - b1) grad; grad is scratch."""
    _adam_step(grad, m, v, c1_grad, b1, b2, eps, lr_t)
    param -= grad


#: most elements of Adam's (1 - b1) g transient (512 KB of float32): a large update's peak memory
#: stays well below one more parameter-sized array, for a dozen more NumPy calls a step
_BLOCK = 1 << 17

OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Nesterov, Adam)}


def get(name, lr, **kw) -> Optimizer:
    """Build an optimizer by name with its keyword arguments (those it does not take are ignored)."""
    if isinstance(name, Optimizer):
        return name
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise InvalidInputError(f"unknown optimizer {name!r}; valid names are: {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters) | {"power_t", "gamma"}
    return cls(lr, **{k: v for k, v in kw.items() if k in accepted and v is not None})
