"""numba kernels: a whole epoch of a dense network of any size in one compiled call, its matrix
products made by NumPy's own OpenBLAS (see :mod:`backprop.fast.epochs`).

A NumPy training step is some sixty calls -- the products, and one pass per elementwise operation
(bias, g, g', softmax, loss, bias sums, the optimizer's dozen passes) -- each paying about a
microsecond of dispatch and a trip through memory. Here one call runs every batch of an epoch: the
eight products per step go to the same ``cblas_?gemm`` that ``np.matmul`` and
:mod:`backprop.fast.blas` call (its address is an argument, called through :mod:`backprop.fast.cabi`:
the compiled code is cached on disk, numba's dispatcher matches a call in C, and no second BLAS, nor
a second thread pool, is ever loaded), and everything between two products is one compiled loop
over the rows it touches -- the large ones (gather, bias and g, g' with the bias sums, Adam) split
over the BLAS threads themselves, which would only spin between products (:mod:`backprop.fast.team`).

Arithmetic: the products are the NumPy path's (the same BLAS calls on the same operands); the
elementwise work is the same operations in the same order in the parameters' dtype (``consts``
holds the scalars in that dtype, as NumPy casts Python floats), except where a transcendental
function is computed (exp, log, tanh): numba's (the C library's) against NumPy's own vector
versions, which may differ in the last bit. So results agree with the NumPy path to rounding.
``error_model="numpy"`` and no ``fastmath``, as in :mod:`backprop.fast.kernels`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import carray, cfunc, njit

from backprop.fast import team as _team
from backprop.fast.cabi import call, call_gemm, call_team, pointer
from backprop.fast.kernels import LEAKY_RELU, RELU, SIGMOID, SOFTMAX, TANH, adam_segment
from backprop.fast.team import SLOTS

# for fast.epochs, which imports numba's modules only through this one
team_function = _team.function
MAX_PARTS = _team.MAX_PARTS

_ROW, _NT, _T = 101, 111, 112

# losses (epochs.LOSSES): the engine's, and scikit-learn's values (the same error term yhat - y)
MSE, BINARY_CROSS_ENTROPY, CROSS_ENTROPY, SK_LOG_LOSS, SK_SQUARED = 0, 1, 2, 3, 4
# optimizers
SGD, ADAM = 0, 1
# consts: the scalars of a run, in the parameters' dtype (slot C_CAST: scratch, a float64 rounded to it;
# C_LRT: the update's Adam step size, for the parts on the pool)
C_LR, C_B1, C_B2, C_C1, C_C2, C_EPS, C_CAST, C_LRT = range(8)
# the passes split over the BLAS pool (fast.team): a descriptor's pass and its part's range
GATHER, HIDDEN, G_PRIME, ADAM_PART = 1, 2, 3, 4
#: rows per block of the bias sums: the blocks' sums are added in order whichever thread made them,
#: so the bits never depend on the number of threads
SUM_BLOCK = 64
#: values a pass must touch before it is split (a hand-off to the pool costs a few microseconds)
SPLIT_MIN = 1 << 15


@njit(cache=True, error_model="numpy")
def _hidden(A, bias, code, alpha):
    """Step (i)'s bias and g for a hidden layer's rows, in place: the product a^{k-1} W^k is in A,
    a = g(h) replaces h = A + b (every g' below is computed from a, as the NumPy path's training
    buffers allow). One loop per unit, the choice outside it: a branch inside would keep the loop
    from being vectorized."""
    if code == RELU:
        _relu_rows(A, bias)
    elif code == LEAKY_RELU:
        _leaky_rows(A, bias, alpha)
    elif code == SIGMOID or code == TANH:
        _tanh_rows(A, bias, code == SIGMOID)
    else:
        b, n = A.shape
        for r in range(b):
            for j in range(n):
                A[r, j] += bias[j]


@njit(cache=True, error_model="numpy")
def _relu_rows(A, bias):
    zero = np.zeros(1, A.dtype)[0]
    b, n = A.shape
    for r in range(b):
        for j in range(n):
            h = A[r, j] + bias[j]
            A[r, j] = zero if h <= 0 else h  # NaN passes, as in np.maximum


@njit(cache=True, error_model="numpy")
def _leaky_rows(A, bias, alpha):
    b, n = A.shape
    for r in range(b):
        for j in range(n):
            h = A[r, j] + bias[j]
            ah = h * alpha
            A[r, j] = ah if h < ah else h


@njit(cache=True, error_model="numpy")
def _tanh_rows(A, bias, sigmoid):
    """tanh(h), or the sigmoid as (1 + tanh(h/2)) / 2 (never overflows), as core.activations has it."""
    b, n = A.shape
    for r in range(b):
        for j in range(n):
            h = A[r, j] + bias[j]
            A[r, j] = math.tanh(h * 0.5) * 0.5 + 0.5 if sigmoid else math.tanh(h)


@njit(cache=True, error_model="numpy")
def _g_prime_sums(D, A, code, alpha, sums):
    """delta *= g'(h), eq. (4)'s factor, as core.activations' backward computes it (from a: for a
    leaky ReLU, 0 <= alpha < 1, h > 0 exactly where a > 0), and the sums over the rows of the result:
    the biases' gradient of eq. (3), in the same pass. One loop per unit, as in :func:`_hidden`."""
    sums[:] = 0
    b, n = D.shape
    if code == RELU or code == LEAKY_RELU:
        lo = alpha if code == LEAKY_RELU else 0.0
        g = np.empty(3, D.dtype)  # g' where a <= 0 and where a > 0, as backward rounds them; 1
        g[0], g[1], g[2] = (0.0 * (1.0 - lo)) + lo, (1.0 * (1.0 - lo)) + lo, 1.0
        g0, g1, one = g[0], g[1], g[2]
        for r in range(b):
            for j in range(n):
                # g1 or g0 picked by arithmetic, exactly (c is 0 or 1): a branch on the sign of
                # random values is mispredicted half the time and kept this loop 2.3x slower
                c = one * (A[r, j] > 0)
                d = D[r, j] * (g1 * c + g0 * (one - c))
                D[r, j] = d
                sums[j] += d
    elif code == SIGMOID:
        for r in range(b):
            for j in range(n):
                a = A[r, j]
                d = D[r, j] * ((1 - a) * a)
                D[r, j] = d
                sums[j] += d
    elif code == TANH:
        for r in range(b):
            for j in range(n):
                a = A[r, j]
                d = D[r, j] * (1 - a * a)
                D[r, j] = d
                sums[j] += d
    else:
        for r in range(b):
            for j in range(n):
                sums[j] += D[r, j]


@njit(cache=True, error_model="numpy")
def _output_units(H, A, bias, code, lse):
    """The output layer's h += b and yhat = g(h), row by row (softmax: e^{h - max h}, normalised;
    each row's logsumexp(h) to ``lse``, for the cross-entropy)."""
    b, n = H.shape
    for r in range(b):
        for j in range(n):
            H[r, j] += bias[j]
        if code == SOFTMAX:
            shift = H[r, 0]
            for j in range(1, n):
                shift = max(shift, H[r, j])
            s = 0.0
            for j in range(n):
                e = math.exp(H[r, j] - shift)
                A[r, j] = e
                s += e
            for j in range(n):
                A[r, j] = A[r, j] / s
            lse[r] = math.log(s) + shift
        elif code == SIGMOID:
            for j in range(n):
                A[r, j] = math.tanh(H[r, j] * 0.5) * 0.5 + 0.5
        else:
            for j in range(n):
                A[r, j] = H[r, j]


@njit(cache=True, error_model="numpy")
def _loss_sum(H, A, Y, loss, lse):
    """E of the batch summed over its rows (as its loss computes it, before the division by them).
    A zero target adds nothing and its logarithm is finite: skipped, the same sum."""
    b, n = H.shape
    eps = np.finfo(A.dtype).eps
    total = 0.0
    for r in range(b):
        if loss == CROSS_ENTROPY:  # sum_k y_k (logsumexp(h) - h_k)
            for j in range(n):
                if Y[r, j] != 0:
                    total += Y[r, j] * (lse[r] - H[r, j])
        elif loss == SK_LOG_LOSS:  # scikit-learn's: -sum_k y_k log(clip(yhat_k, eps, 1 - eps))
            for j in range(n):
                if Y[r, j] != 0:
                    total -= Y[r, j] * math.log(min(max(A[r, j], eps), 1 - eps))
        elif loss == BINARY_CROSS_ENTROPY:  # log(1 + e^h) - y h
            for j in range(n):
                h = H[r, j]
                total += (h + math.log1p(math.exp(-h)) if h > 0 else math.log1p(math.exp(h))) - Y[r, j] * h
        else:  # (yhat - y)^2, halved by the caller
            for j in range(n):
                e = A[r, j] - Y[r, j]
                total += e * e
    return total


@njit(cache=True, error_model="numpy")
def _output_delta(A, Y, D, c, sums):
    """delta^o = c (yhat - y), the matched pairs' eq. (2) with eta/m or 1/m folded in, and its sums
    over the rows (the biases' gradient, eq. (3))."""
    b, n = A.shape
    sums[:] = 0
    for r in range(b):
        for j in range(n):
            d = (A[r, j] - Y[r, j]) * c
            D[r, j] = d
            sums[j] += d


@njit(cache=True, error_model="numpy")
def _sum_squares(w):
    """sum w^2 in eight running sums (one would be a chain of dependent additions, 8x slower)."""
    acc = np.zeros(8)
    n8 = w.size - w.size % 8
    for q in range(0, n8, 8):
        for i in range(8):
            v = np.float64(w[q + i])
            acc[i] += v * v
    for q in range(n8, w.size):
        v = np.float64(w[q])
        acc[0] += v * v
    return acc.sum()


@njit(cache=True, error_model="numpy")
def _gather(X, order, lo, hi, xb):
    """The batch's rows of X in the epoch's order, eight rows at a time: eight streams of memory in
    flight instead of one (``python -m bench.gather``: 3x faster than a row-slice copy at B = 1000,
    1.5x than np.take, ~5 % faster than four at a time)."""
    n = X.shape[1]
    r, m = 0, hi - lo
    while r + 7 < m:
        i0, i1, i2, i3 = order[lo + r], order[lo + r + 1], order[lo + r + 2], order[lo + r + 3]
        i4, i5, i6, i7 = order[lo + r + 4], order[lo + r + 5], order[lo + r + 6], order[lo + r + 7]
        for j in range(n):
            xb[r, j] = X[i0, j]
            xb[r + 1, j] = X[i1, j]
            xb[r + 2, j] = X[i2, j]
            xb[r + 3, j] = X[i3, j]
            xb[r + 4, j] = X[i4, j]
            xb[r + 5, j] = X[i5, j]
            xb[r + 6, j] = X[i6, j]
            xb[r + 7, j] = X[i7, j]
        r += 8
    while r < m:
        i = order[lo + r]
        for j in range(n):
            xb[r, j] = X[i, j]
        r += 1


@njit(cache=True, error_model="numpy")
def _gemm(gemm, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """C <- alpha op(A) op(B) + beta C, row-major, by ``cblas_?gemm``: ``gemm`` is (its address, a
    number of the library's integer type), ``a``, ``b``, ``c`` addresses (``fast.cabi``)."""
    call_gemm(gemm[0], gemm[1], _ROW, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


@njit(cache=True, error_model="numpy")
def _forward(gemm, x, Ws, bs, acts, alphas, Ho, As, lse, b, tm):
    """Step (i): h^k = a^{k-1} W^k (one product) + b^k, a^k = g(h^k); a hidden layer's h becomes its
    a in place, the output's h stays in Ho for the loss."""
    L = len(Ws)
    one = np.ones(1, Ws[0].dtype)[0]
    for k in range(L):
        W = Ws[k]
        n_in, n_out = W.shape
        a_prev = x if k == 0 else As[k - 1][:b]
        H = As[k][:b] if k < L - 1 else Ho[:b]
        _gemm(gemm, _NT, _NT, b, n_out, n_in, one, a_prev.ctypes.data, n_in, W.ctypes.data, n_out, one * 0,
              H.ctypes.data, n_out)
        if k < L - 1:
            n = _parts(tm, b * n_out)
            for i in range(n):
                d = tm[2][i]
                d[0], d[1], d[2], d[3], d[4] = HIDDEN, b * i // n, b * (i + 1) // n, H.ctypes.data, n_out
                d[5], d[6], d[7], d[8] = bs[k].ctypes.data, acts[k], alphas.ctypes.data, k
            _go(tm, n)  # bias and g (epochprofile times this line)
    _output_units(Ho[:b], As[L - 1][:b], bs[L - 1], acts[L - 1], lse)


@njit(cache=True, error_model="numpy")
def _backward(gemm, x, Ws, bs, acts, alphas, As, Ds, GWs, gbs, b, opt, consts, lam, scale, tm, psums):
    """Steps (ii)-(iii) from delta^o in Ds[-1]: eq. (4) with this step's (old) weights, times g';
    eq. (1) summed over the batch into GWs (with the L2 term first, as ``Network.backward_into``
    adds the product to it) and gbs; for SGD eq. (5) at once: W <- W - a^T delta in one product
    (``fast.fused``), or W <- W - (eta l2 W + a^T delta) with an L2 term."""
    L = len(Ws)
    one = np.ones(1, Ws[0].dtype)[0]
    for k in range(L - 1, -1, -1):
        W, G = Ws[k], GWs[k]
        n_in, n_out = W.shape
        a_prev = x if k == 0 else As[k - 1][:b]
        d = Ds[k][:b]
        if k > 0:
            dp = Ds[k - 1][:b]
            _gemm(gemm, _NT, _T, b, n_in, n_out, one, d.ctypes.data, n_out, W.ctypes.data, n_out, one * 0,
                  dp.ctypes.data, n_in)
            _g_prime_split(tm, dp, As[k - 1], acts[k - 1], alphas, k - 1, b, psums, gbs[k - 1])
        Wf, Gf = W.ravel(), G.ravel()
        if lam:
            consts[C_CAST] = lam * scale
            dec = consts[C_CAST]
            for q in range(Wf.size):
                Gf[q] = Wf[q] * dec
        if opt == SGD and not lam:
            _gemm(gemm, _T, _NT, n_in, n_out, b, -one, a_prev.ctypes.data, n_in, d.ctypes.data, n_out, one,
                  W.ctypes.data, n_out)
        else:
            _gemm(gemm, _T, _NT, n_in, n_out, b, one, a_prev.ctypes.data, n_in, d.ctypes.data, n_out,
                  one if lam else one * 0, G.ctypes.data, n_out)
        if opt == SGD:
            if lam:
                for q in range(Wf.size):
                    Wf[q] -= Gf[q]
            bk, gb = bs[k], gbs[k]
            for j in range(bk.size):
                bk[j] -= gb[j]


@njit(cache=True, error_model="numpy")
def _adam(consts, lr_t, table, size, tm):
    """Step (iv) for Adam: its moments and step per parameter in one pass (``fast.kernels``), over
    the parameters of ``table`` (``fast.epochs``: per array -- a layer's weights, then its biases --
    the addresses of parameter, gradient, m and v, and its size), split by elements over the pool."""
    consts[C_LRT] = lr_t
    n = _parts(tm, size)
    for i in range(n):
        d = tm[2][i]
        d[0], d[1], d[2], d[3] = ADAM_PART, i, n, table.ctypes.data
        d[4], d[5] = table.shape[0], consts.ctypes.data
    _go(tm, n)


# -- the passes split over the BLAS pool (fast.team) -----------------------------------------------
@njit(cache=True, error_model="numpy")
def _parts(tm, size):
    """Parts a pass over ``size`` values is split into: the pool's (``tm[3]``), or 1 below ``tm[4]``
    values (:data:`SPLIT_MIN`, read when the kernel is called: tests lower it)."""
    return tm[3] if size >= tm[4] else 1


@njit(cache=True, error_model="numpy")
def _go(tm, n):
    """Run the pass that ``tm``'s descriptors 0..n-1 describe: on the pool (``tm[0]``, the address of
    ``gotoblas_pthread``), or here for one part (``tm[1]``, the parts' cfunc: :func:`part_address`)."""
    if n > 1:
        call_team(tm[0], n, tm[1], tm[2].ctypes.data, SLOTS * 8)
    else:
        call(tm[1], tm[2].ctypes.data)


@njit(cache=True, error_model="numpy")
def _g_prime_split(tm, D, A, code, alphas, k, b, psums, sums):
    """:func:`_g_prime_sums` over blocks of :data:`SUM_BLOCK` rows, each block's sums to a row of
    ``psums``, then added in block order into ``sums`` (the same bits for any split)."""
    n_out = D.shape[1]
    blocks = -(-b // SUM_BLOCK)
    n = min(_parts(tm, b * n_out), blocks)
    for i in range(n):
        d = tm[2][i]
        d[0], d[1], d[2], d[3], d[4], d[5] = G_PRIME, blocks * i // n, blocks * (i + 1) // n, D.ctypes.data, \
            A.ctypes.data, n_out
        d[6], d[7], d[8], d[9], d[10] = b, code, alphas.ctypes.data, k, psums.ctypes.data
    _go(tm, n)
    for j in range(n_out):  # block q's sums are psums[q * n_out:(q + 1) * n_out]
        sums[j] = psums[j]
    for q in range(1, blocks):
        for j in range(n_out):
            sums[j] += psums[q * n_out + j]


@njit(cache=True, error_model="numpy")
def _gather_split(tm, X, Y, order, lo, b, xb, yb):
    """The batch's rows of X and Y (:func:`_gather`), split by rows over the pool."""
    n = _parts(tm, b * X.shape[1])
    for i in range(n):
        d = tm[2][i]
        d[0], d[1], d[2], d[3] = GATHER, b * i // n, b * (i + 1) // n, X.ctypes.data
        d[4], d[5] = X.shape[0], X.shape[1]
        d[6], d[7], d[8], d[9] = Y.ctypes.data, Y.shape[1], order.ctypes.data, order.size
        d[10], d[11], d[12] = lo, xb.ctypes.data, yb.ctypes.data
    _go(tm, n)


@njit(cache=True, error_model="numpy")
def _part(d, zero):
    """One part of a split pass, as its descriptor ``d`` says (``zero``: the parameters' dtype)."""
    code, r0, r1 = d[0], d[1], d[2]
    if code == GATHER:
        X = carray(pointer(d[3], zero), (d[4], d[5]))
        Y = carray(pointer(d[6], zero), (d[4], d[7]))
        order = carray(pointer(d[8], d[8]), (d[9],))
        _gather(X, order, d[10] + r0, d[10] + r1, carray(pointer(d[11], zero), (r1, d[5]))[r0:])
        _gather(Y, order, d[10] + r0, d[10] + r1, carray(pointer(d[12], zero), (r1, d[7]))[r0:])
    elif code == HIDDEN:
        A = carray(pointer(d[3], zero), (r1, d[4]))
        alpha = carray(pointer(d[7], 0.0), (d[8] + 1,))[d[8]]
        _hidden(A[r0:], carray(pointer(d[5], zero), (d[4],)), d[6], alpha)
    elif code == G_PRIME:
        n_out, b = d[5], d[6]
        D = carray(pointer(d[3], zero), (b, n_out))
        A = carray(pointer(d[4], zero), (b, n_out))
        psums = carray(pointer(d[10], zero), (r1, n_out))
        alpha = carray(pointer(d[8], 0.0), (d[9] + 1,))[d[9]]
        for q in range(r0, r1):
            lo, hi = q * SUM_BLOCK, min(q * SUM_BLOCK + SUM_BLOCK, b)
            _g_prime_sums(D[lo:hi], A[lo:hi], d[7], alpha, psums[q])
    elif code == ADAM_PART:
        table = carray(pointer(d[3], d[3]), (d[4], 5))
        c = carray(pointer(d[5], zero), (C_LRT + 1,))
        for q in range(d[4]):
            size = table[q, 4]
            lo, hi = size * r0 // r1, size * (r0 + 1) // r1  # part r0 of r1
            adam_segment(carray(pointer(table[q, 0], zero), (size,))[lo:hi],
                         carray(pointer(table[q, 1], zero), (size,))[lo:hi],
                         carray(pointer(table[q, 2], zero), (size,))[lo:hi],
                         carray(pointer(table[q, 3], zero), (size,))[lo:hi],
                         c[C_B1], c[C_B2], c[C_C1], c[C_C2], c[C_EPS], c[C_LRT])


def _part32(p):  # pragma: no cover - compiled (part_address); run on the pool or by cabi.call
    _part(carray(p, (SLOTS,), np.int64), np.float32(0))


def _part64(p):  # pragma: no cover - compiled (part_address)
    _part(carray(p, (SLOTS,), np.int64), np.float64(0))


_parts_compiled: dict = {}


def part_address(dtype: np.dtype) -> int:
    """The address of the parts' cfunc for parameters of ``dtype`` (float32 or float64), as the
    kernel hands it to the pool or calls it itself: compiled (or loaded from numba's cache) on the
    first request for its dtype only, and the one copy of the passes' code (the kernel calls it)."""
    key = np.dtype(dtype)
    if key not in _parts_compiled:
        body = _part32 if key == np.float32 else _part64
        _parts_compiled[key] = cfunc(_team.SIGNATURE, cache=True, error_model="numpy")(body)
    return _parts_compiled[key].address


@njit(cache=True, error_model="numpy")
def _flush_all(Ws, bs, MWs, Mbs, VWs, Vbs, adam):
    """Subnormal parameters (and Adam's moments) to +0, as ``fast.denormals.after_update``."""
    tiny = np.finfo(Ws[0].dtype).tiny
    for k in range(len(Ws)):
        _flush(Ws[k].ravel(), tiny)
        _flush(bs[k], tiny)
        if adam:
            _flush(MWs[k].ravel(), tiny)
            _flush(VWs[k].ravel(), tiny)
            _flush(Mbs[k], tiny)
            _flush(Vbs[k], tiny)


@njit(cache=True, error_model="numpy")
def _flush(P, tiny):
    """Subnormal entries to +0 (fast.denormals.flush_subnormals)."""
    for q in range(P.size):
        v = P[q]
        if v != 0 and abs(v) < tiny:
            P[q] = 0


@njit(cache=True, error_model="numpy")
def epoch(gemm, X, Y, order, shuffled, lo, hi, B, Ws, bs, acts, alphas, loss, opt, consts, l2, l2_per_row,
          penalty_per_row, t0, lr_ts, flush_every, MWs, Mbs, VWs, Vbs, xb, yb, Ho, lse, As, Ds, GWs, gbs,
          result, tm, psums, table):
    """The batches of rows ``lo`` to ``hi`` of one epoch (in ``order`` where ``shuffled``) of batch size
    ``B``; parameters ``Ws``/``bs`` changed in place.

    ``opt`` SGD: eq. (5), eta/m folded into delta^o. ADAM: eq. (3)'s gradient (with its L2 term) into
    ``GWs``/``gbs``, then Adam's moments (``MWs``/``Mbs``, ``VWs``/``Vbs``: ignored for SGD) and step,
    with ``lr_ts[t]`` the step size of update t0 + t + 1. The L2 coefficient of a batch of b rows is
    ``l2 + l2_per_row / b``, its reported loss gains ``penalty_per_row * sum w^2 / b``. Every
    ``flush_every``-th update (counted from t0) flushes subnormals (0: never).

    ``result`` gets (rows done, summed E x rows, status, the non-finite loss, updates made):
    status 0 done, 2 a batch's E was not finite (nothing of it applied).

    ``tm``: (the address of ``gotoblas_pthread``, 0 without a pool; the address of the parts' cfunc
    of the dtype; the descriptors; the parts of the pool; :data:`SPLIT_MIN`), :mod:`backprop.fast.team`;
    ``psums``: the bias sums' blocks; ``table``: the arrays of Adam's update (:func:`_adam`)."""
    pos, t, done_loss = lo, 0, 0.0
    size = 0
    for q in range(table.shape[0]):
        size += table[q, 4]
    while pos < hi:
        end = min(pos + B, hi)
        b = end - pos
        if shuffled:
            _gather_split(tm, X, Y, order, pos, b, xb, yb)
            x, y = xb[:b], yb[:b]
        else:
            x, y = X[pos:end], Y[pos:end]
        _forward(gemm, x, Ws, bs, acts, alphas, Ho, As, lse, b, tm)
        total = _loss_sum(Ho[:b], As[-1][:b], y, loss, lse)
        value = total / (2.0 * b) if loss == MSE else (total / (2.0 * b * y.shape[1]) if loss == SK_SQUARED
                                                        else total / b)
        if penalty_per_row:
            sq = 0.0
            for k in range(len(Ws)):
                sq += _sum_squares(Ws[k].ravel())
            value += penalty_per_row * sq / b
        if not math.isfinite(value):
            result[0], result[1], result[2], result[3], result[4] = pos - lo, done_loss, 2, value, t
            return
        scale = consts[C_LR] if opt == SGD else consts[C_LR] * 0 + 1
        consts[C_CAST] = scale / b  # eta/m (SGD) or 1/m, rounded to the dtype as NumPy's d *= c does
        _output_delta(As[-1][:b], y, Ds[-1][:b], consts[C_CAST], gbs[-1])
        lam = l2 + l2_per_row / b
        _backward(gemm, x, Ws, bs, acts, alphas, As, Ds, GWs, gbs, b, opt, consts, lam, scale, tm, psums)
        if opt == ADAM:
            _adam(consts, lr_ts[t], table, size, tm)
        t += 1
        if flush_every and (t0 + t) % flush_every == 0:
            _flush_all(Ws, bs, MWs, Mbs, VWs, Vbs, opt == ADAM)
        done_loss += value * b
        pos = end
    result[0], result[1], result[2], result[3], result[4] = hi - lo, done_loss, 0, 0.0, t
