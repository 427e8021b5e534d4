"""Three BLAS calls NumPy does not expose, made on NumPy's own OpenBLAS (optional; speed only).

The delta rule, eq. (5), with eq. (3)'s gradient is W <- W - (eta/m) a^T delta. ``np.matmul``
can only write a^T delta into a separate array, which the update then reads back: two extra
passes over every weight matrix per step. BLAS does it in one, in place:

* ``gemm_update(a, d, W)``: W <- W - a^T d     (xGEMM with alpha = -1, beta = 1)
* ``ger_update(a, d, W)``:  W <- W - a d^T     (xGER, a rank-1 update: one sample)
* ``gemm_add(a, d, G)``:    G <- G + a^T d     (alpha = 1, beta = 1: a gradient added to what G holds,
  the weight-decay term, without a pass of its own)

and its thread count can be set in a microsecond (``set_threads``), where threadpoolctl needs a
millisecond or more to find the libraries.

Only the OpenBLAS that NumPy itself loaded is used -- found in ``/proc/self/maps`` inside NumPy's
install folder -- so no second BLAS with its own thread pool ever runs in the loop. Anything
unexpected (another platform, another BLAS, a missing symbol, a failed self-test) leaves
``available`` False and the engine uses plain NumPy; so does ``BACKPROP_NO_BLAS=1``.
"""

from __future__ import annotations

import ctypes
import os
import sys
import weakref

import numpy as np

available = False
_gemm: dict = {}  # dtype -> function
_ger: dict = {}
_set_threads = None
_get_threads = None
_about: dict = {}  # "corename"/"config" -> function returning char*, where the library has it
_team = None  # gotoblas_pthread of a pthreads build: run a function on the library's own threads (fast.team)
_int = ctypes.c_int

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _numpy_openblas():
    """Path of the OpenBLAS shared library that NumPy loaded, or None."""
    if not sys.platform.startswith("linux"):
        return None
    np_root = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))  # site-packages
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split(None, 5)[-1].strip() for line in f if "openblas" in line.lower()}
    except OSError:
        return None
    names = ("libscipy_openblas", "libopenblas")
    mine = sorted(p for p in paths if os.path.basename(os.path.dirname(p)) in ("numpy.libs", ".libs")
                  and p.startswith(np_root) and os.path.basename(p).startswith(names))
    return mine[0] if len(mine) == 1 else None


def _bind(lib) -> bool:
    """Resolve the symbols; True when every one needed was found."""
    global _int, _set_threads, _get_threads, _team
    for prefix, suffix, int_t in (("scipy_", "64_", ctypes.c_int64), ("", "64_", ctypes.c_int64),
                                  ("", "", ctypes.c_int)):
        try:
            sgemm = getattr(lib, f"{prefix}cblas_sgemm{suffix}")
            dgemm = getattr(lib, f"{prefix}cblas_dgemm{suffix}")
            sger = getattr(lib, f"{prefix}cblas_sger{suffix}")
            dger = getattr(lib, f"{prefix}cblas_dger{suffix}")
            set_t = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}")
            get_t = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}")
        except AttributeError:
            continue
        _int = int_t  # type: ignore[assignment]  # c_int64 or c_int, as the library was built
        vp, e = ctypes.c_void_p, ctypes.c_int  # enums are plain C ints
        for fn, real in ((sgemm, ctypes.c_float), (dgemm, ctypes.c_double)):
            fn.argtypes = [e, e, e, int_t, int_t, int_t, real, vp, int_t, vp, int_t, real, vp, int_t]
            fn.restype = None
        for fn, real in ((sger, ctypes.c_float), (dger, ctypes.c_double)):
            fn.argtypes = [e, int_t, int_t, real, vp, int_t, vp, int_t, vp, int_t]
            fn.restype = None
        set_t.argtypes, set_t.restype = [ctypes.c_int], None
        get_t.argtypes, get_t.restype = [], ctypes.c_int
        for name in ("corename", "config"):  # what it reports about itself (backprop doctor)
            fn = getattr(lib, f"{prefix}openblas_get_{name}{suffix}", None)
            if fn is not None:
                fn.argtypes, fn.restype = [], ctypes.c_char_p
            _about[name] = fn
        # int gotoblas_pthread(int n, void (*f)(void *), void *args, int stride): f(args + i stride)
        # for i < n, i = 0 on the caller and the rest on the pool's threads, then waits for them all;
        # the function is passed as an address (an integer: the same register as a pointer)
        team = getattr(lib, "gotoblas_pthread", None)
        par = getattr(lib, f"{prefix}openblas_get_parallel{suffix}", None)
        if team is not None and par is not None:
            par.argtypes, par.restype = [], ctypes.c_int
            if par() == 1:  # a pthreads build (2: OpenMP, whose pool works otherwise)
                team.argtypes, team.restype = [ctypes.c_int, ctypes.c_ssize_t, vp, ctypes.c_int], ctypes.c_int
                _team = team
        _gemm.update({np.dtype(np.float32): sgemm, np.dtype(np.float64): dgemm})
        _ger.update({np.dtype(np.float32): sger, np.dtype(np.float64): dger})
        _set_threads, _get_threads = set_t, get_t
        return True
    return False


def gemm_update(a: np.ndarray, d: np.ndarray, W: np.ndarray) -> None:
    """W <- W - a^T d for C-contiguous a (m, n_in), d (m, n_out), W (n_in, n_out) of one dtype."""
    fn, args = _prepared(_gemm, _gemm_args, a, d, W)
    fn(*args)


def gemm_add(a: np.ndarray, d: np.ndarray, G: np.ndarray) -> None:
    """G <- G + a^T d, the arrays as for :func:`gemm_update`."""
    fn, args = _prepared(_gemm, _gemm_add_args, a, d, G)
    fn(*args)


def ger_update(a: np.ndarray, d: np.ndarray, W: np.ndarray) -> None:
    """W <- W - a d^T for one sample: a (n_in,) or (1, n_in), d (n_out,) or (1, n_out), contiguous,
    W (n_in, n_out)."""
    fn, args = _prepared(_ger, _ger_args, a, d, W)
    fn(*args)


def _gemm_args(real, a, d, W, alpha=-1.0):
    m, n_in = a.shape
    n_out = d.shape[1]
    i = _int
    return (_E(_ROW_MAJOR), _E(_TRANS), _E(_NO_TRANS), i(n_in), i(n_out), i(m), real(alpha),
            _ptr(a), i(n_in), _ptr(d), i(n_out), real(1.0), _ptr(W), i(n_out))


def _gemm_add_args(real, a, d, G):
    return _gemm_args(real, a, d, G, alpha=1.0)


def _ger_args(real, a, d, W):
    n_in, n_out = W.shape
    i = _int
    return (_E(_ROW_MAJOR), i(n_in), i(n_out), real(-1.0), _ptr(a), i(1), _ptr(d), i(1), _ptr(W), i(n_out))


def _ptr(x):
    return ctypes.c_void_p(x.ctypes.data)


#: The converted arguments of recent calls, by the arrays' ids: the training loop passes the same
#: buffers every step, and building the 10-14 ctypes arguments (``x.ctypes.data`` alone is
#: microseconds) cost more than a small product itself. Weak references: no array kept alive.
_calls: dict = {}
_E = ctypes.c_int
_REAL = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}


def _prepared(table, build, a, d, W):
    key = (id(build), id(a), id(d), id(W))
    hit = _calls.get(key)
    if hit is not None:
        refs, shapes, fn, args = hit
        if (refs[0]() is a and refs[1]() is d and refs[2]() is W
                and shapes == (a.shape, d.shape, W.shape)):
            return fn, args
    if len(_calls) >= 64:
        _calls.clear()
    fn, args = table[W.dtype], build(_REAL[W.dtype], a, d, W)
    _calls[key] = ((weakref.ref(a), weakref.ref(d), weakref.ref(W)), (a.shape, d.shape, W.shape), fn, args)
    return fn, args


def gemm_function(dtype: np.dtype):
    """The library's ``cblas_?gemm`` of this dtype (a ctypes function; the compiled epochs call it)."""
    return _gemm[np.dtype(dtype)]


def int_bits() -> int:
    """The width of the library's integer arguments: 64 (an ILP64 build, scipy-openblas64) or 32."""
    return 8 * ctypes.sizeof(_int)


def team_function():
    """The library's ``gotoblas_pthread`` (a ctypes function), where it runs work on a pool of POSIX
    threads -- the pool its products use -- else None (another build, another BLAS)."""
    return _team if available else None


def usable(*arrays: np.ndarray) -> bool:
    """True when the fused calls may take these arrays (contiguous, float32/float64, one dtype)."""
    if not available:
        return False
    dt = arrays[0].dtype
    if dt not in _gemm:
        return False
    for x in arrays:  # a loop, not all(genexpr): this runs for every layer of every step
        if x.dtype != dt or not x.flags.c_contiguous:
            return False
    return True


def about(what: str) -> str | None:
    """What NumPy's OpenBLAS says of itself: ``"corename"`` (the kernel it chose for this CPU, e.g.
    ``SkylakeX``, ``Haswell``) or ``"config"`` (its build line); None where unavailable."""
    fn = _about.get(what)
    if fn is None:
        return None
    raw = fn()
    return raw.decode("ascii", "replace").strip() if raw else None


def get_threads() -> int | None:
    """OpenBLAS's thread count (None: NumPy's OpenBLAS was not found)."""
    return _get_threads() if _get_threads is not None else None


def set_threads(n: int | None) -> None:
    """Set OpenBLAS's thread count (nothing without the library, or for None)."""
    if _set_threads is not None and n is not None:
        _set_threads(int(n))


def _self_test():
    rng = np.random.default_rng(0)
    for dt in (np.float32, np.float64):
        a, d = rng.standard_normal((5, 3)).astype(dt), rng.standard_normal((5, 4)).astype(dt)
        W = rng.standard_normal((3, 4)).astype(dt)
        want = W - a.T @ d
        gemm_update(a, d, W)
        if not np.allclose(W, want, rtol=1e-5, atol=1e-5):
            return False
        want = W - np.outer(a[0], d[0])
        ger_update(a[0], d[0], W)
        if not np.allclose(W, want, rtol=1e-5, atol=1e-5):
            return False
        want = W + a.T @ d
        gemm_add(a, d, W)
        if not np.allclose(W, want, rtol=1e-5, atol=1e-5):
            return False
    n = get_threads()
    return isinstance(n, int) and n >= 1


def _load() -> None:
    global available
    if os.environ.get("BACKPROP_NO_BLAS", "").strip() not in ("", "0"):
        return
    path = _numpy_openblas()
    if path is None:
        return
    try:
        lib = ctypes.CDLL(path)  # already loaded by NumPy: the same handle, the same thread pool
        if not _bind(lib):
            return
        available = True
        available = _self_test()
    except (OSError, ValueError, TypeError):
        available = False


_load()
