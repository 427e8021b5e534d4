"""What scikit-learn's MLP users asked for and never got: hidden features, class weights, a scorer
for early stopping.

* :func:`hidden_activations` -- ``transform(X, layer)``: the activations a^k of one hidden layer
  (the reference's forward pass, step (i), stopped at layer k);
* :func:`class_sample_weight` -- ``class_weight``: per-sample weights w_c of each sample's class,
  multiplied into ``sample_weight`` (``"balanced"``: n_samples / (n_classes * count of c));
* :func:`scorer_score` -- ``scoring``: the number early stopping maximises on the validation
  split, a scikit-learn scorer instead of accuracy / R^2;
* :func:`params_to_json` / :func:`param_from_json` -- how these parameters go into a model file.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.metrics import check_scoring
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _check_sample_weight

from backprop.core.validation import as_matrix
from backprop.errors import InvalidInputError

#: rows of X pushed through the layers at a time by transform
CHUNK = 4096


def hidden_layer(net: Any, layer: int) -> int:
    """The 0-based index k of hidden layer ``layer`` (negative from the last), checked."""
    n_hidden = len(net.sizes) - 2
    if n_hidden == 0:
        raise InvalidInputError("the network has no hidden layer, so there are no hidden activations "
                                "to transform to; give hidden_layer_sizes at least one layer")
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise InvalidInputError(f"layer must be an int, got {layer!r}")
    if not -n_hidden <= layer < n_hidden:
        raise InvalidInputError(f"layer {layer} does not exist: the network has {n_hidden} hidden layers "
                                f"(layer 0 to {n_hidden - 1}, or -1 to {-n_hidden})")
    return int(layer) % n_hidden


def hidden_activations(net: Any, X: Any, layer: int) -> np.ndarray:
    """a^k of hidden layer ``layer`` (0-based, negative from the last hidden layer) for the rows
    of X: h^k = a^{k-1} W^k + b^k, a^k = g_h(h^k) from a^0 = x, in the network's dtype."""
    k_last = hidden_layer(net, layer)
    x = as_matrix(X, "X", net.dtype, n_features=net.sizes[0])
    out = np.empty((x.shape[0], net.sizes[k_last + 1]), dtype=net.dtype)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # reported just below
        for s in range(0, x.shape[0], CHUNK):
            a = x[s:s + CHUNK]
            for k in range(k_last + 1):
                h = a @ net.weights[k]
                h += net.biases[k]
                a = net.activations[k].forward(h)  # a new array: not every g may write over its h
            out[s:s + CHUNK] = a
    if not np.isfinite(out).all():
        raise InvalidInputError("the hidden activations are not finite: the inputs or weights are too "
                                "large; scale the inputs as for training")
    return out


def class_sample_weight(est: Any, y: Any, sample_weight: Any, incremental: bool = False) -> Any:
    """``sample_weight`` times the class weight of each sample's label (None when neither is set)."""
    cw = est.class_weight
    if cw is None:
        return sample_weight
    if incremental and isinstance(cw, str):
        raise InvalidInputError("class_weight='balanced' needs the whole training set, which partial_fit "
                                "does not see; pass a dict of weights per class instead")
    if y is None:
        return sample_weight  # fit's own validation says that y is needed
    if type(y).__module__.startswith("dask"):  # (cluster.is_dask, without the import cycle)
        raise InvalidInputError("class_weight is not supported for Dask input: pass the weights as "
                                "sample_weight (a Dask array of the same chunks)")
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr.ravel()
    if y_arr.ndim != 1 and not (isinstance(cw, str) and y_arr.ndim == 2):
        raise InvalidInputError("a dict of class weights applies to single-label targets; for multilabel "
                                "targets use class_weight='balanced' (each label's two classes) or "
                                "sample_weight")
    try:
        weights = compute_sample_weight(cw, y_arr)
    except ValueError as exc:
        raise InvalidInputError(f"class_weight {cw!r} does not fit the labels: {exc}") from None
    if not (np.isfinite(weights).all() and (weights >= 0).all()):  # a negative weight would ascend the loss
        raise InvalidInputError(f"class_weight {cw!r}: every class weight must be a finite number >= 0")
    if sample_weight is None:
        return weights
    return _check_sample_weight(sample_weight, y_arr) * weights


def scorer_score(est: Any, X_val: np.ndarray, truth: Any, sw_val: Any) -> float:
    """The score early stopping maximises on the validation split when ``scoring`` is set: the
    scikit-learn scorer of that name, or the callable(estimator, X, y), of the estimator as it
    stands after the epoch (without ``scoring`` the rules use accuracy / R^2 of the decoded yhat)."""
    scorer = check_scoring(est, scoring=est.scoring)
    with warnings.catch_warnings():
        # X_val is the array fit made of X: its feature names were checked there already
        warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
        if sw_val is None:
            return _number(scorer(est, X_val, truth))
        return _number(scorer(est, X_val, truth, sample_weight=sw_val))


def _number(score: Any) -> float:
    """A scorer's result as a float: NaN would never compare better, and early stopping would keep
    the first epoch's weights without a word."""
    try:
        value = float(score)
    except (TypeError, ValueError):
        value = float("nan")
    if value != value:
        raise InvalidInputError(f"scoring must return a number (not NaN), got {score!r:.60}")
    return value


# -- model files: parameters as JSON ------------------------------------------------------------------------
def params_to_json(params: dict) -> dict:
    """``class_weight`` as {"labels": [...], "weights": [...]}; a callable ``scoring`` is not kept
    (code is not data, as for callbacks): it becomes None."""
    params = dict(params)
    cw = params.get("class_weight")
    if isinstance(cw, dict):
        labels = [k.item() if isinstance(k, np.generic) else k for k in cw]
        params["class_weight"] = {"labels": labels, "weights": [float(v) for v in cw.values()]}
    if callable(params.get("scoring")):
        params["scoring"] = None
    return params


def param_from_json(name: str, value: Any) -> Any:
    """The inverse of :func:`params_to_json` for one parameter."""
    if name == "class_weight" and isinstance(value, dict):
        if len(value["labels"]) != len(value["weights"]):
            raise ValueError(f"class_weight has {len(value['labels'])} labels but "
                             f"{len(value['weights'])} weights")
        return dict(zip(value["labels"], value["weights"]))
    return value
