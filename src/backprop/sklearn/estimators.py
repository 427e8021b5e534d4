"""scikit-learn estimators on the engine: drop-in ``MLPClassifier`` and ``MLPRegressor``.

Same parameters, fitted attributes and training semantics as ``sklearn.neural_network`` -- the
forward pass, eq. (i), and the backward pass with eqs. (1)-(4) are the engine's
(:meth:`Network._forward`/:meth:`Network._backward`), the updates its optimizers (the delta rule,
eq. (5), momentum, Nesterov, Adam in scikit-learn's form). What scikit-learn fixes and we copy:

* Glorot-uniform initial weights *and* biases drawn from ``random_state`` in its order
  (bound sqrt(6/(fan_in+fan_out)), sqrt(2/...) for logistic units), the same shuffling and
  ``train_test_split`` for ``early_stopping``, so a fit with the same ``random_state`` retraces it.
* The error term of the output layer is delta^o = yhat - y for every task (canonical pairs:
  identity + half squared error, logistic + binary log-loss, softmax + log-loss, exp + half Poisson
  deviance), divided by the batch's sum of sample weights (eq. 3 with weights).
* The L2 penalty alpha/2 ||W||^2 is divided by that same sum (the batch size m without weights):
  the weight gradients get alpha W / m.
* ``loss_`` is scikit-learn's loss value (probabilities clipped to [eps, 1-eps]; squared error
  averaged over the outputs too) plus the penalty, averaged over the epoch's batches.
* ``learning_rate='invscaling'`` sets eta = eta_0 / (t_ + 1)^power_t at the end of each epoch
  (t_ = samples seen); ``'adaptive'`` divides eta by 5 after ``n_iter_no_change`` epochs without
  an improvement of ``tol``; otherwise training stops then (or warns ``ConvergenceWarning`` at
  ``max_iter``). ``solver='lbfgs'`` runs ``scipy.optimize.minimize(method="L-BFGS-B")`` on the
  engine's loss and gradients.

Beyond the original: more hidden activations and one per layer, ``mode``, ``callbacks``,
``validation_loss_curve_``, optimizer state kept by ``warm_start``/``partial_fit``, ``n_iter_``
counted across ``partial_fit`` calls, float32 training, and safetensors model files
(:meth:`save`/:func:`load`).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
from scipy.special import expit, xlogy
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils import shuffle as _sk_shuffle
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from backprop.core import activations as _act
from backprop.core import losses as _losses
from backprop.train import optimizers as _opt
from backprop.errors import InvalidInputError, ModelFileError
from backprop.io import registry
from backprop.model.network import Network
from backprop.train.trainer import blas_threads

__all__ = ["MLPClassifier", "MLPRegressor", "load"]

#: hidden activations by their scikit-learn name (``logistic``) or the engine's (``sigmoid``)
_HIDDEN = {"logistic": "sigmoid", **{n: n for n in _act.HIDDEN_ACTIVATIONS}}
_MODES = ("online", "batch", "minibatch")
_STOCHASTIC = ("sgd", "adam")
_FORMAT = "backprop.estimator"
_FORMAT_VERSION = 1


# -- the pieces scikit-learn has and the engine does not --------------------------------------------
class _Exp(_act.Activation):
    """g(h) = e^h, the Poisson regressor's output (log link); g'(h) = g(h)."""

    name = "exp"

    def forward(self, h, out=None):
        return np.exp(h, out=out)

    def backward(self, h, a, delta, tmp):
        delta *= a


class _Logistic(_act.Sigmoid):
    """The output units' logistic g: scipy's ``expit`` (small probabilities keep their relative
    precision, which the engine's tanh form loses), with the engine's g' (from a).

    A logistic unit's probability lies strictly inside (0, 1), but in floating point it rounds
    to exactly 1 from h = 37 on (float64). It is kept at the nearest values eps/2 and 1 - eps/2
    whose complements are exact, so neither p nor 1 - p of ``predict_proba`` is ever 0 or 1 and
    ``predict_log_proba`` stays finite. The change (at most 1.1e-16) is below every rounding
    error of training and below the clipping scikit-learn applies in its log-loss.
    """

    def forward(self, h, out=None):
        out = expit(h, out=out)
        half_eps = np.finfo(out.dtype).eps / 2
        return np.clip(out, half_eps, 1 - half_eps, out=out)


class _SklearnLoss(_losses.Loss):
    """scikit-learn's losses: its value, and the canonical error term delta^o = yhat - y (eq. 2).

    ``weights`` (set per batch) are the sample weights times m / sum(weights): the engine divides
    the summed gradients by the batch size m (eq. 3), scikit-learn by the weights' sum.
    """

    def __init__(self, kind):
        self.name = kind  # squared_error, log_loss (softmax), binary_log_loss (logistic), poisson
        self.weights = None

    def value(self, y, yhat, h=None, sample_weight=None):
        if self.name == "squared_error":
            return float(0.5 * np.average((y - yhat) ** 2, weights=sample_weight, axis=0).mean())
        if self.name == "poisson":
            return float(np.average(xlogy(y, y / yhat) - y + yhat, weights=sample_weight, axis=0).sum())
        eps = np.finfo(yhat.dtype).eps
        p = np.clip(yhat, eps, 1 - eps)
        per = xlogy(y, p)
        if self.name == "binary_log_loss":
            per += xlogy(1 - y, 1 - p)
        return float(-np.average(per, weights=sample_weight, axis=0).sum())

    def output_delta(self, y, yhat, h, g_o, out, tmp):
        np.subtract(yhat, y, out=out)
        if self.weights is not None:
            out *= self.weights
        return out


class _Rate(_opt.Schedule):
    """The learning rate as scikit-learn changes it: between epochs, by the estimator."""

    def __init__(self, value):
        super().__init__("constant")
        self.value = float(value)

    def __call__(self, lr0, step, epoch):
        return self.value


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _zeros(rng, fan_in, fan_out):
    return np.zeros((fan_in, fan_out))  # placeholder: scikit-learn's initialisation follows


def _sum_sq(arrays):
    return sum(float(np.dot(w.ravel(), w.ravel())) for w in arrays)


# -- the shared estimator -----------------------------------------------------------------------------
class _BaseMLP(BaseEstimator):
    """Common part of :class:`MLPClassifier` and :class:`MLPRegressor`."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_HIDDEN)), list, tuple],
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
        "mode": [StrOptions(set(_MODES)), None],
        "callbacks": [list, tuple, None],
    }

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
            return [_HIDDEN[act]] * n_hidden
        act = list(act)
        if len(act) != n_hidden:
            raise InvalidInputError(
                f"activation lists {len(act)} activations but hidden_layer_sizes has {n_hidden} "
                "hidden layers; give one per hidden layer or a single name"
            )
        for a in act:
            if a not in _HIDDEN:
                raise InvalidInputError(
                    f"unknown activation {a!r} in the activation list; valid names are: "
                    + ", ".join(sorted(_HIDDEN))
                )
        return [_HIDDEN[a] for a in act]

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
    def _build_net(self):
        sizes, hidden, dtype = self._net_spec
        output = {"exp": _Exp, "logistic": _Logistic}.get(self.out_activation_, self.out_activation_)
        if not isinstance(output, str):
            output = output()
        net = Network(sizes, hidden=hidden, output=output, dtype=dtype, init=_zeros)
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
        sizes = net.sizes
        for name, shape_of in (("coefs_", lambda k: (sizes[k], sizes[k + 1])),
                               ("intercepts_", lambda k: (sizes[k + 1],))):
            params = getattr(self, name)
            if not isinstance(params, list):
                if not isinstance(params, tuple):
                    raise InvalidInputError(f"{name} must be a list of {net.n_layers} arrays")
                params = list(params)
                setattr(self, name, params)
            if len(params) != net.n_layers:
                raise InvalidInputError(
                    f"{name} has {len(params)} arrays but the network has {net.n_layers} layers"
                )
            for k, p in enumerate(params):
                p_arr = np.asarray(p)
                if p_arr.shape != shape_of(k):
                    raise InvalidInputError(
                        f"{name}[{k}] has shape {p_arr.shape}, expected {shape_of(k)}"
                    )
                if (p_arr is not p or p_arr.dtype != net.dtype or not p_arr.flags.c_contiguous
                        or not p_arr.flags.writeable):
                    params[k] = np.array(p_arr, dtype=net.dtype, order="C")
        net.weights, net.biases = self.coefs_, self.intercepts_
        return net

    def _initialize(self, y, layer_units, dtype, hidden):
        """Fresh parameters and counters (scikit-learn's ``_initialize``)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        self.coefs_, self.intercepts_ = [], []
        for i in range(self.n_layers_ - 1):
            # Glorot uniform, as scikit-learn: its factor follows the hidden activation of the
            # layer (the last hidden one for the output layer)
            if hidden:
                act = hidden[min(i, len(hidden) - 1)]
            else:
                act = _HIDDEN[self.activation] if isinstance(self.activation, str) else "relu"
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
        if self.solver in _STOCHASTIC:
            self.loss_curve_ = []
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
        else:
            self.loss_curve_ = []

    # -- fit --------------------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden_sizes = self._hidden_sizes()
        hidden = self._hidden_activations(len(hidden_sizes))
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if hasattr(X, "toarray"):  # sparse input: the engine computes with dense arrays
            X = X.toarray()
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        layer_units = [X.shape[1]] + hidden_sizes + [y.shape[1]]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, X.dtype, hidden)
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
        net = self._sync_params()
        X = np.ascontiguousarray(X, dtype=net.dtype)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=net.dtype)

        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            if self.solver in _STOCHASTIC:
                self._fit_stochastic(X, y, sample_weight, incremental)
            else:
                self._fit_lbfgs(X, y, sample_weight)
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise InvalidInputError(
                "Solver produced non-finite parameter weights. The input data may contain large "
                "values and need to be preprocessed."
            )
        return self

    def _targets(self, y, dtype):
        return np.ascontiguousarray(y, dtype=dtype)

    def _batch_size(self, n):
        """B for n training samples: ``mode`` in the reference's words, else ``batch_size``."""
        bs = self.batch_size
        if self.mode == "online":
            if bs not in ("auto", 1):
                raise InvalidInputError(
                    f"mode='online' updates after every sample; got batch_size={bs!r} "
                    "(leave it at 'auto')"
                )
            return 1
        if self.mode == "batch":
            if bs not in ("auto", n):
                raise InvalidInputError(
                    f"mode='batch' uses all {n} samples per update; got batch_size={bs!r} "
                    "(leave it at 'auto')"
                )
            return n
        if bs == "auto":
            return min(200, n)
        if bs > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                          "to be clipped")
        return int(np.clip(bs, 1, n))

    def _optimizer_kind(self):
        if self.solver == "adam":
            return "adam"
        if self.momentum > 0:
            return "nesterov" if self.nesterovs_momentum else "momentum"
        return "sgd"

    def _ensure_optimizer(self, incremental):
        """The engine optimizer; ``warm_start`` and ``partial_fit`` keep its state (moments)."""
        kind = self._optimizer_kind()
        opt = getattr(self, "_optimizer", None)
        keep = opt is not None and opt.name == kind and (incremental or self.warm_start)
        if not keep:
            rate = _Rate(self.learning_rate_init)
            if kind == "adam":
                opt = _opt.Adam(self.learning_rate_init, beta_1=self.beta_1, beta_2=self.beta_2,
                                epsilon=self.epsilon, schedule=rate)
            elif kind == "sgd":
                opt = _opt.SGD(self.learning_rate_init, schedule=rate)
            else:
                opt = _opt.OPTIMIZERS[kind](self.learning_rate_init, momentum=self.momentum,
                                            schedule=rate)
            self._optimizer = opt
        elif not incremental:
            # a new fit of a warm-started model: same moments, the current hyperparameters and
            # the initial learning rate again (scikit-learn would start a new optimizer here)
            opt.lr0 = float(self.learning_rate_init)
            opt.schedule.value = opt.lr0
            if kind == "adam":
                opt.beta_1, opt.beta_2, opt.epsilon = float(self.beta_1), float(self.beta_2), \
                    float(self.epsilon)
            elif kind != "sgd":
                opt.momentum = float(self.momentum)
        return opt

    def _fit_stochastic(self, X, y, sample_weight, incremental):
        net = self._net
        opt = self._ensure_optimizer(incremental)
        if self.early_stopping and incremental:
            raise InvalidInputError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        self._ensure_stochastic_state(early_stopping)
        if early_stopping:
            # don't stratify in multilabel classification (scikit-learn's rule)
            stratify = y if is_classifier(self) and self.n_outputs_ == 1 else None
            if sample_weight is None:
                X_train, X_val, y_train, y_val = train_test_split(
                    X, y, random_state=self._random_state, test_size=self.validation_fraction,
                    stratify=stratify)
                sw_train = sw_val = None
            else:
                X_train, X_val, y_train, y_val, sw_train, sw_val = train_test_split(
                    X, y, sample_weight, random_state=self._random_state,
                    test_size=self.validation_fraction, stratify=stratify)
            if X_val.shape[0] < 2:
                raise InvalidInputError(
                    "The validation set is too small. Increase 'validation_fraction' or the size "
                    "of your dataset."
                )
            val = (X_val, self._targets(y_val, net.dtype), self._val_truth(y_val), sw_val)
        else:
            X_train, y_train, sw_train, val = X, y, sample_weight, None
        y_train = self._targets(y_train, net.dtype)

        n = X_train.shape[0]
        B = self._batch_size(n)
        loss = _SklearnLoss(self._loss_kind())
        sample_idx = np.arange(n, dtype=int)
        rate = opt.schedule
        epochs = 0
        started = time.perf_counter()
        try:
            with blas_threads(B):
                for _ in range(self.max_iter):
                    if self.shuffle:
                        sample_idx = _sk_shuffle(sample_idx, random_state=self._random_state)
                    accumulated = 0.0
                    for start in range(0, n, B):
                        sl = slice(start, min(start + B, n))
                        idx = sample_idx[sl] if self.shuffle else sl
                        xb, yb = X_train[idx], y_train[idx]
                        swb = None if sw_train is None else sw_train[idx]
                        accumulated += self._step(net, opt, loss, xb, yb, swb) * xb.shape[0]
                    epochs += 1
                    self.n_iter_ += 1
                    self.loss_ = accumulated / n
                    self.t_ += n
                    self.loss_curve_.append(self.loss_)
                    if self.verbose:
                        print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                    self._update_no_improvement_count(val, loss)
                    if self.learning_rate == "invscaling" and opt.name != "adam":
                        rate.value = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
                    stop = False
                    if self._no_improvement_count > self.n_iter_no_change:
                        stop = self._trigger_stopping(opt, early_stopping)
                    if self.callbacks and self._run_callbacks(rate.value, started):
                        stop = True
                    if not np.isfinite(self.loss_) and not all(
                            np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
                        break  # diverged: _fit reports it
                    if stop or incremental:
                        break
                    if epochs == self.max_iter:
                        warnings.warn(
                            "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                            "optimization hasn't converged yet." % self.max_iter, ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if early_stopping:  # restore the best weights seen on the validation split
            self.coefs_ = [c.copy() for c in self._best_coefs]
            self.intercepts_ = [b.copy() for b in self._best_intercepts]
            self._sync_params()

    def _ensure_stochastic_state(self, early_stopping):
        """Counters a warm start needs when the solver or early_stopping changed since the last fit."""
        if not hasattr(self, "_no_improvement_count"):
            self._no_improvement_count = 0
        if early_stopping and getattr(self, "validation_scores_", None) is None:
            self.validation_scores_, self.validation_loss_curve_ = [], []
            self.best_validation_score_, self.best_loss_ = -np.inf, None
        if not early_stopping and getattr(self, "best_loss_", None) is None:
            self.best_loss_ = np.inf

    def _step(self, net, opt, loss, xb, yb, swb):
        """One update on a batch: forward pass, error terms, gradients, optimizer. Returns E."""
        m = xb.shape[0]
        buf = net._buffers_for(m)
        yhat = net._forward(xb, buf)
        sw_sum = m if swb is None else float(swb.sum())
        value = loss.value(yb, yhat, sample_weight=swb)
        if self.alpha:
            value += 0.5 * self.alpha * _sum_sq(self.coefs_) / sw_sum
        loss.weights = None if swb is None else (swb * (m / sw_sum)).reshape(-1, 1)
        scale = opt.begin_step()
        net._backward(xb, yb, buf, loss, scale=1.0 if scale is None else scale,
                      l2=self.alpha / sw_sum, update=opt.update)
        return value

    def _trigger_stopping(self, opt, early_stopping):
        """No improvement for n_iter_no_change epochs: stop, or divide eta by 5 if 'adaptive'."""
        if early_stopping:
            msg = ("Validation score did not improve more than tol=%f for %d consecutive epochs."
                   % (self.tol, self.n_iter_no_change))
        else:
            msg = ("Training loss did not improve more than tol=%f for %d consecutive epochs."
                   % (self.tol, self.n_iter_no_change))
        rate = opt.schedule
        if opt.name == "adam" or self.learning_rate != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if rate.value <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        rate.value /= 5.0
        if self.verbose:
            print(msg + " Setting learning rate to %f" % rate.value)
        self._no_improvement_count = 0
        return False

    def _update_no_improvement_count(self, val, loss):
        if val is not None:
            X_val, y_val, truth, sw_val = val
            yhat = self._net.predict(X_val)
            if np.isfinite(yhat).all():
                score = self._score_function(truth, self._decode(yhat), sample_weight=sw_val)
                vloss = loss.value(y_val, yhat, sample_weight=sw_val)
            else:
                score = vloss = np.nan
            self.validation_scores_.append(score)
            self.validation_loss_curve_.append(vloss)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _run_callbacks(self, lr, started):
        """Call each callback with this estimator and the epoch's figures; True: stop."""
        info = {"epoch": self.n_iter_, "loss": self.loss_, "learning_rate": lr, "t": self.t_,
                "time": time.perf_counter() - started}
        if self.validation_scores_:
            info["validation_score"] = self.validation_scores_[-1]
            info["validation_loss"] = self.validation_loss_curve_[-1]
        stop = False
        for cb in self.callbacks:
            if cb(self, dict(info)) is False:
                stop = True
        return stop

    def _fit_lbfgs(self, X, y, sample_weight):
        """Full-batch L-BFGS-B (scipy) on the engine's loss and gradient."""
        net = self._net
        y = self._targets(y, net.dtype)
        loss = _SklearnLoss(self._loss_kind())
        m = X.shape[0]
        sw_sum = m if sample_weight is None else float(sample_weight.sum())
        loss.weights = None if sample_weight is None else (sample_weight * (m / sw_sum)).reshape(-1, 1)
        params = self.coefs_ + self.intercepts_
        bounds = np.cumsum([0] + [p.size for p in params])

        def unpack(x):
            for p, s, e in zip(params, bounds[:-1], bounds[1:]):
                p[...] = x[s:e].reshape(p.shape)

        def loss_grad(x):
            unpack(x)
            buf = net._buffers_for(m)
            yhat = net._forward(X, buf)
            value = loss.value(y, yhat, sample_weight=sample_weight)
            value += 0.5 * self.alpha * _sum_sq(self.coefs_) / sw_sum
            gW, gb = net._backward(X, y, buf, loss, l2=self.alpha / sw_sum)
            return value, np.concatenate([g.ravel() for g in gW + gb]).astype(np.float64)

        started = time.perf_counter()
        curve = []

        def callback(intermediate_result):
            curve.append(float(intermediate_result.fun))
            if self.callbacks:
                info = {"epoch": len(curve), "loss": curve[-1], "learning_rate": None, "t": 0,
                        "time": time.perf_counter() - started}
                if any([cb(self, dict(info)) is False for cb in self.callbacks]):
                    raise StopIteration

        x0 = np.concatenate([p.ravel() for p in params]).astype(np.float64)
        # one BLAS thread: L-BFGS-B calls SciPy's BLAS between our NumPy products, and two
        # spinning thread pools in one loop cost 5-10x (shared/notes/performance.md)
        with _one_blas_thread():
            res = scipy.optimize.minimize(
                loss_grad, x0, method="L-BFGS-B", jac=True, callback=callback,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        if res.status not in (0, 99):  # 99: a callback asked to stop
            warnings.warn(
                "lbfgs failed to converge after %d iteration(s) (status=%d):\n%s.\n\nIncrease the "
                "number of iterations to improve the convergence (max_iter=%d).\nYou might also "
                "want to scale the data as shown in:\n    https://scikit-learn.org/stable/modules/"
                "preprocessing.html" % (res.nit, res.status, res.message, self.max_iter),
                ConvergenceWarning)
        self.n_iter_ = min(res.nit, self.max_iter)
        self.loss_ = float(res.fun)
        self.loss_curve_ = curve
        unpack(res.x)

    # -- prediction ---------------------------------------------------------------------------------
    def _forward_pass_fast(self, X, check_input=True):
        """yhat = a^L of the network for the rows of X (scikit-learn's name)."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        if hasattr(X, "toarray"):
            X = X.toarray()
        return self._sync_params().predict(X)

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
        super().__setstate__(state)
        if "_net_spec" in self.__dict__:
            self._build_net()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _check_solver(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. %s is not stochastic."
                % self.solver
            )
        return True

    # -- model files: safetensors + JSON, no pickle (sklearn/files.py) ------------------------------
    def save(self, path):
        """Save the fitted estimator as safetensors + JSON metadata (written atomically).

        Parameters (except ``callbacks``), fitted attributes and the optimizer state are kept,
        so ``partial_fit`` continues where it stopped after :func:`backprop.load`.
        """
        check_is_fitted(self)
        return registry.save(self, path)

    @classmethod
    def load(cls, path):
        """Load an estimator written by :meth:`save` (it must be of this class)."""
        est = registry.load(path)
        if not isinstance(est, cls):
            raise ModelFileError(
                f"{path} holds a {type(est).__name__}, not a {cls.__name__}; use backprop.load"
            )
        return est


# -- classifier ---------------------------------------------------------------------------------------
class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by backpropagation on the engine.

    A drop-in replacement for ``sklearn.neural_network.MLPClassifier``: same parameters (see its
    documentation), same fitted attributes, same training results for the same ``random_state``.
    The output layer is softmax for multiclass targets, one logistic unit for binary targets and
    one per label for multilabel targets; the loss is the log-loss.

    Extra parameters
    ----------------
    activation : str or list of str
        Also ``leaky_relu``, ``elu``, ``softplus``, ``gelu`` and ``sigmoid`` (= ``logistic``);
        a list gives one activation per hidden layer.
    mode : {'online', 'batch', 'minibatch'} or None
        The reference's training modes: 'online' updates after every sample (batch size 1),
        'batch' after the whole training set, 'minibatch' (like None) after ``batch_size`` samples.
    callbacks : list of callables or None
        ``f(estimator, info)`` after every epoch (every L-BFGS iteration) with a dict of the
        epoch's figures (``epoch``, ``loss``, ``learning_rate``, ``t``, ``time`` and with a
        validation split ``validation_score``, ``validation_loss``); returning False stops training.

    Extra attributes
    ----------------
    validation_loss_curve_ : list or None
        The loss (without the L2 penalty) on the validation split after each epoch, when
        ``early_stopping`` sets one aside.

    Differences on purpose: ``warm_start`` and ``partial_fit`` keep the optimizer state (Adam
    moments, velocities; a change of ``solver`` or of momentum on/off starts a new one);
    ``n_iter_`` counts the epochs of all ``partial_fit`` calls and warm-started fits, like
    ``loss_curve_`` and ``t_``; float32 input trains a float32 network; ``loss_curve_`` is also
    recorded (per iteration) for ``solver='lbfgs'``; predicted probabilities of logistic outputs
    stay strictly inside (0, 1). ``save(path)``/``MLPClassifier.load(path)`` write and read
    safetensors + JSON model files (no pickle); ``joblib``/``pickle`` work as well.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, mode=None, callbacks=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.mode = mode
        self.callbacks = callbacks

    loss = "log_loss"  # scikit-learn's attribute; not a parameter of the classifier

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and the labels y (binary, multiclass or multilabel)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` (all labels) is required on the first call."""
        if _partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise InvalidInputError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise InvalidInputError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                    f"'y' has {classes}."
                )
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def _val_truth(self, y_val):
        return self._label_binarizer.inverse_transform(y_val)

    def _decode(self, yhat):
        if self.n_outputs_ == 1:
            yhat = yhat.ravel()
        return self._label_binarizer.inverse_transform(yhat)

    @staticmethod
    def _score_function(y, y_pred, sample_weight=None):
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def predict(self, X):
        """Predicted labels (argmax for multiclass, probability >= 0.5 per unit otherwise)."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._decode(self._forward_pass_fast(X, check_input=check_input))

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_`` (two columns for binary)."""
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _partial_fit_first_call(clf, classes):
    """True on the first ``partial_fit`` call (and sets ``classes_``); checks ``classes`` later."""
    if getattr(clf, "classes_", None) is None and classes is None:
        raise InvalidInputError("classes must be passed on the first call to partial_fit.")
    if classes is not None:
        if getattr(clf, "classes_", None) is not None:
            if not np.array_equal(clf.classes_, unique_labels(classes)):
                raise InvalidInputError(
                    f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                    f"was: {clf.classes_!r}"
                )
        else:
            clf.classes_ = unique_labels(classes)
            return True
    return False


# -- regressor ----------------------------------------------------------------------------------------
class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by backpropagation on the engine.

    A drop-in replacement for ``sklearn.neural_network.MLPRegressor``: same parameters (see its
    documentation), same fitted attributes, same training results for the same ``random_state``.
    ``loss='squared_error'`` (identity output; ``loss_`` = ((y - yhat)^2).mean() / 2, averaged over
    samples and outputs, while the gradient is that of the reference's E = 1/(2m) sum (y - yhat)^2)
    or ``loss='poisson'`` (exp output, half Poisson deviance; y >= 0).

    The extra parameters ``activation`` (list, more names), ``mode`` and ``callbacks``, the
    attribute ``validation_loss_curve_`` and the deliberate differences are those of
    :class:`MLPClassifier`.
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 mode=None, callbacks=None):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.mode = mode
        self.callbacks = callbacks

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and the target(s) y."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing the optimizer's state."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise InvalidInputError("loss='poisson' needs targets y >= 0; some are negative")
        return X, y

    def _val_truth(self, y_val):
        return y_val.ravel() if y_val.shape[1] == 1 else y_val

    def _decode(self, yhat):
        return yhat.ravel() if yhat.shape[1] == 1 else yhat

    @staticmethod
    def _score_function(y, y_pred, sample_weight=None):
        return r2_score(y, y_pred, sample_weight=sample_weight)

    def predict(self, X):
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._decode(self._forward_pass_fast(X, check_input=check_input))

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2_score)


# -- persistence ---------------------------------------------------------------------------------------
