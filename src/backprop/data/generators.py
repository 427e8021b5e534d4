"""Generated built-ins: xor, circles, moons, spirals, gaussians (2-D classes), sin (1-D regression),
plane and multigauss (regression on the plane, as TensorFlow Playground's "plane" and "multi gaussian").

Every set is drawn from ``numpy.random.default_rng(seed)``, so a name and its options reproduce it.
Options are checked against their allowed ranges before anything is drawn.
"""

from __future__ import annotations

import numpy as np

from backprop.data.dataset import Dataset
from backprop.data.options import check_float, check_int, check_seed
from backprop.errors import InvalidInputError

#: the generated sets and their defaults
GENERATED = {
    "xor": {"n_samples": 400, "noise": 0.15},
    "circles": {"n_samples": 400, "noise": 0.08},
    "moons": {"n_samples": 400, "noise": 0.15},
    "spirals": {"n_samples": 600, "noise": 0.2, "classes": 2},
    "gaussians": {"n_samples": 400, "noise": 1.0, "classes": 3},
    "sin": {"n_samples": 400, "noise": 0.05},
    "plane": {"n_samples": 400, "noise": 0.05},
    "multigauss": {"n_samples": 400, "noise": 0.05},
}
#: multigauss: (centre x1, centre x2, sign) of its bumps on [-1, 1]^2, and their common spread
BUMPS = ((-0.5, 0.5, 1.0), (0.5, 0.5, -1.0), (-0.5, -0.5, -1.0), (0.5, -0.5, 1.0), (0.0, 0.0, 0.5))
BUMP_SD = 0.3
#: allowed ranges: enough rows for a stratified split, few enough to fit in memory (10**7 x 2 floats)
MIN_SAMPLES, MAX_SAMPLES = 8, 10_000_000
MAX_CLASSES = 1000
MAX_NOISE = 1e6


def generated_options(name: str, *, n_samples: int | None = None, noise: float | None = None,
                      seed: int | None = None, classes: int | None = None) -> dict:
    """The checked options of the generated set ``name``: its defaults, overridden by those given."""
    if name not in GENERATED:
        raise InvalidInputError(f"unknown generated data set {name!r}; they are: {', '.join(GENERATED)}")
    opts = dict(GENERATED[name])
    if n_samples is not None:
        opts["n_samples"] = n_samples
    if noise is not None:
        opts["noise"] = noise
    if classes is not None:
        if "classes" not in opts:
            raise InvalidInputError(f"--classes applies to spirals and gaussians, not to {name!r}")
        opts["classes"] = classes
    opts["seed"] = 0 if seed is None else seed
    opts["n_samples"] = check_int("--n-samples", opts["n_samples"], MIN_SAMPLES, MAX_SAMPLES)
    opts["noise"] = check_float("--noise", opts["noise"], 0.0, MAX_NOISE)
    opts["seed"] = check_seed("--data-seed", opts["seed"])
    if "classes" in opts:
        # at least two rows per class, so that each can have a training and a test row
        opts["classes"] = check_int("--classes", opts["classes"], 2,
                                    max(2, min(MAX_CLASSES, int(opts["n_samples"]) // 2)))
    return opts


def generate(name: str, *, n_samples: int, noise: float, seed: int, classes: int | None = None) -> Dataset:
    """The generated set ``name`` (all rows; the caller splits off the test part)."""
    opts = generated_options(name, n_samples=n_samples, noise=noise, seed=seed, classes=classes)
    m, noise = opts["n_samples"], opts["noise"]
    rng = np.random.default_rng(opts["seed"])
    if name == "xor":
        corners = rng.integers(0, 2, size=(m, 2))
        X = corners + rng.normal(0.0, noise, (m, 2))
        y = corners[:, 0] ^ corners[:, 1]
    elif name == "circles":  # outer circle radius 1 (class 0), inner radius 0.5 (class 1)
        y = np.arange(m) % 2
        t = rng.uniform(0, 2 * np.pi, m)
        r = np.where(y == 0, 1.0, 0.5)
        X = np.c_[r * np.cos(t), r * np.sin(t)] + rng.normal(0.0, noise, (m, 2))
    elif name == "moons":  # two interleaving half circles
        y = np.arange(m) % 2
        t = rng.uniform(0, np.pi, m)
        X = np.where(y[:, None] == 0, np.c_[np.cos(t), np.sin(t)],
                     np.c_[1 - np.cos(t), 0.5 - np.sin(t)]) + rng.normal(0.0, noise, (m, 2))
    elif name == "spirals":
        k = opts["classes"]
        y = np.arange(m) % k
        r = rng.uniform(0.05, 1.0, m)
        t = 3 * np.pi * r + 2 * np.pi * y / k
        X = np.c_[r * np.cos(t), r * np.sin(t)] * 2 + rng.normal(0.0, noise * 0.1, (m, 2))
    elif name == "gaussians":
        k = opts["classes"]
        y = np.arange(m) % k
        angle = 2 * np.pi * np.arange(k) / k
        centers = 3.0 * np.c_[np.cos(angle), np.sin(angle)]
        X = centers[y] + rng.normal(0.0, noise, (m, 2))
    elif name == "sin":
        x = rng.uniform(-np.pi, np.pi, m)
        return Dataset(name, x.reshape(-1, 1), np.sin(x) + rng.normal(0.0, noise, m), "regression",
                       ["x"], "y")
    elif name in ("plane", "multigauss"):  # a real target over the square [-1, 1]^2
        X = rng.uniform(-1.0, 1.0, (m, 2))
        y = plane_target(X) if name == "plane" else multigauss_target(X)
        return Dataset(name, X, y + rng.normal(0.0, noise, m), "regression", ["x1", "x2"], "y")
    else:  # pragma: no cover - generated_options knows the names
        raise AssertionError(name)
    return Dataset(name, X, y.astype(np.int64), "classification", ["x1", "x2"], "class",
                   classes=sorted(set(y.tolist())))


def plane_target(X: np.ndarray) -> np.ndarray:
    """The noise-free target of ``plane``: y = (x1 + x2) / 2, a tilted plane (in [-1, 1])."""
    return (X[:, 0] + X[:, 1]) / 2.0


def multigauss_target(X: np.ndarray) -> np.ndarray:
    """The noise-free target of ``multigauss``: a sum of Gaussian bumps of sign +1 or -1 (BUMPS)."""
    y = np.zeros(X.shape[0])
    for c1, c2, sign in BUMPS:
        y += sign * np.exp(-((X[:, 0] - c1) ** 2 + (X[:, 1] - c2) ** 2) / (2 * BUMP_SD**2))
    return y
