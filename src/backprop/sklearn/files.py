"""Estimator files: a fitted MLPClassifier/MLPRegressor as safetensors + JSON, no pickle.

Arrays: ``coefs.k``, ``intercepts.k`` and the optimizer's moments (``opt.<slot>.w.k`` /
``opt.<slot>.b.k``); the JSON document keeps the parameters, the fitted attributes, the classes and
the optimizer's counters. Registered with :mod:`backprop.io.registry` as the kind "estimator", so
``backprop.load`` opens these files too.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.validation import check_is_fitted

from backprop.core.activations import HIDDEN_ACTIVATIONS
from backprop.errors import InvalidInputError, ModelFileError
from backprop.io import registry
from backprop.io import schema as sc
from backprop.io.container import dumps_checked, load_arrays, save_arrays
from backprop.sklearn import features as _features
from backprop.sklearn.base import FORMAT as _FORMAT
from backprop.sklearn.base import FORMAT_VERSION as _FORMAT_VERSION
from backprop.sklearn.base import BaseMLP as _BaseMLP
from backprop.sklearn.estimators import MLPClassifier, MLPRegressor
from backprop.sklearn.optim import Rate as _Rate
from backprop.train import optimizers as _opt

_CLASSES: dict[str, type[_BaseMLP]] = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}
#: fitted attributes saved as JSON values
_FITTED = ("n_features_in_", "n_outputs_", "n_layers_", "out_activation_", "n_iter_", "t_", "loss_",
           "best_loss_", "loss_curve_", "validation_scores_", "best_validation_score_",
           "validation_loss_curve_", "_no_improvement_count")


def _jsonable(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return {"float": repr(v)}  # inf/nan: JSON has none
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _to_arrays_meta(est):
    arrays = {}
    for k, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        arrays[f"coefs.{k}"], arrays[f"intercepts.{k}"] = w, b
    params = est.get_params(deep=False)
    params["callbacks"] = None  # code is not data
    params = _features.params_to_json(params)  # class_weight's dict; a callable scoring is dropped
    rs = params["random_state"]
    if rs is not None and not isinstance(rs, (int, np.integer)):
        params["random_state"] = None  # a RandomState object: its stream is not saved
    params = {k: _jsonable(list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
    fitted = {k: _jsonable(getattr(est, k)) for k in _FITTED if hasattr(est, k)}
    meta = {"format": _FORMAT, "format_version": _FORMAT_VERSION, "class": type(est).__name__,
            "params": params, "fitted": fitted, "net_spec": list(est._net_spec)}
    if hasattr(est, "feature_names_in_"):
        meta["feature_names_in"] = [str(f) for f in est.feature_names_in_]
    if is_classifier(est):
        lb = est._label_binarizer
        classes = lb.classes_
        if classes.dtype.kind == "O":  # labels set by hand: the typed array unique_labels would give
            classes = np.asarray(classes.tolist())
        if classes.dtype.kind not in "iufbU" or classes.ndim != 1:
            raise InvalidInputError(f"classes_ must be numbers, booleans or strings to be saved, "
                                    f"got an array of {classes.dtype}")
        meta["classes"] = {"values": _jsonable(classes.tolist()), "dtype": classes.dtype.str,
                           "y_type": lb.y_type_}
    opt = getattr(est, "_optimizer", None)
    if opt is not None:
        sd = opt.state_dict()
        for slot, d in sd.pop("state").items():
            for name, arr in d.items():  # the one scheme of optimizers.param_name: opt.m.w.0
                arrays[f"opt.{slot}.{name}"] = arr
        sd["rate"] = opt.schedule.value
        sd["hyper"] = {k: getattr(opt, k) for k in ("momentum", "beta_1", "beta_2", "epsilon")
                       if hasattr(opt, k)}
        meta["optimizer"] = sd
    return {k: np.ascontiguousarray(v) for k, v in arrays.items()}, meta


# -- the schema of an estimator file's document (backprop.io.schema) --------------------------------
#: a float as _jsonable writes it: a number, or {"float": "nan"} for what JSON has no literal for
_FLOAT = sc.OneOf(sc.Num(finite=False),
                  sc.Obj({"float": sc.Str(("nan", "inf", "-inf"))}, required=("float",)))
_FLOATS = sc.List(_FLOAT, noun="numbers")
_OUTPUTS = {"MLPClassifier": ("softmax", "logistic"), "MLPRegressor": ("identity", "exp")}
#: the fitted attributes a file may set: exactly these, each of its type
_FITTED_SPEC = {
    "n_features_in_": sc.Int(1, sc.MAX_WIDTH), "n_outputs_": sc.Int(1, sc.MAX_WIDTH),
    "n_layers_": sc.Int(2, sc.MAX_LAYERS + 1),
    "out_activation_": sc.Str(("softmax", "logistic", "identity", "exp")),
    "n_iter_": sc.COUNT, "t_": sc.COUNT, "loss_": sc.Optional(_FLOAT), "best_loss_": sc.Optional(_FLOAT),
    "loss_curve_": _FLOATS, "validation_scores_": sc.Optional(_FLOATS),
    "best_validation_score_": sc.Optional(_FLOAT), "validation_loss_curve_": sc.Optional(_FLOATS),
    "_no_improvement_count": sc.COUNT,
}
assert set(_FITTED_SPEC) == set(_FITTED)
#: a parameter's value: what get_params holds for these estimators, as JSON
_PARAM = sc.OneOf(sc.Null(), sc.Bool(), sc.Int(), _FLOAT, sc.Str(),
                  sc.List(sc.OneOf(sc.Int(), sc.Str()), max_len=sc.MAX_LAYERS, noun="items"))
#: the parameters; class_weight may also be a {label: weight} dict (features.params_to_json)
_PARAMS = sc.Obj({"class_weight": sc.OneOf(
    _PARAM, sc.Obj({"labels": sc.List(sc.LABEL, unique=True, noun="labels"),
                    "weights": sc.List(sc.Num(ge=0), noun="weights")}, required=("labels", "weights")))},
    extra=_PARAM)
_HYPER: dict[str, dict[str, sc.Spec]] = {
    "sgd": {}, "momentum": {"momentum": sc.Num(ge=0, le=1)}, "nesterov": {"momentum": sc.Num(ge=0, le=1)},
    "adam": {"beta_1": sc.Num(ge=0, le=1), "beta_2": sc.Num(ge=0, le=1), "epsilon": sc.Num(gt=0)}}
_Y_TYPES = ("binary", "multiclass", "multilabel-indicator")
#: class-label dtypes a file may ask for (numpy's .str), and the JSON type of their values: what
#: scikit-learn's unique_labels gives (never an object array: it sorts the labels into a typed one)
_CLASS_DTYPES = {"f": sc.Num(), "b": sc.Bool(), "U": sc.Str()}
_CLASS_DTYPE = re.compile(r"[<>|=]?(?:[iu][1248]|f[48]|b1|U\d{1,6})")
#: at most this many bytes for the classes_ array (a fixed-width str array: longest label x count)
_MAX_CLASSES_BYTES = 64 << 20

_DOC = sc.Obj({
    "format": sc.Str((_FORMAT,)), "format_version": sc.Int(1), "class": sc.Str(tuple(_CLASSES)),
    "params": _PARAMS, "fitted": sc.Obj(_FITTED_SPEC, required=_FITTED[:5]),
    "net_spec": sc.List(sc.Anything(), length=3, why="it is [sizes, hidden, dtype]"),
    "feature_names_in": sc.List(sc.Str(), noun="names"),
    "classes": sc.Obj({"values": sc.Labels(min_len=1),
                       "dtype": sc.Str(), "y_type": sc.Str(_Y_TYPES)},
                      required=("values", "dtype", "y_type")),
    "optimizer": sc.Obj({"name": sc.Str(tuple(_HYPER)), "t": sc.COUNT, "epoch": sc.COUNT,
                         "lr0": sc.Num(gt=0), "lr": sc.Num(ge=0), "rate": sc.Num(ge=0),
                         "hyper": sc.Map(sc.Num(), max_len=8)},
                        required=("name", "t", "epoch", "lr0", "lr", "rate", "hyper")),
}, required=("format", "format_version", "class", "params", "fitted", "net_spec"))


def _is_weights(v):
    return isinstance(v, dict) and "labels" in v


def _unjson(v):
    if isinstance(v, dict):  # the schema allows only {"float": "nan" | "inf" | "-inf"} here
        return float(v["float"])
    if isinstance(v, list):
        return [_unjson(x) for x in v]
    return v


def _check_params(meta):
    """The estimator's parameters: only its class's own, and no callbacks (code is not kept in files)."""
    cls = _CLASSES[meta["class"]]
    unknown = sorted(set(meta["params"]) - set(cls().get_params(deep=False)))
    if unknown:
        raise sc.Invalid(f"params.{unknown[0]}", f"is not a parameter of {meta['class']}")
    if meta["params"].get("callbacks") is not None:
        raise sc.Invalid("params.callbacks", "must be null (code is not kept in files)")


def _check_net_spec(meta):
    """The network's ``(sizes, hidden, dtype)``, checked, and agreeing with ``hidden_layer_sizes``."""
    sizes, hidden, dtype = meta["net_spec"]
    sc.List(sc.Int(1, sc.MAX_WIDTH), min_len=2, max_len=sc.MAX_LAYERS + 1,
            noun="widths").check(sizes, "net_spec[0]")
    sc.List(sc.Str(tuple(HIDDEN_ACTIVATIONS)), length=len(sizes) - 2, why=f"the sizes {sizes} have "
            f"{len(sizes) - 2} hidden layers", noun="activations").check(hidden, "net_spec[1]")
    sc.Str(("float32", "float64")).check(dtype, "net_spec[2]")
    hls = meta["params"].get("hidden_layer_sizes")
    if (hls if isinstance(hls, list) else [hls]) != sizes[1:-1]:
        raise sc.Invalid("params.hidden_layer_sizes", f"is {hls!r} but the network's sizes are {sizes}")
    return sizes, hidden, dtype


def _check_fitted(meta, sizes):
    """The fitted attributes, feature names and classes: each must agree with the network's sizes."""
    fitted = meta["fitted"]
    for name, want in (("n_features_in_", sizes[0]), ("n_outputs_", sizes[-1]), ("n_layers_", len(sizes))):
        if fitted[name] != want:
            raise sc.Invalid(f"fitted.{name}",
                             f"is {fitted[name]} but the network's sizes {sizes} say {want}")
    if fitted["out_activation_"] not in _OUTPUTS[meta["class"]]:
        raise sc.Invalid("fitted.out_activation_", f"{fitted['out_activation_']!r} is not an output of a "
                                                    f"{meta['class']}")
    if "feature_names_in" in meta and len(meta["feature_names_in"]) != sizes[0]:
        raise sc.Invalid("feature_names_in", f"has {len(meta['feature_names_in'])} names but the network has "
                                             f"{sizes[0]} inputs")
    if (meta["class"] == "MLPClassifier") != ("classes" in meta):
        raise sc.Invalid("classes", "must be present for a classifier, and only for one")
    if "classes" in meta:
        _check_classes(meta["classes"], sizes[-1], fitted["out_activation_"])


def _array_shapes(meta, arrays, sizes) -> dict[str, tuple[int, ...]]:
    """The shape each array must have: the parameters, and the optimizer's moments of the same shapes
    (named opt.<slot>.<w|b>.<layer>; any other name is left out, so it counts as unused)."""
    L = len(sizes) - 1
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(L):
        shapes[f"coefs.{k}"], shapes[f"intercepts.{k}"] = (sizes[k], sizes[k + 1]), (sizes[k + 1],)
    opt_shapes = {}
    if "optimizer" in meta:
        opt = meta["optimizer"]
        allowed = _HYPER[opt["name"]]
        sc.Obj(allowed, required=tuple(allowed)).check(opt["hyper"], "optimizer.hyper")
        for name in arrays:
            parts = name.split(".")
            if len(parts) == 4 and parts[0] == "opt" and parts[1].isidentifier() and parts[2] in ("w", "b") \
                    and parts[3].isdigit() and parts[3].isascii() and int(parts[3]) < L:
                k = int(parts[3])
                opt_shapes[name] = shapes[f"coefs.{k}" if parts[2] == "w" else f"intercepts.{k}"]
    return {**shapes, **opt_shapes}


def _check_arrays(arrays, shapes, sizes):
    """Exactly the arrays in ``shapes``, each of its shape, of finite floats."""
    unused = sorted(set(arrays) - set(shapes))
    if unused:
        raise ValueError(f"it holds an array {unused[0]!r} that no part of the estimator uses")
    for name, shape in shapes.items():
        a = arrays.get(name)
        if a is None:
            raise ValueError(f"the array {name!r} of the {sizes} network is missing")
        if a.shape != shape or a.dtype.kind != "f":
            raise ValueError(f"the array {name!r} has shape {list(a.shape)} and dtype {a.dtype}; the {sizes} "
                             f"network needs shape {list(shape)} of floats")
        if not np.isfinite(a).all():
            raise ValueError(f"the array {name!r} holds NaN or infinity")


def _check_document(meta, arrays):
    """Everything about the document and the arrays, before anything is built; returns
    ``(sizes, hidden, dtype)``. Raises schema.Invalid or ValueError (message only)."""
    _DOC.check(meta, "")
    _check_params(meta)
    sizes, hidden, dtype = _check_net_spec(meta)
    _check_fitted(meta, sizes)
    _check_arrays(arrays, _array_shapes(meta, arrays, sizes), sizes)
    return sizes, hidden, dtype


def _check_classes(c, n_out, out_activation):
    want = {"multiclass": (n_out,), "binary": (1, 2), "multilabel-indicator": (n_out,)}[c["y_type"]]
    n = len(c["values"])
    if n not in want or (c["y_type"] == "multiclass") != (out_activation == "softmax") \
            or (c["y_type"] == "binary" and n_out != 1):
        raise sc.Invalid("classes.values", f"has {n} {c['y_type']} classes, which a network of {n_out} "
                                           f"{out_activation} outputs does not predict")
    if not _CLASS_DTYPE.fullmatch(c["dtype"]):
        raise sc.Invalid("classes.dtype", f"{c['dtype'][:20]!r} is not a dtype class labels have "
                                            "(numbers, booleans or fixed-width strings)")
    dt = np.dtype(c["dtype"])
    value = (sc.Int(int(np.iinfo(dt).min), int(np.iinfo(dt).max)) if dt.kind in "iu"
             else _CLASS_DTYPES[dt.kind])
    sc.List(value, noun="classes").check(c["values"], "classes.values")
    if dt.kind == "U" and 4 * n * max(len(v) for v in c["values"]) > _MAX_CLASSES_BYTES:
        raise sc.Invalid("classes.values", "are too long to hold in memory")


def _check_header(meta, path):
    """A file of this format and a known class, from this version of backprop or an older one."""
    if meta.get("format") != _FORMAT or not isinstance(meta.get("class"), str) \
            or meta["class"] not in _CLASSES:
        raise ModelFileError(f"{path} is not a backprop estimator file (no '{_FORMAT}' metadata)")
    version = meta.get("format_version")
    if isinstance(version, int) and version > _FORMAT_VERSION:
        raise ModelFileError(f"{path} was written by a newer backprop (estimator format {version}); "
                             "upgrade backprop to read it")


def _new_estimator(meta, path):
    """An unfitted estimator of the file's class and parameters, checked like a user's."""
    try:
        # class_weight's {labels, weights} dict; any other dict is a non-finite float's encoding
        params = {k: _features.param_from_json(k, v) if k == "class_weight" and _is_weights(v) else _unjson(v)
                  for k, v in meta["params"].items()}
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        est = _CLASSES[meta["class"]](**params)
        est._validate_params()  # a file's parameters are checked like a user's
    except (TypeError, ValueError) as exc:  # scikit-learn's InvalidParameterError is both
        why = " ".join(str(exc).split())[:300]
        raise ModelFileError(f"{path}: metadata 'params' are invalid: {why}") from None
    return est


def _label_binarizer(c):
    """The fitted LabelBinarizer of a classifier's ``classes`` entry."""
    lb = LabelBinarizer()
    dt = np.dtype(c["dtype"])
    # (a str dtype's width follows from the labels, not from the file)
    lb.classes_ = np.asarray(c["values"], dtype=str if dt.kind == "U" else dt)
    lb.y_type_, lb.sparse_input_ = c["y_type"], False
    return lb


def _optimizer(sd, arrays, dtype):
    """The optimizer of the file's ``optimizer`` entry, its moments from the ``opt.*`` arrays."""
    sd = dict(sd)
    rate, hyper = sd.pop("rate"), sd.pop("hyper")
    opt = _opt.OPTIMIZERS[sd["name"]](sd["lr0"], schedule=_Rate(rate), **hyper)
    sd["state"] = {}
    for name, arr in arrays.items():
        if name.startswith("opt."):
            _, slot, param = name.split(".", 2)
            sd["state"].setdefault(slot, {})[param] = np.array(arr, dtype=dtype)
    opt.load_state_dict(sd)
    return opt


def _from_arrays_meta(arrays, meta, path):
    """The estimator a file holds, built only once every part of it is checked."""
    _check_header(meta, path)
    try:
        sizes, hidden, dtype = _check_document(meta, arrays)
    except sc.Invalid as exc:
        raise ModelFileError(f"{path}: metadata {exc}") from None
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    # all checked: build it
    est = _new_estimator(meta, path)
    for k, v in meta["fitted"].items():  # names and types fixed by _FITTED_SPEC
        setattr(est, k, _unjson(v))
    est._net_spec = (list(sizes), list(hidden), dtype)
    L = len(sizes) - 1
    est.coefs_ = [np.array(arrays[f"coefs.{k}"], dtype=dtype) for k in range(L)]
    est.intercepts_ = [np.array(arrays[f"intercepts.{k}"], dtype=dtype) for k in range(L)]
    if "feature_names_in" in meta:
        est.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    if "classes" in meta:
        lb = _label_binarizer(meta["classes"])
        est._label_binarizer, est.classes_ = lb, lb.classes_
    est._optimizer = _optimizer(meta["optimizer"], arrays, dtype) if "optimizer" in meta else None
    est._best_coefs = [c.copy() for c in est.coefs_]
    est._best_intercepts = [b.copy() for b in est.intercepts_]
    est._build_net()
    est._sync_params()
    return est


def save(est: Any, path: str | os.PathLike) -> str | os.PathLike:
    """Write a fitted estimator to ``path`` (see :meth:`MLPClassifier.save`)."""
    check_is_fitted(est)
    est._sync_params()
    for name in ("coefs_", "intercepts_"):
        for k, p in enumerate(getattr(est, name)):
            if not np.isfinite(p).all():  # load refuses such a file: do not write it
                raise InvalidInputError(f"{name}[{k}] contains NaN or infinity; the estimator diverged. "
                                        "Fit it again (a smaller learning_rate_init, scaled inputs) "
                                        "before saving it")
    arrays, meta = _to_arrays_meta(est)
    for name, a in arrays.items():
        if name.startswith("opt.") and not np.isfinite(a).all():
            raise InvalidInputError(f"the optimizer's state {name!r} contains NaN or infinity; fit the "
                                    "estimator again before saving it")
    try:  # the reader's checks, on what the reader will see: never write a file load refuses
        _check_document(json.loads(dumps_checked(meta, "the estimator's attributes")), arrays)
    except (sc.Invalid, ValueError) as exc:
        raise InvalidInputError(f"cannot save this estimator: {exc}") from None
    save_arrays(path, arrays, meta, kind="estimator")
    return path


def load(path: str | os.PathLike) -> Any:
    """Load an ``MLPClassifier``/``MLPRegressor`` written by its :meth:`save` (no pickle)."""
    arrays, meta = load_arrays(path, kind="estimator")
    return _from_arrays_meta(arrays, meta, os.fspath(path))


def _read_estimator(arrays, doc, path):
    return _from_arrays_meta(arrays, doc["meta"], path)


registry.register("estimator", _read_estimator, cls=_BaseMLP, writer=save)
