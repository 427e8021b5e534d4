"""Optimizers: how a gradient dE/dw becomes a weight change. Separate from the layers.

``SGD`` is the reference's delta rule, eq. (5): w <- w - eta dE/dw. The others keep per-parameter
state (velocities, moments) and follow scikit-learn's formulas, so the estimators match it.

Protocol used by the training loop, once per update:

1. ``scale = opt.begin_step()`` -- advances the step counter and the schedule (``opt.lr`` is then
   this update's eta). An optimizer may return a number: it then asks for gradients
   pre-multiplied by it; ``None`` (all of these) means plain gradients dE/dw.
2. ``opt.update(key, param, grad)`` for every parameter, in place (``grad`` is scratch after) --
   or ``opt.update_all(keys, params, grads)``, the same updates in this order.

The fast ways to run SGD and Adam (the same results) are not here: see ``backprop.train.strategy``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backprop.errors import InvalidInputError

#: A parameter's key in an optimizer's state: ("w", k) or ("b", k).
ParamKey = tuple[str, int]


def check_lr(lr: object) -> float:
    """``lr`` as a float: a positive finite number (else a clear error)."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
        raise InvalidInputError(f"lr must be a positive number, got {lr!r}")
    if not math.isfinite(lr) or lr <= 0:
        raise InvalidInputError(f"lr must be a positive finite number, got {lr!r}")
    return float(lr)


class Schedule:
    """Learning rate per update: ``constant``, ``invscaling`` (eta / t^power_t), ``exponential``
    (eta * gamma^(epoch)), or any callable ``f(step, epoch) -> eta``."""

    NAMES = ("constant", "invscaling", "exponential")

    def __init__(self, kind: str | Callable | None = None, *, power_t: float = 0.5,
                 gamma: float = 0.95) -> None:
        if kind is None:
            kind = "constant"
        if not callable(kind) and kind not in self.NAMES:
            raise InvalidInputError(
                f"unknown schedule {kind!r}; valid names are: {', '.join(self.NAMES)}, or a callable"
            )
        self.kind, self.power_t, self.gamma = kind, float(power_t), float(gamma)

    def __call__(self, lr0: float, step: int, epoch: int) -> float:
        if callable(self.kind):
            return float(self.kind(step, epoch))
        if self.kind == "invscaling":
            return lr0 / step**self.power_t
        if self.kind == "exponential":
            return lr0 * self.gamma**epoch
        return lr0

    def constant_within_epoch(self) -> bool:
        """The rate changes only between epochs (a compiled epoch reads it once: fast.epochs)."""
        return (type(self).__call__ is Schedule.__call__ and not callable(self.kind)
                and self.kind in ("constant", "exponential"))


class Optimizer:
    name = ""

    def __init__(self, lr: float = 0.1, schedule: Schedule | str | Callable | None = None,
                 **schedule_kw: float) -> None:
        self.lr0 = check_lr(lr)
        self.lr = self.lr0  # the rate of the current step
        self.schedule = schedule if isinstance(schedule, Schedule) else Schedule(schedule, **schedule_kw)
        self.t = 0  # updates made
        self.epoch = 0  # set by the training loop
        self.state: dict = {}

    def begin_step(self) -> float | None:
        self.t += 1
        self.lr = self.schedule(self.lr0, self.t, self.epoch)
        return None

    def update(self, key: ParamKey, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def update_all(self, keys: Sequence[ParamKey], params: Sequence[np.ndarray],
                   grads: Sequence[np.ndarray]) -> None:
        """``update`` for every parameter of one step, in this order (an optimizer may do them at once)."""
        for key, param, grad in zip(keys, params, grads):
            self.update(key, param, grad)

    def _slot(self, name, key, like):
        slots = self.state.setdefault(name, {})
        buf = slots.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = slots[key] = np.zeros_like(like)
        return buf

    def state_dict(self) -> dict:
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

    def load_state_dict(self, sd: dict) -> None:
        self.t, self.epoch = int(sd["t"]), int(sd["epoch"])
        self.lr0, self.lr = float(sd["lr0"]), float(sd["lr"])
        self.state = {
            slot: {param_key(k): np.array(v) for k, v in d.items()} for slot, d in sd["state"].items()
        }

    def __repr__(self) -> str:
        return f"<optimizer {self.name} lr={self.lr0}>"


def param_name(key: ParamKey) -> str:
    """The one name scheme of an optimizer's per-parameter state in every file: ("w", 0) -> "w.0".

    Checkpoints and estimator files store slot arrays as ``opt.<slot>.<name>`` (``opt.m.w.0``)."""
    kind, k = key
    return f"{kind}.{int(k)}"


def param_key(name: Any) -> tuple[str, int]:
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
    """The delta rule, eq. (5): w <- w - eta dE/dw.

    The training loop folds eta into the error term of eq. (2) instead and subtracts, or fuses
    the whole rule into the backward pass (``backprop.fast.fused``, chosen by
    ``backprop.train.strategy``): the same rule, fewer passes over the weights."""

    name = "sgd"

    def update(self, key: ParamKey, param: np.ndarray, grad: np.ndarray) -> None:
        param -= self.lr * grad  # eq. (5)


class Momentum(Optimizer):
    """v <- mu v - eta g;  w <- w + v  (Nesterov: w <- w + mu v - eta g, with the new v)."""

    name = "momentum"
    nesterov = False

    def __init__(self, lr: float = 0.1, momentum: float = 0.9,
                 schedule: Schedule | str | Callable | None = None, **kw: Any) -> None:
        super().__init__(lr, schedule, **kw)
        self.momentum = float(momentum)

    def update(self, key: ParamKey, param: np.ndarray, grad: np.ndarray) -> None:
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
    w <- w - eta sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps).

    The training loop runs the same arithmetic on the network's flat gradient buffer at once
    (``backprop.fast.adam``, chosen by ``backprop.train.strategy``)."""

    name = "adam"

    def __init__(self, lr: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 schedule: Schedule | str | Callable | None = None, **kw: float) -> None:
        super().__init__(lr, schedule, **kw)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def step_size(self) -> float:
        """eta_t = eta sqrt(1 - b2^t) / (1 - b1^t): the rate with both moments' bias corrected."""
        return self.lr * math.sqrt(1.0 - self.beta_2**self.t) / (1.0 - self.beta_1**self.t)

    def update(self, key: ParamKey, param: np.ndarray, grad: np.ndarray) -> None:
        m = self._slot("m", key, param)
        v = self._slot("v", key, param)
        b1, b2 = self.beta_1, self.beta_2
        m *= b1
        m += (1.0 - b1) * grad  # m <- b1 m + (1 - b1) g
        v *= b2
        v += (1.0 - b2) * (grad * grad)  # v <- b2 v + (1 - b2) g^2
        param -= self.step_size() * (m / (np.sqrt(v) + self.epsilon))

    def __setstate__(self, state) -> None:  # optimizers pickled with the caches of earlier versions
        self.__dict__.update({k: v for k, v in state.items() if k not in ("_flat", "_tmp", "_whole")})


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Nesterov, Adam)}


def get(name: Any, lr: float, **kw: Any) -> Optimizer:
    """Build an optimizer by name with its keyword arguments (those it does not take are ignored)."""
    if isinstance(name, Optimizer):
        return name
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise InvalidInputError(f"unknown optimizer {name!r}; valid names are: {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters) | {"power_t", "gamma"}
    return cls(lr, **{k: v for k, v in kw.items() if k in accepted and v is not None})
