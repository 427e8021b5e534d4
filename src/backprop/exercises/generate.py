"""Exercises from a seed: small networks with numbers a student can work by hand.

:func:`generate` draws each problem -- network, weights, samples -- from the teacher's choices
and keeps it only when it is *hand-workable* and *gradable*:

* weights, bias weights and inputs are multiples of 0.05 (one or two decimals), at least 0.1 in
  size; targets have one decimal (0/1 for cross-entropy, one-hot for softmax);
* no degenerate intermediate value: every |h| >= 0.01 (a ReLU unit is active: h >= 0.05), no
  saturated unit (|h| <= 2.5 for a sigmoid, 2 for tanh), no two units of a layer with h within
  0.01 of each other, |yhat - y| >= 0.02, and every error term, gradient and weight change at least
  two units of the last decimal asked (:func:`degenerate` says what is wrong);
* a common mistake that moves an asked value out of its tolerance moves one by more than 1.5
  tolerances (a mistake that stays within the tolerances everywhere is indistinguishable from
  rounding, and is not one on this problem), and no two mistakes give wrong values within one
  tolerance of each other (:func:`ambiguous`), so the grader can tell them apart.

The key's values come from the engine: ``Network.trace`` for h, a, delta, E and the gradients of
eq. (3), and one SGD step of ``fit`` on a copy for the weights after the update; they are checked
against :func:`backprop.exercises.misconceptions.cycle` (an internal consistency check).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backprop.errors import InvalidInputError
from backprop.exercises import misconceptions as mc
from backprop.exercises.problem import (
    HIDDEN,
    MAX_ROWS,
    MAX_UNITS,
    MODES,
    OUTPUT,
    TOPICS,
    Problem,
)
from backprop.exercises.sheet import Sheet
from backprop.exercises.solution import network
from backprop.exercises.tolerance import DECIMALS, RELATIVE, entry_tolerance

#: Problems drawn for one accepted problem, at most, before the options are declared unworkable.
ATTEMPTS = 2000
#: The loss options of a sheet: "cross_entropy" is the cross-entropy of the output's own kind.
LOSS_CHOICES = ("mse", "cross_entropy")
MAX_COUNT = 200

_GRID = np.round(np.arange(0.1, 1.0001, 0.05), 2)  # 0.1, 0.15, ..., 1.0


def _choices(value, allowed, name) -> list:
    try:
        vals = [value] if isinstance(value, (str, int, float)) else list(value)
    except TypeError:  # None, an object that is not a choice nor a list of them
        raise InvalidInputError(f"{name}: expected one choice or a list of them, got {value!r}") from None
    if not vals:
        raise InvalidInputError(f"{name}: give at least one choice")
    for v in vals:
        if allowed is not None and v not in allowed:
            raise InvalidInputError(
                f"unknown {name} {v!r}; valid choices are: {', '.join(map(str, allowed))}"
            )
    return vals


def _check_sizes(sizes) -> list[tuple[int, ...]]:
    if not sizes:
        raise InvalidInputError("sizes: give at least one network, e.g. (2, 2, 1)")
    try:
        nets = [tuple(s) for s in sizes]
    except TypeError:
        raise InvalidInputError(
            f"sizes must be a list of networks L-M-N, e.g. [(2, 2, 1)], got {sizes!r}"
        ) from None
    out = []
    for s in nets:
        if len(s) != 3 or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in s):
            raise InvalidInputError(
                f"an exercise network is L-M-N (input, one hidden layer, output), got {s!r}"
            )
        if not all(1 <= n <= MAX_UNITS for n in s):
            raise InvalidInputError(
                f"network {'-'.join(map(str, s))}: every layer needs 1 to {MAX_UNITS} units "
                "(a problem worked by hand)"
            )
        out.append(tuple(int(n) for n in s))
    return out


def _pairs(outputs, losses, sizes):
    """The (output, engine loss) pairs the options allow."""
    pairs = []
    for o in outputs:
        for lo in losses:
            if lo == "mse" and o != "softmax":
                pairs.append((o, "mse"))
            elif lo == "cross_entropy" and o == "sigmoid":
                pairs.append((o, "binary_cross_entropy"))
            elif lo == "cross_entropy" and o == "softmax" and any(s[-1] >= 2 for s in sizes):
                pairs.append((o, "cross_entropy"))
    if not pairs:
        raise InvalidInputError(
            "no output activation fits the loss: mse takes sigmoid, tanh or identity outputs; "
            "cross_entropy takes sigmoid or softmax (softmax needs at least 2 outputs)"
        )
    return pairs


def _grid(rng, shape, minimum=0.1):
    vals = rng.choice(_GRID[_GRID >= minimum], size=shape)
    return vals * rng.choice([-1.0, 1.0], size=shape)


def _targets(rng, output, loss, m, n):
    if output == "softmax":
        return np.eye(n)[rng.integers(0, n, size=m)]
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, size=(m, n)).astype(float)
    if output == "sigmoid":
        return np.round(rng.choice(np.arange(0.0, 1.01, 0.1), size=(m, n)), 1)
    return np.round(rng.choice(np.arange(-0.9, 0.91, 0.1), size=(m, n)), 1)


def _draw(rng, sizes, hidden, pairs, modes, lrs, samples, batch_size, asked) -> Problem:
    s = sizes[rng.integers(len(sizes))]
    if s[-1] < 2:
        pairs = [p for p in pairs if p[0] != "softmax"] or pairs
    output, loss = pairs[rng.integers(len(pairs))]
    mode = modes[rng.integers(len(modes))]
    # samples None: the defaults, 2 in batch mode and two mini-batches in minibatch mode
    m_train = {"online": 1, "batch": samples or 2, "minibatch": samples or 2 * batch_size}[mode]
    m = {"online": 1, "batch": samples or 2, "minibatch": batch_size}[mode]
    weights = [_grid(rng, (s[k], s[k + 1])) for k in range(2)]
    biases = [_grid(rng, (s[k + 1],)) for k in range(2)]
    x = _grid(rng, (m_train, s[0]))
    y = _targets(rng, output, loss, m_train, s[-1])
    return Problem(
        sizes=list(s),
        hidden=hidden[rng.integers(len(hidden))],
        output=output,
        loss=loss,
        lr=float(lrs[rng.integers(len(lrs))]),
        mode=mode,
        batch_size=m,
        weights=weights,
        biases=biases,
        train_x=x,
        train_y=y,
        asked=asked,
    )


def degenerate(p: Problem, v: dict, decimals: int) -> str | None:
    """Why the problem's numbers are not hand-workable (None when they are)."""
    unit = 10.0**-decimals
    acts = [p.hidden] * (p.n_layers - 1) + [p.output]
    for h, act in zip(v["h"], acts):
        if act == "relu" and np.any(h < 0.05):
            return "an inactive (or almost inactive) ReLU unit"
        if np.any(np.abs(h) < 0.01):
            return "h near 0"
        if (act == "sigmoid" and np.any(np.abs(h) > 2.5)) or (act == "tanh" and np.any(np.abs(h) > 2.0)):
            return "saturated unit"
        if h.shape[1] > 1 and np.any(np.diff(np.sort(h, axis=1), axis=1) < 0.01):
            return "tie between units"
    if np.any(np.abs(v["yhat"] - p.y) < 0.02):
        return "yhat too close to y"
    if any(np.any(np.abs(d) < 2 * unit) for d in v["delta"]):
        return "an error term rounds to almost 0"
    grads = v["grad_weights"] + v["grad_biases"]
    if any(np.any(np.abs(g) < 2 * unit) or np.any(np.abs(p.lr * g) < 2 * unit) for g in grads):
        return "a gradient or a weight's change rounds to almost 0"
    big = [v["E"]] + [np.abs(a).max() for q in ("h", "a", "delta", "grad_weights") for a in v[q]]
    if max(big) > 10:
        return "a value too large to work by hand"
    return None


def ambiguous(p: Problem, decimals: int, relative: float) -> str | None:
    """Why a common mistake could not be told from the right value or from another mistake."""
    entries = list(p.asked_entries())
    tol = {(n, i): entry_tolerance(p, n, i, decimals, relative) for n, i, _ in entries}
    cands: dict = {(n, i): [] for n, i, _ in entries}
    for name in mc.MISCONCEPTIONS:
        vs = mc.variants(name)
        changed = visible = False
        for var in vs:
            vals = mc.cycle(p, var)
            for n, i, _ in entries:
                c, k = p.value(n, i, vals), p.value(n, i)
                if not np.isfinite(c):
                    continue
                d = abs(c - k)
                changed |= d > tol[(n, i)]
                if d > 1.5 * tol[(n, i)]:
                    visible = True
                    cands[(n, i)].append((name, c))
        if changed and not visible:
            return f"{name} changes the asked values by hardly more than their tolerance"
    for key, cs in cands.items():
        for a in range(len(cs)):
            for b in range(a + 1, len(cs)):
                if cs[a][0] != cs[b][0] and abs(cs[a][1] - cs[b][1]) <= 0.1 * tol[key]:
                    return f"{cs[a][0]} and {cs[b][0]} give the same {key[0]}"
    return None


def engine_values(p: Problem) -> dict:
    """Every quantity of the update, from the engine (trace, and one SGD step of fit on a copy)."""
    net = network(p)
    t = net.trace(p.x, p.y, p.loss)
    after = net.copy()
    after.fit(p.x, p.y, loss=p.loss, epochs=1, lr=p.lr, batch_size=p.m, optimizer="sgd", shuffle=False)
    return {
        "h": t.h,
        "a": t.a,
        "yhat": t.a[-1],
        "E": float(t.loss),
        "delta": t.delta,
        "grad_weights": t.grad_weights,
        "grad_biases": t.grad_biases,
        "weights_after": [w.copy() for w in after.weights],
        "biases_after": [b.copy() for b in after.biases],
    }


def _consistent(a: dict, b: dict) -> bool:
    for q in mc.QUANTITIES:
        x, y = a[q], b[q]
        xs = [np.asarray(x)] if q in ("E", "yhat") else [np.asarray(v) for v in x]
        ys = [np.asarray(y)] if q in ("E", "yhat") else [np.asarray(v) for v in y]
        if not all(np.allclose(u, w, rtol=1e-9, atol=1e-12) for u, w in zip(xs, ys)):
            return False
    return True


def _asked(ask) -> tuple[str, ...]:
    topics = _choices(ask, tuple(TOPICS), "ask")
    wanted = {q for t in topics for q in TOPICS[t]}
    return tuple(q for q in mc.QUANTITIES if q in wanted)


def _check_samples(samples: int | None, batch_size: int, modes: Sequence[str]) -> None:
    """``samples`` (when given) must be used: by a batch, or as a training set larger than a mini-batch."""
    if samples is None:
        return
    if "minibatch" in modes and samples <= batch_size:
        raise InvalidInputError(
            f"samples ({samples}) must be more than batch_size ({batch_size}) in minibatch mode: the "
            "mini-batch is the first batch_size of them (all of them would be batch mode)"
        )
    if set(modes) == {"online"}:
        raise InvalidInputError("samples applies to batch and minibatch mode; online mode uses one sample")


def generate(
    count: int = 1,
    seed: int = 0,
    *,
    sizes: Sequence[Sequence[int]] = ((2, 2, 1),),
    hidden: str | Sequence[str] = "sigmoid",
    output: str | Sequence[str] = "sigmoid",
    loss: str | Sequence[str] = "mse",
    mode: str | Sequence[str] = "online",
    ask: str | Sequence[str] = "all",
    lr: float | Sequence[float] = (0.5, 0.25),
    samples: int | None = None,
    batch_size: int = 2,
    decimals: int = DECIMALS,
    relative: float = RELATIVE,
) -> Sheet:
    """``count`` exercises drawn from ``seed``; each option is one choice or several (drawn per problem).

    sizes : networks L-M-N (one hidden layer), e.g. ``[(2, 2, 1), (2, 3, 2)]``.
    hidden, output : activations g_h, g_o (hidden: sigmoid, tanh, relu, identity; output: sigmoid,
        tanh, identity, softmax).
    loss : "mse" (the reference's E) or "cross_entropy" (binary for a sigmoid output, categorical for
        softmax).
    mode : "online" (one sample), "batch" (``samples`` samples, default 2, one update with eq. 3's
        mean) or "minibatch" (a training set of ``samples`` samples, default 2 x ``batch_size``; the
        update on its first mini-batch, the first ``batch_size`` of them).
    samples, batch_size : see mode; ``samples`` must exceed ``batch_size`` in minibatch mode, and is
        refused when only online problems are drawn (nothing would use it).
    ask : what the student finds: "forward" (h, a, yhat, E), "delta" (eqs. 2 and 4), "gradients"
        (eqs. 1 and 3), "update" (eq. 5) or "all" -- one topic or several.
    lr : the learning rate eta (one or several choices).
    decimals : the decimals the answers are given to (sets the tolerance, see
        :mod:`backprop.exercises.tolerance`).

    The same arguments give the same sheet, number for number.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= MAX_COUNT:
        raise InvalidInputError(f"count must be an integer from 1 to {MAX_COUNT}, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    for name, val, hi in (
        ("samples", 2 if samples is None else samples, MAX_ROWS),
        ("batch_size", batch_size, MAX_ROWS // 2),
        ("decimals", decimals, 6),
    ):
        lo = 2 if name == "samples" else 1
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or not lo <= val <= hi:
            raise InvalidInputError(f"{name} must be an integer from {lo} to {hi}, got {val!r}")
    if decimals < 3:
        raise InvalidInputError("decimals must be at least 3: error terms and gradients are small numbers")
    sz = _check_sizes(sizes)
    hid = _choices(hidden, HIDDEN, "hidden activation")
    out = _choices(output, OUTPUT, "output activation")
    pairs = _pairs(out, _choices(loss, LOSS_CHOICES, "loss"), sz)
    modes = _choices(mode, MODES, "mode")
    _check_samples(samples, batch_size, modes)
    lrs = _choices(lr, None, "lr")
    numbers = all(isinstance(v, (int, float, np.number)) for v in lrs)  # "0.5" or None: not a rate
    if not (numbers and all(np.isfinite(v) and 0 < v <= 10 and v != 1 for v in lrs)):
        raise InvalidInputError(
            f"lr must be numbers in (0, 10] other than 1 (eta applied twice must show), got {lrs}"
        )
    lrs = [float(v) for v in lrs]
    asked = _asked(ask)
    n_samples = None if samples is None else int(samples)
    rng = np.random.default_rng(int(seed))
    problems = []
    for _ in range(count):
        for _attempt in range(ATTEMPTS):
            p = _draw(rng, sz, hid, pairs, modes, lrs, n_samples, int(batch_size), asked)
            v = mc.cycle(p)
            if degenerate(p, v, decimals) is None:
                p.values = v
                if ambiguous(p, decimals, relative) is None:
                    break
        else:
            raise InvalidInputError(
                f"could not draw a hand-workable problem with these options in {ATTEMPTS} tries; "
                "allow more networks, activations or learning rates (e.g. --lr 0.5,0.25)"
            )
        p.values = engine_values(p)
        if not _consistent(p.values, v):  # the engine and the plain recomputation must agree
            raise RuntimeError("the engine's update differs from the exercise's recomputation")
        problems.append(p)
    return Sheet(problems, seed=int(seed), decimals=int(decimals), relative=float(relative))


__all__ = ["generate", "degenerate", "ambiguous", "engine_values", "ATTEMPTS", "LOSS_CHOICES"]
