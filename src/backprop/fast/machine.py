"""What decides the engine's speed on this machine: CPU, BLAS, kernel, threads, variables, denormals,
compiled epochs.

:func:`report` gathers it (``backprop doctor`` prints it) with a quick measured matrix-product rate
next to the one the README's figures were measured at, and :func:`advice` turns what it finds into
plain sentences: an OpenBLAS kernel forced below the CPU's own, fewer threads than CPUs, other
processes on the CPUs, the engine's fast calls switched off, a second thread that adds nothing.

Every figure the report holds is read from this process: ``/proc/cpuinfo``, NumPy's OpenBLAS
itself (``fast.blas.about``), threadpoolctl's view of the loaded thread pools (installed with
scikit-learn; optional here), the environment, the calling thread's MXCSR register (x86-64
Linux, read through the C library's ``fegetenv``), and numba's package metadata (numba itself is
not imported).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.metadata
import importlib.util
import math
import os
import platform
import sys
import time
from typing import Any

import numpy as np

from backprop.fast import blas as _blas
from backprop.fast import compiled as _compiled
from backprop.fast import denormals as _denormals
from backprop.fast import epochs as _epochs

#: Variables that change BLAS threads or kernels, and backprop's own switches.
VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
             "MKL_NUM_THREADS", "BACKPROP_NO_BLAS", "BACKPROP_NO_THREADS", "BACKPROP_NO_FLUSH",
             "BACKPROP_NO_COMPILE")

#: The product :func:`gemm_rate` times: square float32, as ``python -m bench``'s "matrix-product peak".
GEMM_N = 2048

#: Where the README's performance figures were measured, and the rate of that product there.
REFERENCE = {
    "cpu": "AMD EPYC (family 25, model 1: Zen 3), 2 vCPUs",
    "kernel": "Haswell",
    "threads": 2,
    "gflops": 164.0,
    "source": "python -m bench, 2026-12-07 (bench/results/RESULTS.md: matrix-product peak, float32)",
}

#: OpenBLAS kernels that use 512-bit vectors: any other on a CPU with AVX-512 leaves speed unused.
_AVX512_KERNELS = ("skylakex", "cooperlake", "sapphirerapids", "zen5")
#: CPU flags worth naming (vector units that decide the product rate)
_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "asimd", "sve")


def cpu() -> dict[str, Any]:
    """Model name, vendor, family/model, vector flags, logical and usable CPUs, load average."""
    info: dict[str, Any] = {"model": None, "vendor": None, "family": None, "model_number": None,
                            "flags": [], "machine": platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key in ("model name", "Model") and info["model"] is None:
                    info["model"] = value
                elif key == "vendor_id" and info["vendor"] is None:
                    info["vendor"] = value
                elif key == "cpu family" and info["family"] is None:
                    info["family"] = _int(value)
                elif key == "model" and info["model_number"] is None:
                    info["model_number"] = _int(value)
                elif key in ("flags", "Features") and not info["flags"]:
                    have = set(value.split())
                    info["flags"] = [f for f in _FLAGS if f in have]
    except OSError:
        pass
    if info["model"] is None:
        info["model"] = platform.processor() or platform.machine() or "unknown"
    info["logical_cpus"] = os.cpu_count()
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        info["usable_cpus"] = os.cpu_count()
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        info["load_average"] = None
    return info


def _int(s):
    try:
        return int(s)
    except ValueError:
        return None


def blas() -> dict[str, Any]:
    """NumPy's BLAS: library, version, kernel, threads; and whether backprop's fused calls use it."""
    out: dict[str, Any] = {"numpy": np.__version__, "library": None, "internal_api": None, "version": None,
                           "kernel": _blas.about("corename"), "threads": _blas.get_threads(),
                           "threading_layer": None, "build": _blas.about("config"),
                           "fused_calls": _blas.available,
                           # compiled epochs split their passes between products over this pool (fast.team)
                           "pool_for_passes": _blas.team_function() is not None}
    pools = threadpools()
    mine = [p for p in pools or () if p.get("user_api") == "blas" and _in_numpy(p.get("filepath", ""))]
    if mine:
        p = mine[0]
        out.update(library=os.path.basename(p.get("filepath", "")), internal_api=p.get("internal_api"),
                   version=p.get("version"), threading_layer=p.get("threading_layer"))
        out["kernel"] = out["kernel"] or p.get("architecture")
        if out["threads"] is None:
            out["threads"] = p.get("num_threads")
    if out["library"] is None:  # no threadpoolctl: what NumPy was built against
        try:
            deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]  # type: ignore[func-returns-value]
            out.update(library=deps.get("name"), version=deps.get("version"))
        except Exception:  # older NumPy: no dict mode
            pass
    return out


def _in_numpy(path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
    return os.path.abspath(path).startswith(root) and os.path.basename(os.path.dirname(path)) in (
        "numpy.libs", ".libs")


def threadpools() -> list[dict[str, Any]] | None:
    """threadpoolctl's list of the BLAS/OpenMP pools loaded in this process, or None without it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    keys = ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer",
            "filepath")
    return [{k: p.get(k) for k in keys} for p in threadpool_info()]


def mxcsr() -> int | None:
    """The calling thread's MXCSR (x86-64 Linux with glibc), or None elsewhere. Read only."""
    if platform.machine().lower() not in ("x86_64", "amd64") or not sys.platform.startswith("linux"):
        return None
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        env = (ctypes.c_uint8 * 32)()  # glibc's fenv_t on x86-64: 28 bytes of x87 state, then MXCSR
        if libm.fegetenv(ctypes.byref(env)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return int.from_bytes(bytes(env[28:32]), "little")


def denormals() -> dict[str, Any]:
    """The engine's flush of subnormal parameters, and this thread's FTZ/DAZ bits."""
    reg = mxcsr()
    return {"engine_flush": _denormals.ENABLED, "flush_every_updates": _denormals.EVERY,
            "mxcsr": None if reg is None else f"0x{reg:04x}",
            "ftz": None if reg is None else bool(reg & 0x8000),
            "daz": None if reg is None else bool(reg & 0x0040)}


def compiled_epochs() -> dict[str, Any]:
    """numba (the ``fast`` extra) and when training takes compiled epochs: numba's version from its
    installed package's metadata, not by importing it (~0.5-1 s, which is what the rule below waits
    to be paid for); ``BACKPROP_NO_COMPILE`` as read now; the shortest run that pays for numba's start
    (the rule of ``fast.epochs.eligible``: updates x the saving per update >= the start), unless
    numba already runs in this process."""
    installed = importlib.util.find_spec("numba") is not None
    version = None
    if installed:
        try:
            version = importlib.metadata.version("numba")
        except importlib.metadata.PackageNotFoundError:  # importable without a distribution's metadata
            version = None
    return {"installed": installed, "numba": version,
            "switched_off": _compiled.switched_off() or not _compiled.ENABLED,
            "running": _compiled.running(), "start_seconds": _compiled.START_SECONDS,
            "saving_per_update": _epochs.SAVING_PER_UPDATE,
            "min_updates": math.ceil(_compiled.START_SECONDS / _epochs.SAVING_PER_UPDATE)}


def gemm_rate(threads: int | None = None, n: int | None = None, tries: int = 3) -> float:
    """GFLOP/s of the best of ``tries`` float32 n x n products (after one warm-up) on ``threads``
    BLAS threads (None: as set now)."""
    n = GEMM_N if n is None else n
    rng = np.random.default_rng(1)
    A, B = (rng.random((n, n), dtype=np.float32) for _ in range(2))
    C = np.empty_like(A)
    old = _blas.get_threads()
    try:
        if threads is not None:
            _blas.set_threads(threads)
        np.matmul(A, B, out=C)
        best = float("inf")
        for _ in range(tries):
            t = time.perf_counter()
            np.matmul(A, B, out=C)
            best = min(best, time.perf_counter() - t)
    finally:
        if threads is not None and old is not None:
            _blas.set_threads(old)
    return 2.0 * n**3 / best / 1e9


def report(measure: bool = True) -> dict[str, Any]:
    """Everything above as one JSON-able dict; ``measure`` adds the product rates (about a second)."""
    from backprop.version import __version__  # the top-level module: no layer above fast

    doc: dict[str, Any] = {
        "backprop": __version__, "python": platform.python_version(), "platform": platform.platform(),
        "cpu": cpu(), "blas": blas(), "threadpools": threadpools(),
        "environment": {v: os.environ.get(v) for v in VARIABLES},
        "denormals": denormals(), "compiled": compiled_epochs(), "gemm": None,
        "reference": dict(REFERENCE),
    }
    if measure:
        n = doc["blas"]["threads"]
        all_threads = gemm_rate()
        one = gemm_rate(1) if n and n > 1 and _blas.available else None
        doc["gemm"] = {"n": GEMM_N, "dtype": "float32", "threads": n, "gflops": round(all_threads, 1),
                       "gflops_one_thread": None if one is None else round(one, 1),
                       "thread_scaling": None if one is None else round(all_threads / one, 2)}
    doc["advice"] = advice(doc)
    return doc


def advice(doc: dict[str, Any]) -> list[str]:
    """Sentences on what in ``doc`` makes the engine slower than it could be here (empty: nothing)."""
    return _setup_advice(doc) + _load_advice(doc)


def _setup_advice(doc: dict[str, Any]) -> list[str]:
    """What the environment and NumPy's BLAS are set to (kernel, cache size, threads)."""
    out = []
    c, b, env = doc["cpu"], doc["blas"], doc["environment"]
    kernel = (b.get("kernel") or "").lower()
    if env.get("OPENBLAS_CORETYPE"):
        out.append(f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']} forces NumPy's OpenBLAS kernel "
                   f"({b.get('kernel')}); unset it to let OpenBLAS pick the CPU's own.")
    if "avx512f" in c["flags"] and kernel and not kernel.startswith(_AVX512_KERNELS):
        out.append(f"the CPU has AVX-512 but OpenBLAS runs its {b.get('kernel')} kernel: matrix products "
                   "were measured ~1.8x slower so (AMD EPYC Zen 5); check OPENBLAS_CORETYPE and "
                   "OPENBLAS_L2_SIZE.")
    if env.get("OPENBLAS_L2_SIZE"):
        out.append(f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']} overrides the cache size OpenBLAS tunes its "
                   "blocking to; unset it unless an old OpenBLAS needs it.")
    usable = c.get("usable_cpus") or 1
    if b.get("threads") and b["threads"] < usable:
        out.append(f"NumPy's BLAS uses {b['threads']} thread(s) of {usable} usable CPUs "
                   "(OPENBLAS_NUM_THREADS / OMP_NUM_THREADS?): large batches train slower.")
    if b.get("threads") and b["threads"] > usable:
        out.append(f"NumPy's BLAS has {b['threads']} threads for {usable} usable CPUs: threads wait on "
                   "each other.")
    return out


def _load_advice(doc: dict[str, Any]) -> list[str]:
    """What the machine's load, backprop's switches and the measured product rate say."""
    out = []
    c, b, env, g = doc["cpu"], doc["blas"], doc["environment"], doc.get("gemm")
    usable = c.get("usable_cpus") or 1
    load = c.get("load_average")
    if load and load[0] > 0.5 * usable:
        out.append(f"other processes keep the CPUs busy (load average {load[0]:.2f} on {usable} CPUs): "
                   "multi-threaded products suffer most; measure on an idle machine.")
    if not b.get("fused_calls"):
        why = ("BACKPROP_NO_BLAS is set" if env.get("BACKPROP_NO_BLAS")
               else "NumPy's BLAS is not an OpenBLAS backprop can call")
        out.append(f"backprop's fused BLAS updates are off ({why}): plain SGD steps make extra passes.")
    if env.get("BACKPROP_NO_FLUSH"):
        out.append("BACKPROP_NO_FLUSH is set: subnormal weights are not flushed, and products with them "
                   "can be many times slower (e.g. raw-pixel images with L2).")
    pools = doc.get("threadpools") or []
    if sum(1 for p in pools if p.get("user_api") == "blas") > 1:
        out.append("more than one BLAS is loaded in this process (e.g. SciPy's OpenBLAS beside NumPy's): "
                   "alternating between them wakes two spinning thread pools.")
    scaling = g.get("thread_scaling") if g else None
    threads = g.get("threads") if g else None
    if scaling is not None and threads and scaling < 0.6 * threads:
        out.append(f"{threads} BLAS threads run the product only {scaling:.2f}x faster than one: "
                   "the CPUs are shared or throttled.")
    ref = doc["reference"]
    if g and b.get("threads"):
        per_thread = g["gflops"] / min(b["threads"], usable)
        ref_per_thread = ref["gflops"] / ref["threads"]
        if per_thread < 0.6 * ref_per_thread:
            out.append(f"matrix products run at {per_thread:.0f} GFLOP/s per thread here, against "
                       f"{ref_per_thread:.0f} where the README's figures were measured ({ref['cpu']}): "
                       "expect its speed figures to scale down accordingly.")
    return out
