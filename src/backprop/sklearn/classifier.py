"""``MLPClassifier``: scikit-learn's multi-layer perceptron classifier on the engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from backprop.errors import InvalidInputError
from backprop.sklearn import features as _features
from backprop.sklearn.base import BaseMLP


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier trained by backpropagation on the engine.

    A drop-in replacement for ``sklearn.neural_network.MLPClassifier``: same parameters (see its
    documentation), same fitted attributes, same training results for the same ``random_state``.
    The output layer is softmax for multiclass targets, one logistic unit for binary targets and
    one per label for multilabel targets; the loss is the log-loss.

    Other Parameters
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
    keep_optimizer_state : bool, default=False
        As scikit-learn (False), every ``fit`` -- also a warm-started one -- begins with a new
        optimizer, ``partial_fit`` continues the last one, and ``n_iter_`` counts the epochs of
        the last call only. True: a fit with ``warm_start`` continues the optimizer's state too
        (Adam's moments, the velocities; a change of ``solver`` or of momentum on/off starts a
        new one), and ``n_iter_`` counts the epochs of all ``fit`` and ``partial_fit`` calls,
        like ``loss_curve_`` and ``t_`` do in both cases.

    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, ``{label: weight}``: each sample's weight in the loss (and in the
        validation score of ``early_stopping``) is multiplied by its class's, on top of
        ``sample_weight``. 'balanced' gives class c the weight n_samples / (n_classes * n_c), as
        ``sklearn.utils.class_weight.compute_class_weight``; for multilabel targets only 'balanced'
        (per label, multiplied). With ``partial_fit`` only a dict (balancing needs the whole
        training set).
    scoring : str, callable or None, default=None
        What ``early_stopping`` maximises on its validation split: a scikit-learn scorer name
        (``'balanced_accuracy'``, ``'neg_log_loss'``, ``'f1_macro'``, ...) or a callable
        ``scorer(estimator, X, y)``; None keeps accuracy. ``validation_scores_`` and
        ``best_validation_score_`` record its values; a callable is not kept in model files.

    Methods
    -------
    transform(X, layer=-1)
        The activations a of a hidden layer (the last by default): the learnt features, so the
        estimator can feed another in a ``Pipeline``.
    network()
        A copy of the fitted :class:`backprop.Network`.

    Attributes
    ----------
    validation_loss_curve_ : list or None
        The loss (without the L2 penalty) on the validation split after each epoch, when
        ``early_stopping`` sets one aside (beyond scikit-learn's attributes).

    Notes
    -----
    (The section names are numpydoc's: scikit-learn's notebook diagram parses this docstring.)
    Differences on purpose: float32 input trains a float32 network; ``loss_curve_`` is also
    recorded (per iteration) for ``solver='lbfgs'``; predicted probabilities of logistic outputs
    stay strictly inside (0, 1). ``save(path)``/``MLPClassifier.load(path)`` write and read
    safetensors + JSON model files (no pickle); ``joblib``/``pickle`` work as well.
    """

    def __init__(self, hidden_layer_sizes: int | Sequence[int] = (100,),
                 activation: str | Sequence[str] = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: int | np.random.RandomState | None = None,
                 tol: float = 1e-4, verbose: bool | int = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int = 10, max_fun: int = 15000,
                 mode: str | None = None, callbacks: Callable | Sequence[Callable] | None = None,
                 keep_optimizer_state: bool = False, class_weight: dict | str | None = None,
                 scoring: str | Callable | None = None):
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
        self.class_weight = class_weight
        self.scoring = scoring

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }

    loss = "log_loss"  # scikit-learn's attribute; not a parameter of the classifier

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> MLPClassifier:
        """Fit the model to X and the labels y (binary, multiclass or multilabel)."""
        sample_weight = _features.class_sample_weight(self, y, sample_weight)
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> MLPClassifier:
        """One epoch over (X, y); ``classes`` (all labels) is required on the first call."""
        if _partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        sample_weight = _features.class_sample_weight(self, y, sample_weight, incremental=True)
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

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted labels (argmax for multiclass, probability >= 0.5 per unit otherwise)."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._decode(self._forward_pass_fast(X, check_input=check_input))

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_`` (two columns for binary)."""
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
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
