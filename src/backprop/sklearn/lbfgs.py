"""``solver='lbfgs'``: ``scipy.optimize.minimize(method="L-BFGS-B")`` on the engine's loss and
gradients of the whole training set (eqs. (1)-(4), eq. (3) weighted by the sample weights)."""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike
from sklearn.exceptions import ConvergenceWarning

from backprop.sklearn.losses import SklearnLoss, sum_sq


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _unpack(est, packed):
    """Write the packed vector into ``coefs_`` and ``intercepts_`` (in place: the network's arrays)."""
    start = 0
    for p in est.coefs_ + est.intercepts_:
        p[...] = packed[start:start + p.size].reshape(p.shape)
        start += p.size


def _loss_and_grads(est, X, y, loss, sample_weight, sw_sum):
    """scikit-learn's loss (with alpha/2 ||W||^2 / sum of weights) and the eq. (3) gradients."""
    net = est._net
    m = X.shape[0]
    buf = net.buffers(m)
    yhat = net.forward_into(X, buf)
    value = loss.value(y, yhat, sample_weight=sample_weight)
    value += 0.5 * est.alpha * sum_sq(est.coefs_) / sw_sum
    gW, gb = net.backward_into(X, y, buf, loss, l2=est.alpha / sw_sum)
    return value, gW, gb


def _new_loss(est, m, sample_weight):
    loss = SklearnLoss(est._loss_kind())
    sw_sum = loss.set_batch(sample_weight)
    return loss, (m if sw_sum is None else sw_sum)


def loss_grad(est: Any, packed: np.ndarray, X: ArrayLike, y: ArrayLike,
              sample_weight: ArrayLike | None = None, coef_grads: list | None = None,
              intercept_grads: list | None = None) -> tuple[float, np.ndarray]:
    """(loss, packed gradient) at the packed parameters (scikit-learn's ``_loss_grad_lbfgs``)."""
    net = est._sync_params()
    X = np.ascontiguousarray(X.toarray() if hasattr(X, "toarray") else X, dtype=net.dtype)
    y = np.asarray(y)
    y = est._targets(y.reshape(-1, 1) if y.ndim == 1 else y, net.dtype)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=net.dtype)
    _unpack(est, packed)
    loss, sw_sum = _new_loss(est, X.shape[0], sample_weight)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        value, gW, gb = _loss_and_grads(est, X, y, loss, sample_weight, sw_sum)
    for given, grads in ((coef_grads, gW), (intercept_grads, gb)):
        if given is not None:
            given[:] = [g.copy() for g in grads]
    return value, np.concatenate([g.ravel() for g in gW + gb]).astype(np.float64)


def fit_lbfgs(est: Any, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
    """Full-batch L-BFGS-B (scipy) on the engine's loss and gradient."""
    y = est._targets(y, est._net.dtype)
    loss, sw_sum = _new_loss(est, X.shape[0], sample_weight)
    params = est.coefs_ + est.intercepts_

    def fun(x):
        _unpack(est, x)
        value, gW, gb = _loss_and_grads(est, X, y, loss, sample_weight, sw_sum)
        return value, np.concatenate([g.ravel() for g in gW + gb]).astype(np.float64)

    started = time.perf_counter()
    curve = []

    def callback(intermediate_result):
        curve.append(float(intermediate_result.fun))
        if est.callbacks:
            info = {"epoch": len(curve), "loss": curve[-1], "learning_rate": None, "t": 0,
                    "time": time.perf_counter() - started}
            if any([cb(est, dict(info)) is False for cb in est.callbacks]):
                raise StopIteration

    x0 = np.concatenate([p.ravel() for p in params]).astype(np.float64)
    # one BLAS thread: L-BFGS-B calls SciPy's BLAS between our NumPy products, and two
    # spinning thread pools in one loop made a fit 5-10x slower on a 2-vCPU machine
    with _one_blas_thread():
        res = scipy.optimize.minimize(
            fun, x0, method="L-BFGS-B", jac=True, callback=callback,
            options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol})
    if res.status not in (0, 99):  # 99: a callback asked to stop
        warnings.warn(
            f"lbfgs failed to converge after {res.nit:d} iteration(s) (status={res.status:d}):\n"
            f"{res.message}.\n\nIncrease the number of iterations to improve the convergence "
            f"(max_iter={est.max_iter:d}).\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html",
            ConvergenceWarning, stacklevel=4)
    est.n_iter_ = min(res.nit, est.max_iter)
    est.loss_ = float(res.fun)
    est.loss_curve_ = curve
    _unpack(est, res.x)
