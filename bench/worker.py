"""A measurement process: one framework, one workload, a fresh interpreter.

Started by the parent (``python -m bench.worker FRAMEWORK WORKLOAD_JSON CACHE_DIR``); it answers one
JSON line per command read from stdin. Only the framework under test is imported, so no second
framework's BLAS or OpenMP pool runs in the same process (backprop's MLPClassifier brings
scikit-learn and SciPy's OpenBLAS with it: that is part of what it costs). The parent starts it
with :func:`measured_env`: without the OpenBLAS kernel overrides. With its calibration reply it
reports the CPU and the thread pools it has loaded (:func:`threadpools`: library, kernel, threads).

Memory, measured first, in the fresh process:
1. imports, data loading (identical bytes for every framework), and a throw-away model trained
   for two steps so lazily loaded code and one-time allocations are in place;
2. that model is dropped, ``gc.collect()`` and glibc's ``malloc_trim(0)`` give freed memory back,
   and the resident set size (VmRSS) is the baseline;
3. the peak-RSS counter is reset (``echo 5 > /proc/self/clear_refs``, Linux >= 4.0) and a fresh
   model trains one epoch over ``memory_samples`` samples (the same for every framework);
4. the peak RSS since the reset (VmHWM) minus the baseline is the job's training memory:
   parameters, gradients, activations, optimizer state and every temporary the step makes.
The process total (ru_maxrss over its whole life: interpreter, libraries, data) is reported too.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import resource
import sys

from .data import load_cached
from .frameworks import make
from .workloads import Workload

#: removed from the environment of the measured processes only (never in tests, CI or the library):
#: some machines set them as a guard for old OpenBLAS builds, and they pin NumPy's OpenBLAS to its
#: AVX2 Haswell kernel on CPUs whose own kernel (SkylakeX, AVX-512) is ~1.8x faster
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: thread settings reported with every process
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", *BLAS_OVERRIDES)


def measured_env():
    """The environment of a measured subprocess: ours without the OpenBLAS kernel overrides."""
    env = dict(os.environ)
    for var in BLAS_OVERRIDES:
        env.pop(var, None)
    return env


def threadpools():
    """The CPU, and the BLAS/OpenMP pools this process has loaded (threadpoolctl: kernel, threads)."""
    from .report import cpu_model

    seen = {"env": {v: os.environ[v] for v in THREAD_VARS if v in os.environ}, "cpu": cpu_model()}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        seen["pools"] = None
        return seen
    seen["pools"] = [{"user_api": p.get("user_api"), "internal_api": p.get("internal_api"),
                      "version": p.get("version"), "architecture": p.get("architecture"),
                      "threading_layer": p.get("threading_layer"), "num_threads": p.get("num_threads"),
                      "library": os.path.basename(p.get("filepath", ""))} for p in threadpool_info()]
    return seen


def _status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_kb():
    v = _status_kb("VmRSS")
    if v is None:
        import psutil

        v = psutil.Process().memory_info().rss // 1024
    return v


def maxrss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def cpu_seconds():
    """CPU time of this process, all its threads, user + system."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def reset_peak():
    """Reset the kernel's peak-RSS counter; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def trim():
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def main(argv):
    fw_name, wl_json, cache = argv
    wl = Workload.from_dict(json.loads(wl_json))
    X, y = load_cached(cache, wl.data, wl.dtype)
    fw = make(fw_name, wl, X, y)
    out = sys.stdout

    def reply(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    mem = {}
    if fw_name != "gemm":
        # 1. warm the code paths on a throw-away model
        fw.build(seed=123)
        fw.run(min(fw.max_samples, 2 * wl.batch if wl.data != "xor" else 8))
        fw.model = fw.net = fw.clf = fw.opt = None
        # 2.-4. baseline, reset, the memory job, peak
        trim()
        process_peak_before = maxrss_kb()
        base = rss_kb()
        exact = reset_peak()
        fw.build(seed=0)
        fw.run(min(fw.max_samples, wl.memory_samples))
        peak = _status_kb("VmHWM") if exact else maxrss_kb()
        mem = {"baseline_kb": base, "peak_kb": peak, "train_kb": peak - base,
               "process_peak_kb": max(process_peak_before, maxrss_kb()),
               "method": "VmHWM after clear_refs reset" if exact else "ru_maxrss (upper bound on base)"}
    else:
        fw.build(seed=0)
    reply({"ready": True, "memory": mem, "max_samples": fw.max_samples})

    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "calibrate" and wl.fixed_n and wl.kind != "predict":
            # a fixed job (one Adam epoch, one estimator fit): its size is the workload's
            fw.n = wl.fixed_n * (wl.epochs if wl.kind == "estimator" else 1)
            if fw_name == "gemm":
                fw.calibrate(wl.batch)
            if wl.kind != "estimator" or fw_name == "gemm":  # the memory job was a whole fit already
                fw.run(fw.n)
            reply({"n": fw.n, "rate_estimate": None, "info": fw.info(), "threadpools": threadpools()})
        elif cmd["cmd"] == "calibrate":
            # warm-up, then size one measurement to take about target_s seconds
            B = wl.batch
            n0 = min(fw.max_samples, max(B * 4, 64 if wl.data == "xor" else B * 4))
            if fw_name == "gemm":
                fw.calibrate(n0)
            fw.run(n0)
            dt = fw.run(n0)
            rate = n0 / max(dt, 1e-9)
            n = int(rate * cmd["target_s"])
            unit = 4 if wl.data == "xor" else B
            n = max(unit, min(fw.max_samples, n) // unit * unit)
            fw.n = n
            fw.run(n)  # a full-size warm-up run
            reply({"n": n, "rate_estimate": rate, "info": fw.info(), "threadpools": threadpools()})
        elif cmd["cmd"] == "run":
            c0 = cpu_seconds()
            dt = fw.run(fw.n)
            reply({"n": fw.n, "seconds": dt, "rate": fw.n / dt, "cpu_s": cpu_seconds() - c0})
        elif cmd["cmd"] == "quit":
            reply({"bye": True})
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
