"""The estimators' internal attributes that the other modules of ``backprop.sklearn`` use.

The estimators (``base.py``, ``classifier.py``, ``regressor.py``) keep scikit-learn's own private
attributes -- code written for scikit-learn's MLP reads them (``_optimizer``,
``_no_improvement_count``, ``_best_coefs``, ``_label_binarizer``, ``_random_state``, ...) -- and a
few of their own. The helper modules of this package (the training rules, L-BFGS, estimator files,
Dask fitting) use exactly the members declared here, and no other underscored name:
``tests/test_layering.py`` checks it. A member used by a helper is documented here first.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from backprop.model.network import Network
from backprop.train.optimizers import Optimizer


class EstimatorInternals(Protocol):
    """What ``backprop.sklearn``'s helper modules may use of an estimator beyond its public API."""

    # -- scikit-learn's own (its MLP has them; code written for it reads them) ----------------------
    #: the optimizer of sgd/adam, kept between partial_fit calls
    _optimizer: Optimizer | None
    #: epochs without improvement (tol / n_iter_no_change)
    _no_improvement_count: int
    #: the parameters of the best validation score (early_stopping)
    _best_coefs: list[np.ndarray]
    _best_intercepts: list[np.ndarray]
    #: the classifier's labels <-> output columns
    _label_binarizer: Any
    #: the generator of shuffling, splits and initial weights
    _random_state: np.random.RandomState
    #: scikit-learn's parameter validation (BaseEstimator)
    _parameter_constraints: dict

    def _validate_params(self) -> None: ...

    # -- backprop's own ------------------------------------------------------------------------
    #: the Network behind coefs_/intercepts_ (None until built), and its architecture
    _net: Network | None
    _net_spec: tuple[list[int], list[str], str]

    def _sync_params(self) -> Network:
        """The network that computes with coefs_/intercepts_, whatever was assigned to them."""
        ...

    def _build_net(self) -> Network: ...

    def _prepare_network(self, n_features: int, n_outputs: int, dtype: Any, first_pass: bool,
                         hidden_sizes: list[int], hidden: list[str]) -> Network: ...

    def _first_pass(self, incremental: bool) -> bool: ...

    def _hidden_sizes(self) -> list[int]: ...

    def _hidden_activations(self, n_hidden: int) -> list[str]: ...

    def _check_solver(self) -> None: ...

    def _check_finite(self) -> None: ...

    def _ensure_optimizer(self, incremental: bool) -> Optimizer: ...

    def _batch_size(self, n: int) -> int: ...

    def _loss_kind(self) -> str: ...

    def _targets(self, y: np.ndarray, dtype: Any) -> np.ndarray:
        """Targets in the network's space (one-hot rows, a 0/1 column, or the numbers)."""
        ...

    def _val_truth(self, y_val: np.ndarray) -> np.ndarray: ...

    def _decode(self, yhat: np.ndarray) -> np.ndarray: ...

    @staticmethod
    def _score_function(y: np.ndarray, y_pred: np.ndarray, sample_weight: Any = None) -> float: ...


#: the names above: what tests/test_layering.py lets the helpers of backprop.sklearn use
MEMBERS = frozenset(name for name in {**EstimatorInternals.__annotations__, **vars(EstimatorInternals)}
                    if name.startswith("_") and not name.startswith("__")
                    and name not in ("_abc_impl", "_is_protocol", "_is_runtime_protocol"))
