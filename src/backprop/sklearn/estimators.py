"""scikit-learn estimators on the engine: drop-in ``MLPClassifier`` and ``MLPRegressor``.

Same parameters, fitted attributes and training semantics as ``sklearn.neural_network`` -- the
forward pass, eq. (i), and the backward pass with eqs. (1)-(4) are the engine's
(:meth:`Network.forward_into`/:meth:`Network.backward_into`), the updates its optimizers (the delta rule,
eq. (5), momentum, Nesterov, Adam in scikit-learn's form), and ``sgd``/``adam`` train through the
engine's one training loop, :class:`backprop.Trainer`, told scikit-learn's rules
(:class:`backprop.sklearn.rules.SklearnRules`). What scikit-learn fixes and we copy:

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
* ``fit`` makes a new optimizer, ``partial_fit`` continues the last one; ``n_iter_`` counts the
  epochs of the last call.

Beyond the original: more hidden activations and one per layer, ``mode``, ``callbacks``,
``validation_loss_curve_``, ``keep_optimizer_state`` (warm-started fits continue the optimizer,
``n_iter_`` counts across calls), float32 training, and safetensors model files
(:meth:`save`/:func:`load`).

The code: :mod:`~backprop.sklearn.base` (shared), :mod:`~backprop.sklearn.classifier`,
:mod:`~backprop.sklearn.regressor`, :mod:`~backprop.sklearn.rules` (sgd/adam),
:mod:`~backprop.sklearn.lbfgs`, :mod:`~backprop.sklearn.losses`, :mod:`~backprop.sklearn.optim`;
this module keeps the names importable from one place.
"""

from __future__ import annotations

from backprop.sklearn.base import FORMAT as _FORMAT
from backprop.sklearn.base import FORMAT_VERSION as _FORMAT_VERSION
from backprop.sklearn.base import BaseMLP as _BaseMLP
from backprop.sklearn.classifier import MLPClassifier
from backprop.sklearn.optim import Rate as _Rate
from backprop.sklearn.regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "_BaseMLP", "_FORMAT", "_FORMAT_VERSION", "_Rate"]
