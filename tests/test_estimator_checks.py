"""scikit-learn's own estimator checks over both estimators: every check must pass.

No check is marked as an expected failure. Besides the default estimators (all parameters at
scikit-learn's defaults), a few instances exercise the other solvers and what the original does
not have (per-layer activation lists, the engine's extra activations, ``mode``). Both estimators
are transformers too (``transform``: hidden activations), so
scikit-learn's transformer checks run on every instance; ``check_class_weight_classifiers`` runs
on every classifier (the parameter exists). The other class-weight checks, and ``scoring``, are in
tests/test_estimator_features.py: an instance with class weights or early stopping cannot pass
checks that fit other label sets, ``partial_fit`` or data sets too small to split.
scikit-learn's checks of ``get_feature_names_out`` and ``set_output``, which ``check_estimator``
does not yield, run on every instance too (``test_feature_names_and_set_output_checks``).

The checks train with the estimators' own small ``max_iter`` budgets on tiny data sets, so the
``ConvergenceWarning`` they provoke is ignored here (and only here).

Skipped by scikit-learn itself, not by us (both are inapplicable, not failures):
* ``check_decision_function`` family: like scikit-learn's MLP there is no ``decision_function``.
* ``check_array_api_input``: it skips unless ``SCIPY_ARRAY_API=1`` was set before SciPy was
  imported, which cannot happen inside this pytest process; ``test_array_api_dispatch_with_numpy``
  runs the same check in a fresh interpreter with the variable set.
"""

import os
import subprocess
import sys
import textwrap

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from backprop import MLPClassifier, MLPRegressor

ESTIMATORS = [
    MLPClassifier(),
    MLPRegressor(),
    MLPClassifier(solver="lbfgs"),
    MLPRegressor(solver="lbfgs"),
    MLPClassifier(solver="sgd", activation=["gelu", "elu"], hidden_layer_sizes=(20, 10)),
    MLPRegressor(mode="batch", activation="softplus", learning_rate_init=0.01),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


#: scikit-learn's checks of get_feature_names_out and set_output, which check_estimator does not
#: yield (scikit-learn runs them on its own transformers in its common tests)
OUTPUT_CHECKS = [
    "check_get_feature_names_out_error",
    "check_transformer_get_feature_names_out",
    "check_transformer_get_feature_names_out_pandas",
    "check_set_output_transform",
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
# the pandas checks fit on a DataFrame and transform its array, and the other way round, on purpose
# (their "df/array" cases): the warning this gives is scikit-learn's own validation's, as for its
# transformers
@pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names:UserWarning")
@pytest.mark.parametrize("check", OUTPUT_CHECKS)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_feature_names_and_set_output_checks(estimator, check):
    from sklearn.utils import estimator_checks

    assert hasattr(estimator, "get_feature_names_out")  # else some of these checks return at once
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)


def test_array_api_dispatch_with_numpy():
    """check_array_api_input (NumPy namespace): array-API dispatch on must not change results."""
    code = textwrap.dedent("""
        import sys, warnings
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.utils.estimator_checks import check_array_api_input
        from backprop import MLPClassifier, MLPRegressor
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i, text in enumerate(sys.argv[1:]):
            est = eval(text)
            check_array_api_input(type(est).__name__, est, array_namespace="numpy",
                                  expect_only_array_outputs=False)
            print("checked", i)
    """)
    reprs = [repr(est) for est in ESTIMATORS]
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    out = subprocess.run([sys.executable, "-c", code, *reprs], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"checked {i}" for i in range(len(reprs))]
