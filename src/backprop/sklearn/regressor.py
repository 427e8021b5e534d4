"""``MLPRegressor``: scikit-learn's multi-layer perceptron regressor on the engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from backprop.errors import InvalidInputError
from backprop.sklearn.base import BaseMLP


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor trained by backpropagation on the engine.

    A drop-in replacement for ``sklearn.neural_network.MLPRegressor``: same parameters (see its
    documentation), same fitted attributes, same training results for the same ``random_state``.
    ``loss='squared_error'`` (identity output; ``loss_`` = ((y - yhat)^2).mean() / 2, averaged over
    samples and outputs, while the gradient is that of the reference's E = 1/(2m) sum (y - yhat)^2)
    or ``loss='poisson'`` (exp output, half Poisson deviance; y >= 0).

    The extra parameters ``activation`` (list, more names), ``mode``, ``callbacks`` and
    ``keep_optimizer_state``, the methods ``transform(X, layer=-1)`` and ``network()``, the
    attribute ``validation_loss_curve_`` and the deliberate differences are those of
    :class:`MLPClassifier`.

    Other Parameters
    ----------------
    scoring : str, callable or None, default=None
        What ``early_stopping`` maximises on its validation split: a scikit-learn scorer name
        (``'neg_mean_absolute_error'``, ``'neg_mean_squared_error'``, ...) or a callable
        ``scorer(estimator, X, y)``; None keeps R^2. A callable is not kept in model files.
    """

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: str | Sequence[str] = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool | int = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int = 10, max_fun: int = 15000,
                 mode: str | None = None, callbacks: Callable | Sequence[Callable] | None = None,
                 keep_optimizer_state: bool = False, scoring: str | Callable | None = None):
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
        self.keep_optimizer_state = keep_optimizer_state
        self.scoring = scoring

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> MLPRegressor:
        """Fit the model to X and the target(s) y."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> MLPRegressor:
        """One epoch over (X, y), continuing the optimizer's state (as scikit-learn)."""
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

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._decode(self._forward_pass_fast(X, check_input=check_input))

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2_score)
