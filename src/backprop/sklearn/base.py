"""The part :class:`MLPClassifier` and :class:`MLPRegressor` share: parameters, the network behind
``coefs_``/``intercepts_``, scikit-learn's initialisation, ``fit``'s dispatch to a solver, prediction.

The stochastic solvers train through :class:`backprop.Trainer` with scikit-learn's rules
(:mod:`backprop.sklearn.rules`), ``lbfgs`` through scipy (:mod:`backprop.sklearn.lbfgs`).
"""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, is_classifier
from sklearn.metrics import get_scorer_names
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from backprop.core import activations as _act
from backprop.errors import InvalidInputError, ModelFileError
from backprop.io import registry
from backprop.model.network import Network
from backprop.sklearn import cluster as _cluster
from backprop.sklearn import display as _display
from backprop.sklearn import features as _features
from backprop.sklearn import lbfgs as _lbfgs
from backprop.sklearn import optim as _optim
from backprop.sklearn import rules as _rules
from backprop.sklearn.losses import output_unit
from backprop.train.batching import MODES, resolve_batch_size

#: hidden activations by their scikit-learn name (``logistic``) or the engine's (``sigmoid``)
HIDDEN = {"logistic": "sigmoid", **{n: n for n in _act.HIDDEN_ACTIVATIONS}}
STOCHASTIC = ("sgd", "adam")
FORMAT = "backprop.estimator"
FORMAT_VERSION = 1


def _zeros(rng, fan_in, fan_out):
    return np.zeros((fan_in, fan_out))  # placeholder: scikit-learn's initialisation follows


class BaseMLP(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Common part of :class:`MLPClassifier` and :class:`MLPRegressor`."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(HIDDEN)), list, tuple],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "mode": [StrOptions(set(MODES)), None],
        "callbacks": [list, tuple, None],
        "keep_optimizer_state": ["boolean"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
    }

    def _html_repr(self):  # scikit-learn's diagram (_repr_html_, _repr_mimebundle_) + the fitted state
        return _display.estimator_html(self)

    # -- the optimizer: code written for scikit-learn reads _optimizer.learning_rate ------------------
    @property
    def _optimizer(self):
        return self.__dict__.get("_engine_optimizer")

    @_optimizer.setter
    def _optimizer(self, opt):
        self.__dict__["_engine_optimizer"] = _optim.with_learning_rate(opt)

    # -- architecture from the parameters -------------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if np.any(np.array(sizes) <= 0):
            raise InvalidInputError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _hidden_activations(self, n_hidden):
        """Engine names of the hidden activations, one per hidden layer."""
        act = self.activation
        if isinstance(act, str):
            return [HIDDEN[act]] * n_hidden
        act = list(act)
        if len(act) != n_hidden:
            raise InvalidInputError(
                f"activation lists {len(act)} activations but hidden_layer_sizes has {n_hidden} "
                "hidden layers; give one per hidden layer or a single name"
            )
        for a in act:
            if a not in HIDDEN:
                raise InvalidInputError(
                    f"unknown activation {a!r} in the activation list; valid names are: "
                    + ", ".join(sorted(HIDDEN))
                )
        return [HIDDEN[a] for a in act]

    def _output_activation(self):
        """scikit-learn's name of the output activation, chosen by the task."""
        if not is_classifier(self):
            return "exp" if self.loss == "poisson" else "identity"
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"  # binary and multilabel: one logistic unit per label

    def _loss_kind(self):
        if not is_classifier(self):
            return self.loss
        return "log_loss" if self.out_activation_ == "softmax" else "binary_log_loss"

    # -- the network behind coefs_/intercepts_ ---------------------------------------------------------
    # (set by fit, partial_fit or a loaded file; declared here for the type checker)
    coefs_: list
    intercepts_: list
    validation_scores_: list | None
    best_validation_score_: float | None
    best_loss_: float | None
    _net: Network | None
    _net_spec: tuple[list[int], list[str], str]

    def _build_net(self):
        sizes, hidden, dtype = self._net_spec
        net = Network(sizes, hidden=hidden, output=output_unit(self.out_activation_), dtype=dtype,
                      init=_zeros)
        net.weights, net.biases = self.coefs_, self.intercepts_
        self._net = net
        return net

    def _sync_params(self):
        """The network that computes with ``coefs_``/``intercepts_``, whatever was assigned to them.

        Assigned arrays of another dtype or layout are converted in their lists, as the network
        updates them in place.
        """
        net = self.__dict__.get("_net")
        if net is None:
            net = self._build_net()
        net.weights, net.biases = self.coefs_, self.intercepts_
        net.check_parameters(names=("coefs_", "intercepts_"), array_like=True)
        self.coefs_, self.intercepts_ = net.weights, net.biases
        return net

    def _initialize(self, n_outputs, layer_units, dtype, hidden):
        """Fresh parameters and counters (scikit-learn's ``_initialize``)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        self.coefs_, self.intercepts_ = [], []
        for i in range(self.n_layers_ - 1):
            # Glorot uniform, as scikit-learn: its factor follows the hidden activation of the
            # layer (the last hidden one for the output layer)
            if hidden:
                act = hidden[min(i, len(hidden) - 1)]
            else:
                act = HIDDEN[self.activation] if isinstance(self.activation, str) else "relu"
            factor = 2.0 if act == "sigmoid" else 6.0
            bound = np.sqrt(factor / (layer_units[i] + layer_units[i + 1]))
            coef = self._random_state.uniform(-bound, bound, (layer_units[i], layer_units[i + 1]))
            intercept = self._random_state.uniform(-bound, bound, layer_units[i + 1])
            self.coefs_.append(np.ascontiguousarray(coef, dtype=dtype))
            self.intercepts_.append(np.ascontiguousarray(intercept, dtype=dtype))
        self._net_spec = (list(layer_units), list(hidden), np.dtype(dtype).name)
        self._build_net()
        self._optimizer = None
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [i.copy() for i in self.intercepts_]
        self.validation_loss_curve_ = None
        self.loss_curve_ = []
        if self.solver in STOCHASTIC:
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _adopt_assigned(self, n_outputs, layer_units, hidden, dtype):
        """``coefs_``/``intercepts_`` assigned to an estimator that was never fitted: train them.

        What scikit-learn's code does with them -- they are the starting point, the counters the
        user set (or zero) are kept.
        """
        first = np.asarray(self.coefs_[0]) if len(self.coefs_) else None
        if first is not None and first.dtype in (np.float32, np.float64):
            dtype = first.dtype
        if not hasattr(self, "n_outputs_"):
            self.n_outputs_ = n_outputs
        self.n_layers_ = len(layer_units)
        if getattr(self, "out_activation_", None) is None:
            self.out_activation_ = self._output_activation()
        for name, default in (("n_iter_", 0), ("t_", 0), ("validation_loss_curve_", None)):
            if not hasattr(self, name):
                setattr(self, name, default)
        if getattr(self, "loss_curve_", None) is None:
            self.loss_curve_ = []
        self._net_spec = (list(layer_units), list(hidden), np.dtype(dtype).name)
        self._net = None
        self._sync_params()
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]

    # -- fit --------------------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        if _cluster.is_dask(X):  # rows on a Dask cluster: train there (backprop.distributed)
            return _cluster.fit_dask(self, X, y, sample_weight, incremental)
        hidden_sizes = self._hidden_sizes()
        hidden = self._hidden_activations(len(hidden_sizes))
        first_pass = self._first_pass(incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if hasattr(X, "toarray"):  # sparse input: the engine computes with dense arrays
            X = X.toarray()
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        net = self._prepare_network(X.shape[1], y.shape[1], X.dtype, first_pass, hidden_sizes, hidden)
        X = np.ascontiguousarray(X, dtype=net.dtype)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=net.dtype)

        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            if self.solver in STOCHASTIC:
                _rules.fit_stochastic(self, X, y, sample_weight, incremental)
            else:
                _lbfgs.fit_lbfgs(self, X, y, sample_weight)
        self._check_finite()
        return self

    def _first_pass(self, incremental):
        """Whether this fit starts from new parameters (not warm_start, not partial_fit)."""
        return not hasattr(self, "coefs_") or (not self.warm_start and not incremental)

    def _check_finite(self):
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise InvalidInputError(_rules.NON_FINITE)

    def _prepare_network(self, n_features, n_outputs, dtype, first_pass, hidden_sizes, hidden):
        """The network of this fit: new parameters, the assigned ones, or the last fit's."""
        layer_units = [n_features] + hidden_sizes + [n_outputs]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(n_outputs, layer_units, dtype, hidden)
        elif "_net_spec" not in self.__dict__:
            self._adopt_assigned(n_outputs, layer_units, hidden, dtype)
        else:
            if list(layer_units) != self._net_spec[0]:
                raise InvalidInputError(
                    f"warm_start/partial_fit needs the same layer sizes: the model has "
                    f"{self._net_spec[0]}, these data and hidden_layer_sizes give {layer_units}; "
                    "set warm_start=False to start over"
                )
            if list(hidden) != self._net_spec[1]:  # activation changed: same weights, new units
                self._net_spec = (self._net_spec[0], list(hidden), self._net_spec[2])
                self._net = None
        return self._sync_params()

    def _targets(self, y, dtype):
        return np.ascontiguousarray(y, dtype=dtype)

    def _batch_size(self, n):
        """B for n training samples: ``mode`` in the reference's words (the engine's one rule),
        else ``batch_size`` by scikit-learn's rule."""
        bs = self.batch_size
        if self.mode in ("online", "batch"):
            return resolve_batch_size(n, None if bs == "auto" else bs, self.mode)
        if bs == "auto":
            return min(200, n)
        if bs > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                          "to be clipped", stacklevel=5)
        return int(np.clip(bs, 1, n))

    def _ensure_optimizer(self, incremental):
        """The optimizer of this fit. As scikit-learn: ``partial_fit`` continues the last one,
        ``fit`` makes a new one (also with ``warm_start``); ``keep_optimizer_state=True`` lets a
        warm-started fit continue it too. A change of solver or of momentum on/off starts anew."""
        kind = _optim.kind_of(self)
        opt = self._optimizer
        keep = opt is not None and opt.name == kind and (
            incremental or (self.warm_start and self.keep_optimizer_state))
        if not keep:
            opt = self._optimizer = _optim.new_optimizer(self)
        elif not incremental:
            _optim.reset_hyperparameters(opt, self)
        return opt

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight=None, activations=None, deltas=None,
                         coef_grads=None, intercept_grads=None):
        """scikit-learn's function of the same name: (loss, packed gradient) at the packed
        parameters, which become ``coefs_``/``intercepts_``. The lists of gradients given are
        filled as scikit-learn fills them; ``activations`` and ``deltas`` are not used."""
        return _lbfgs.loss_grad(self, packed_coef_inter, X, y, sample_weight, coef_grads,
                                intercept_grads)

    # -- prediction ---------------------------------------------------------------------------------
    def _forward_pass_fast(self, X, check_input=True):
        """yhat = a^L of the network for the rows of X (scikit-learn's name)."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        if hasattr(X, "toarray"):
            X = X.toarray()
        return self._sync_params().predict(X)

    def transform(self, X: ArrayLike, layer: int = -1) -> np.ndarray:
        """The hidden activations a of hidden layer ``layer`` for the rows of X.

        ``layer`` counts the hidden layers from 0 (the first) to ``len(hidden_layer_sizes) - 1``;
        negative values count from the last (the default, -1). Returns an array of shape
        (n_samples, hidden_layer_sizes[layer]) of the network's dtype: the features the network
        learnt, for another estimator in a Pipeline (where ``fit_transform`` fits, then transforms).
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        if hasattr(X, "toarray"):
            X = X.toarray()
        net = self._sync_params()
        if _get_output_config("transform", self)["dense"] != "default" and (
            _features.hidden_layer(net, layer) != _features.hidden_layer(net, -1)
        ):  # set_output's columns are get_feature_names_out's: the last hidden layer's units
            raise InvalidInputError(f"transform(X, layer={layer}) under set_output: the columns are named "
                                    "for the last hidden layer (get_feature_names_out); for another layer "
                                    "use set_output(transform='default')")
        return _features.hidden_activations(net, X, layer)

    @property
    def _n_features_out(self) -> int:
        """Units of the layer ``transform`` returns by default (the last hidden layer): what
        ``get_feature_names_out`` names ``mlpclassifier0``, ``mlpclassifier1``, ... as scikit-learn
        names the features its transformers create (``pca0``, ...). Unfitted: NotFittedError, an
        AttributeError, so that scikit-learn's ``check_is_fitted(self, "_n_features_out")`` says so."""
        check_is_fitted(self)
        net = self._sync_params()
        return int(net.sizes[_features.hidden_layer(net, -1) + 1])

    def network(self) -> Network:
        """A copy of the fitted network: a :class:`backprop.Network` with ``coefs_``/``intercepts_``
        and the activations (what :func:`backprop.onnx.export` and ``transform`` compute with)."""
        check_is_fitted(self)
        return self._sync_params().copy()

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    # -- pickling: the network's reusable buffers are not state ------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__ itself
        state.pop("_net", None)
        return state

    def __setstate__(self, state):
        if "_optimizer" in state:  # pickled before _optimizer became a property
            state = dict(state)
            state["_engine_optimizer"] = _optim.with_learning_rate(state.pop("_optimizer"))
        super().__setstate__(state)
        if "_net_spec" in self.__dict__:
            self._build_net()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _check_solver(self):
        if self.solver not in STOCHASTIC:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                "stochastic."
            )
        return True

    # -- model files: safetensors + JSON, no pickle (sklearn/files.py) ------------------------------
    def save(self, path: str | os.PathLike) -> str | os.PathLike:
        """Save the fitted estimator as safetensors + JSON metadata (written atomically).

        Parameters (except ``callbacks``), fitted attributes and the optimizer state are kept,
        so ``partial_fit`` continues where it stopped after :func:`backprop.load`.
        """
        check_is_fitted(self)
        return registry.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BaseMLP:
        """Load an estimator written by :meth:`save` (it must be of this class)."""
        est = registry.load(path)
        if not isinstance(est, cls):
            raise ModelFileError(
                f"{path} holds a {type(est).__name__}, not a {cls.__name__}; use backprop.load"
            )
        return est
