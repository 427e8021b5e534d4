"""The playground's configuration: checked JSON in, training data in the network's space out.

A configuration is a flat JSON object (see ``docs/playground.md``); every key has a default, an
unknown key or a bad value is an :class:`~backprop.errors.InvalidInputError` whose message the page
shows as it is. The data are prepared as ``backprop train`` prepares them: inputs standardized with
the training rows' statistics, class labels one-hot (or one 0/1 column for a sigmoid output with
two classes), regression targets standardized.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from backprop.core.activations import HIDDEN_ACTIVATIONS
from backprop.core.losses import LOSSES
from backprop.data import datasets, preparation
from backprop.errors import BackpropError, InvalidInputError
from backprop.playground import features as _features
from backprop.train.batching import MODES
from backprop.train.optimizers import OPTIMIZERS

BUILTINS = ("xor", "circles", "moons", "spirals", "gaussians", "sin", "plane", "multigauss")
#: the built-ins whose points lie on the plane (x1, x2): input features apply to them
PLANE = tuple(b for b in BUILTINS if b != "sin")
OUTPUTS = ("sigmoid", "softmax", "identity", "tanh")
MAX_LAYERS = 8
MAX_WIDTH = 32
MAX_SAMPLES = 5000
#: the playground never ends training by itself: play runs until pause
EPOCHS = 10**9

DEFAULTS = {
    "data": "xor", "target": None, "n_samples": 200, "noise": None, "data_seed": 0,
    "val_fraction": 0.25, "layers": [4], "hidden": "tanh", "output": None, "loss": None,
    "optimizer": "sgd", "lr": 0.5, "momentum": 0.9, "mode": "minibatch", "batch_size": 16,
    "seed": 0, "l2": 0.0, "l1": 0.0, "shuffle": True, "features": _features.DEFAULT,
}


def _number(v) -> bool:
    """A finite JSON number (not a bool; an int of any size)."""
    return not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)))


def _int(v, name, lo, hi):
    # finiteness and range first: int() of NaN or infinity raises, and of 1e300 makes a huge number
    if not _number(v):
        raise InvalidInputError(f"{name} must be a whole number from {lo} to {hi}, got {_shown(v)}")
    if not lo <= v <= hi:
        raise InvalidInputError(f"{name} must lie between {lo} and {hi}, got {_shown(v)}")
    if v != int(v):
        raise InvalidInputError(f"{name} must be a whole number, got {v!r}")
    return int(v)


def _shown(v):
    """A value in a message: JSON's words for non-finite numbers, long values cut short."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if v != v else "Infinity" if v > 0 else "-Infinity"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _float(v, name, lo, hi, *, lo_open=False):
    if not _number(v):
        raise InvalidInputError(f"{name} must be a finite number, got {_shown(v)}")
    if v < lo or v > hi or (lo_open and v == lo):  # compared before float(): a huge int would overflow
        raise InvalidInputError(f"{name} must lie in {'(' if lo_open else '['}{lo:g}, {hi:g}], "
                                f"got {_shown(v)}")
    return float(v)


def _choice(v, name, options):
    if v not in options:
        raise InvalidInputError(f"unknown {name} {v!r}; choose one of: {', '.join(options)}")
    return v


def check_config(raw: object, uploads: dict | None = None) -> dict:
    """The complete configuration for ``raw`` (a JSON object), defaults filled in."""
    if not isinstance(raw, dict):
        raise InvalidInputError('the configuration must be a JSON object like {"data": "xor", "layers": [4]}')
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise InvalidInputError(f"unknown configuration key {unknown[0]!r}; valid keys are: "
                                f"{', '.join(DEFAULTS)}")
    cfg = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None or k in ("output", "loss", "target")}}
    _check_data(cfg, uploads)
    _check_network(cfg)
    _choice(cfg["optimizer"], "optimizer", tuple(OPTIMIZERS))
    cfg["lr"] = _float(cfg["lr"], "lr", 0.0, 100.0, lo_open=True)
    cfg["momentum"] = _float(cfg["momentum"], "momentum", 0.0, 1.0)
    _choice(cfg["mode"], "mode", MODES)
    cfg["batch_size"] = _int(cfg["batch_size"], "batch_size", 1, MAX_SAMPLES)
    cfg["seed"] = _int(cfg["seed"], "seed", 0, 2**32 - 1)
    cfg["l2"] = _float(cfg["l2"], "l2", 0.0, 10.0)
    cfg["l1"] = _float(cfg["l1"], "l1", 0.0, 10.0)
    if not isinstance(cfg["shuffle"], bool):
        raise InvalidInputError(f"shuffle must be true or false, got {cfg['shuffle']!r}")
    return cfg


def _check_data(cfg, uploads):
    """The data options of ``cfg``, checked and converted in place."""
    data = cfg["data"]
    if not isinstance(data, str):
        raise InvalidInputError(f"data must be a built-in name or an uploaded file id, got {data!r}")
    if data not in BUILTINS and data not in (uploads or {}):
        raise InvalidInputError(f"unknown data {data!r}; choose a built-in ({', '.join(BUILTINS)}) "
                                "or upload a CSV file first")
    if data in BUILTINS and cfg["target"] is not None:
        raise InvalidInputError(f"target applies to an uploaded CSV file, not to the built-in {data!r}")
    if cfg["target"] is not None and not isinstance(cfg["target"], str):
        raise InvalidInputError(f"target must be a column name, got {cfg['target']!r}")
    cfg["n_samples"] = _int(cfg["n_samples"], "n_samples", 8, MAX_SAMPLES)
    if cfg["noise"] is not None:
        cfg["noise"] = _float(cfg["noise"], "noise", 0.0, 10.0)
    cfg["data_seed"] = _int(cfg["data_seed"], "data_seed", 0, 2**32 - 1)
    cfg["val_fraction"] = _float(cfg["val_fraction"], "val_fraction", 0.0, 0.9)
    cfg["features"] = _features.check(cfg["features"])


def _check_network(cfg):
    """The network's options of ``cfg`` (layers, activations, loss), checked and converted in place."""
    layers = cfg["layers"]
    if not isinstance(layers, list):
        raise InvalidInputError(f"layers must be a list of hidden-layer widths like [4, 4], "
                                f"got {_shown(layers)}")
    if len(layers) > MAX_LAYERS:
        raise InvalidInputError(f"the playground draws at most {MAX_LAYERS} hidden layers, got {len(layers)}")
    cfg["layers"] = [_int(n, f"layers[{i}]", 1, MAX_WIDTH) for i, n in enumerate(layers)]
    hidden = cfg["hidden"]
    hidden = [hidden] * len(layers) if isinstance(hidden, str) else hidden
    if not isinstance(hidden, list) or len(hidden) != len(layers):
        raise InvalidInputError(f"hidden must be one activation name or a list of {len(layers)} "
                                f"(one per hidden layer), got {cfg['hidden']!r}")
    cfg["hidden"] = [_choice(h, "hidden activation", HIDDEN_ACTIVATIONS) for h in hidden]
    if cfg["output"] is not None:
        _choice(cfg["output"], "output activation", OUTPUTS)
    if cfg["loss"] is not None:
        _choice(cfg["loss"], "loss", tuple(LOSSES))


@dataclasses.dataclass
class PlayData:
    """Training and validation rows as the network sees them, and what is needed to draw them."""

    X: np.ndarray  # a^0 of every training row (standardized)
    Y: np.ndarray  # target rows
    labels: np.ndarray  # class index (classification) or raw target (regression) per training row
    X_val: np.ndarray | None
    Y_val: np.ndarray | None
    X_raw: np.ndarray  # the training rows' raw features (the plots' coordinates)
    X_val_raw: np.ndarray | None  # the held-out (test) rows' raw features
    labels_val: np.ndarray | None  # their class index or raw target
    task: str
    classes: list | None
    feature_names: list
    target: str | list | None
    standardize: dict
    target_standardize: dict | None
    output: str
    loss: str
    n_out: int
    #: the input features computed from the raw (x1, x2) (data on the plane), None: the raw columns
    features: list | None = None
    raw_names: list | None = None  # the data's own input columns (x1, x2 of the plane)


def prepare(cfg: dict, uploads: dict | None = None) -> PlayData:
    """Load ``cfg['data']`` and put it into the network's space (``backprop.data.preparation``, with the
    playground's defaults: the reference's sigmoid + MSE for two classes); output and loss "auto"
    (None) resolved."""
    ds, X, y, Xv, yv = _load(cfg, uploads or {})
    layer = preparation.output_layer(ds.task, y, classes=ds.classes, more_y=(yv,), output=cfg["output"],
                                     loss=cfg["loss"], defaults=preparation.PLAYGROUND, target=ds.target)
    if layer.classes is not None and len(layer.classes) > MAX_WIDTH:
        raise InvalidInputError(f"the target {ds.target!r} has {len(layer.classes)} classes; the playground "
                                f"draws at most {MAX_WIDTH} output units (is it a regression target?)")
    if X.shape[1] > 64:
        raise InvalidInputError(f"the data has {X.shape[1]} features; the playground draws at most 64 inputs")
    uploads = uploads or {}
    shown = repr(cfg["data"]) if cfg["data"] in BUILTINS else f"the file {uploads[cfg['data']]['filename']}"
    feats, names = _input_features(cfg, ds, X, shown)
    Xf = X if feats is None else _features.compute(X, feats)
    Xvf = Xv if feats is None or Xv is None else _features.compute(Xv, feats)
    prep = preparation.prepare(ds.task, Xf, y, layer, dtype=np.float64)  # standardizes the features
    assert prep.standardize is not None  # the playground always standardizes its inputs
    Y, labels = prep.targets(y)
    Yv, labels_val = (None, None) if yv is None else prep.targets(yv)
    if ds.task == "regression" and layer.output in ("sigmoid", "tanh"):
        Y, Yv = _inside_range(Y, Yv, layer.output)
    return PlayData(
        X=prep.inputs(Xf), Y=Y, labels=labels, X_val=None if Xvf is None else prep.inputs(Xvf), Y_val=Yv,
        X_raw=np.asarray(X, np.float64), X_val_raw=None if Xv is None else np.asarray(Xv, np.float64),
        labels_val=labels_val, task=ds.task, classes=layer.classes,
        feature_names=names, target=ds.target, standardize=prep.standardize,
        target_standardize=prep.meta.get("target_standardize"), output=layer.output, loss=layer.loss,
        n_out=layer.n_out, features=feats, raw_names=list(ds.feature_names),
    )


def _input_features(cfg, ds, X, shown):
    """(the features to compute from the raw columns, or None for the raw columns themselves; the
    network's input names). Features apply to data on the plane: two input columns."""
    feats = cfg["features"]
    if X.shape[1] != 2:
        if feats != _features.DEFAULT:
            raise InvalidInputError(
                f"input features apply to data on the plane (two input columns x1, x2); {shown} has "
                f"{X.shape[1]} input column{'s' if X.shape[1] != 1 else ''}: leave features at "
                f'{_features.DEFAULT}')
        return None, list(ds.feature_names)
    return feats, _features.names(feats, ds.feature_names)


def _load(cfg, uploads):
    """(the data set, X, y, and the held-out (test) rows Xv, yv or None): a built-in's test part
    (``val_fraction`` of its rows, stratified by class; 0.25 is its fixed split) or ``val_fraction`` of
    an upload's rows."""
    try:
        if cfg["data"] in BUILTINS:
            frac = cfg["val_fraction"]
            ds = datasets.load(cfg["data"], n_samples=cfg["n_samples"], noise=cfg["noise"],
                               seed=cfg["data_seed"], test_fraction=frac or None)
            X, y, Xv, yv = ds.X, ds.y, ds.X_test, ds.y_test
            if not frac:  # no test part: the fixed split's two parts trained on together
                X, y, Xv, yv = np.concatenate([X, Xv]), np.concatenate([y, yv]), None, None
        else:
            ds = datasets.load_file(uploads[cfg["data"]]["path"], target=cfg["target"])
            if ds.y is None:
                raise InvalidInputError("the file has no target column; choose one")
            X, y, Xv, yv = _split(ds.X, ds.y, cfg["val_fraction"], cfg["data_seed"])
    except BackpropError as exc:
        if cfg["data"] in BUILTINS:  # the loader's words are the command line's: say the config keys
            message = str(exc)
            for option, key in _OPTION_KEYS:
                message = message.replace(option, key)
            raise InvalidInputError(message) from None
        info = uploads[cfg["data"]]  # name the user's file, not our copy of it
        raise InvalidInputError(str(exc).replace(info["path"], info["filename"])) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # a reader's own complaint, made readable
        raise InvalidInputError(f"cannot read the data: {exc}") from None
    if y is None:
        raise InvalidInputError(f"{cfg['data']} has no target column")
    return ds, X, y, Xv, yv


_OPTION_KEYS = (("--test-fraction", "val_fraction (the share of test data)"), ("--n-samples", "n_samples"),
                ("--noise", "noise"), ("--data-seed", "data_seed"))


def _inside_range(Y, Yv, output):
    """Standardized regression targets rescaled into a bounded output's range (sigmoid: [0.1, 0.9],
    tanh: [-0.9, 0.9]); the validation targets by the same map, clipped just outside it."""
    lo, hi = (0.1, 0.9) if output == "sigmoid" else (-0.9, 0.9)
    y_min, span = Y.min(), (Y.max() - Y.min()) or 1.0
    Y = lo + (hi - lo) * (Y - y_min) / span
    Yv = None if Yv is None else np.clip(lo + (hi - lo) * (Yv - y_min) / span, lo - 0.1, hi + 0.1)
    return Y, Yv


def _split(X, y, fraction, seed):
    m = X.shape[0]
    n_val = round(fraction * m)
    if fraction > 0 and m < 4:
        raise InvalidInputError(f"the file has {m} rows; the playground needs at least 4")
    if n_val == 0:
        return X, y, None, None
    perm = np.random.default_rng(seed).permutation(m)
    fit, val = np.sort(perm[n_val:]), np.sort(perm[:n_val])
    return X[fit], y[fit], X[val], y[val]
