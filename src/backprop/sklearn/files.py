"""Estimator files: a fitted MLPClassifier/MLPRegressor as safetensors + JSON, no pickle.

Arrays: ``coefs.k``, ``intercepts.k`` and the optimizer's moments (``opt.<slot>.w.k`` /
``opt.<slot>.b.k``); the JSON document keeps the parameters, the fitted attributes, the classes and
the optimizer's counters. Registered with :mod:`backprop.io.registry` as the kind "estimator", so
``backprop.load`` opens these files too.
"""

from __future__ import annotations

import os

import numpy as np
from sklearn.base import is_classifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.validation import check_is_fitted

from backprop.errors import ModelFileError
from backprop.io import registry
from backprop.io.container import load_arrays, save_arrays
from backprop.sklearn.estimators import _FORMAT, _FORMAT_VERSION, MLPClassifier, MLPRegressor, _BaseMLP, _Rate
from backprop.train import optimizers as _opt

_CLASSES = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}
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


def _unjson(v):
    if isinstance(v, dict) and set(v) == {"float"}:
        return float(v["float"])
    if isinstance(v, list):
        return [_unjson(x) for x in v]
    return v


def _to_arrays_meta(est):
    arrays = {}
    for k, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        arrays[f"coefs.{k}"], arrays[f"intercepts.{k}"] = w, b
    params = est.get_params(deep=False)
    params["callbacks"] = None  # code is not data
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
        meta["classes"] = {"values": _jsonable(lb.classes_.tolist()), "dtype": lb.classes_.dtype.str,
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


def _from_arrays_meta(arrays, meta, path):
    if meta.get("format") != _FORMAT or meta.get("class") not in _CLASSES:
        raise ModelFileError(f"{path} is not a backprop estimator file (no '{_FORMAT}' metadata)")
    if int(meta.get("format_version", 0)) > _FORMAT_VERSION:
        raise ModelFileError(f"{path} was written by a newer backprop (estimator format "
                             f"{meta['format_version']}); upgrade backprop to read it")
    try:
        params = {k: _unjson(v) for k, v in meta["params"].items()}
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        est = _CLASSES[meta["class"]](**params)
        est._validate_params()  # a file's parameters are checked like a user's
        for k, v in meta["fitted"].items():
            setattr(est, k, _unjson(v))
        sizes, hidden, dtype = meta["net_spec"]
        est._net_spec = (list(sizes), list(hidden), dtype)
        L = len(sizes) - 1
        est.coefs_ = [np.array(arrays[f"coefs.{k}"], dtype=dtype) for k in range(L)]
        est.intercepts_ = [np.array(arrays[f"intercepts.{k}"], dtype=dtype) for k in range(L)]
        if "feature_names_in" in meta:
            est.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        if "classes" in meta:
            c = meta["classes"]
            lb = LabelBinarizer()
            dt = np.dtype(c["dtype"])
            lb.classes_ = np.asarray(_unjson(c["values"]), dtype=object if dt.kind == "O" else dt)
            lb.y_type_, lb.sparse_input_ = c["y_type"], False
            est._label_binarizer, est.classes_ = lb, lb.classes_
        est._optimizer = None
        if "optimizer" in meta:
            sd = dict(meta["optimizer"])
            rate, hyper = sd.pop("rate"), sd.pop("hyper")
            opt = _opt.OPTIMIZERS[sd["name"]](sd["lr0"], schedule=_Rate(rate), **hyper)
            sd["state"] = {}
            for name, arr in arrays.items():
                if name.startswith("opt."):
                    _, slot, param = name.split(".", 2)
                    sd["state"].setdefault(slot, {})[param] = arr
            opt.load_state_dict(sd)
            est._optimizer = opt
        est._best_coefs = [c.copy() for c in est.coefs_]
        est._best_intercepts = [b.copy() for b in est.intercepts_]
        est._build_net()
        est._sync_params()
        if not all(np.isfinite(p).all() for p in est.coefs_ + est.intercepts_):
            raise ModelFileError(f"{path}: the parameters hold NaN or infinity")
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: the estimator's metadata or arrays are inconsistent ({exc})") from None
    return est


def save(est, path):
    """Write a fitted estimator to ``path`` (see :meth:`MLPClassifier.save`)."""
    check_is_fitted(est)
    est._sync_params()
    arrays, meta = _to_arrays_meta(est)
    save_arrays(path, arrays, meta, kind="estimator")
    return path


def load(path):
    """Load an ``MLPClassifier``/``MLPRegressor`` written by its :meth:`save` (no pickle)."""
    arrays, meta = load_arrays(path, kind="estimator")
    return _from_arrays_meta(arrays, meta, os.fspath(path))


def _read_estimator(arrays, doc, path):
    return _from_arrays_meta(arrays, doc["meta"], path)


registry.register("estimator", _read_estimator, cls=_BaseMLP, writer=save)
