"""``backprop doctor`` and backprop.fast.machine: what decides speed on this machine.

Oracles: threadpoolctl's own view of NumPy's OpenBLAS, NumPy's version and build, the process's
environment, /proc/cpuinfo read here independently, and the MXCSR bits' definitions (Intel SDM).
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from backprop.fast import blas as _blas
from backprop.fast import denormals as _den
from backprop.fast import machine
from clitools import run_cli


def _numpy_pool():
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p["user_api"] == "blas" and "numpy" in p["filepath"]]
    return pools[0] if pools else None


def test_report_agrees_with_threadpoolctl_numpy_and_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # read only: nothing is loaded after this
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    doc = machine.report(measure=False)
    for key in ("backprop", "python", "cpu", "blas", "threadpools", "environment", "denormals", "compiled",
                "gemm", "reference", "advice"):
        assert key in doc
    assert doc["gemm"] is None
    b = doc["blas"]
    assert b["numpy"] == np.__version__
    assert b["fused_calls"] == _blas.available
    pool = _numpy_pool()
    if pool is not None:
        assert b["kernel"] == pool["architecture"]
        assert b["threads"] == pool["num_threads"]
        assert b["version"] == pool["version"]
        assert b["library"] == os.path.basename(pool["filepath"])
    assert doc["environment"]["OMP_NUM_THREADS"] == "7"
    assert doc["environment"]["OPENBLAS_L2_SIZE"] is None
    assert set(doc["environment"]) == set(machine.VARIABLES)
    assert doc["denormals"]["engine_flush"] == _den.ENABLED
    assert doc["denormals"]["flush_every_updates"] == _den.EVERY
    c = doc["cpu"]
    assert c["logical_cpus"] == os.cpu_count()
    assert 1 <= c["usable_cpus"] <= c["logical_cpus"]
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            text = f.read()
        assert c["model"] in text
        flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                      if ln.startswith(("flags", "Features"))), [])
        assert set(c["flags"]) <= set(flags)
        assert ("avx2" in c["flags"]) == ("avx2" in flags)
    json.dumps(doc)  # JSON-able as it is


def test_mxcsr_is_read_with_its_bits_decoded():
    reg = machine.mxcsr()
    if platform.machine().lower() not in ("x86_64", "amd64") or not platform.system() == "Linux":
        assert reg is None and machine.denormals()["ftz"] is None  # no MXCSR: reported unknown
        return
    assert reg is not None
    assert reg & 0x1F80 == 0x1F80  # NumPy and Python run with every floating-point exception masked
    d = machine.denormals()
    assert d["mxcsr"] == f"0x{reg:04x}"
    assert d["ftz"] == bool(reg & 0x8000) and d["daz"] == bool(reg & 0x40)
    # an ordinary process does not flush: a subnormal survives arithmetic
    x = np.array([np.finfo(np.float32).tiny], np.float32) * np.float32(0.5)
    assert (x[0] != 0) == (not d["ftz"])


def test_gemm_rate_is_a_rate_and_leaves_the_thread_count_alone():
    before = _blas.get_threads()
    r = machine.gemm_rate(threads=1, n=128, tries=2)
    assert math.isfinite(r) and r > 0
    assert _blas.get_threads() == before


def test_measured_report_has_consistent_rates(monkeypatch):
    monkeypatch.setattr(machine, "GEMM_N", 96)  # the fields, not the speed
    g = machine.report(measure=True)["gemm"]
    assert g["n"] == 96 and g["dtype"] == "float32" and g["gflops"] > 0
    assert g["threads"] == _blas.get_threads()
    if g["gflops_one_thread"] is not None:
        assert g["thread_scaling"] == pytest.approx(g["gflops"] / g["gflops_one_thread"], rel=0.05, abs=0.01)


def _doc(**changes):
    doc = {
        "cpu": {"model": "X", "flags": ["avx2", "avx512f"], "usable_cpus": 2, "logical_cpus": 2,
                "load_average": [0.1, 0.1, 0.1]},
        "blas": {"kernel": "SkylakeX", "threads": 2, "fused_calls": True},
        "environment": {v: None for v in machine.VARIABLES},
        "threadpools": [{"user_api": "blas"}],
        "gemm": {"threads": 2, "gflops": 200.0, "thread_scaling": 1.9},
        "reference": copy.deepcopy(machine.REFERENCE),
    }
    for path, value in changes.items():
        *keys, last = path.split("__")
        d = doc
        for k in keys:
            d = d[k]
        d[last] = value
    return doc


def test_advice_is_empty_on_a_machine_like_the_readmes_and_names_each_cause():
    assert machine.advice(_doc()) == []
    cases = {
        "OPENBLAS_CORETYPE": _doc(environment__OPENBLAS_CORETYPE="Haswell", blas__kernel="Haswell"),
        "AVX-512": _doc(blas__kernel="Haswell"),
        "OPENBLAS_L2_SIZE": _doc(environment__OPENBLAS_L2_SIZE="512"),
        "1 thread(s) of 2": _doc(blas__threads=1),
        "load average 3.00": _doc(cpu__load_average=[3.0, 1.0, 1.0]),
        "fused BLAS updates are off": _doc(blas__fused_calls=False),
        "BACKPROP_NO_FLUSH": _doc(environment__BACKPROP_NO_FLUSH="1"),
        "more than one BLAS": _doc(threadpools=[{"user_api": "blas"}, {"user_api": "blas"}]),
        "only 1.05x faster": _doc(gemm__thread_scaling=1.05),
        "GFLOP/s per thread here": _doc(gemm__gflops=50.0),
    }
    for words, doc in cases.items():
        said = machine.advice(doc)
        assert any(words in s for s in said), (words, said)
    # a CPU without AVX-512 is not told its AVX2 kernel is too slow
    assert machine.advice(_doc(cpu__flags=["avx2"], blas__kernel="Haswell")) == []


def test_doctor_command_prints_the_report_and_its_json(capsys):
    code, out, err = run_cli(["doctor", "--json", "--no-measure"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["blas"]["numpy"] == np.__version__ and doc["gemm"] is None
    code, out, err = run_cli(["doctor", "--no-measure"], capsys)
    assert code == 0, err
    assert doc["cpu"]["model"] in out
    assert str(doc["blas"]["kernel"]) in out
    assert "denormals" in out and "advice" in out


# -- compiled epochs: numba's version and when training takes them ------------------------------------
def _compiled_line(capsys):
    code, out, err = run_cli(["doctor", "--no-measure"], capsys)
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith("compiled")]
    assert len(lines) == 1, out
    return " ".join(lines[0].split())  # (rich may wrap a long line: its words, one space apart)


def test_doctor_reports_numba_and_the_run_length_that_pays_for_its_start(monkeypatch, capsys):
    """The line against numba's own metadata, the variable as set here, and the rule the training
    loop applies (fast.epochs.eligible: the shortest run it compiles before numba runs)."""
    import backprop
    from backprop.fast import compiled as _compiled
    from backprop.fast import epochs as _epochs

    monkeypatch.setattr(_compiled, "ENABLED", True)
    monkeypatch.delenv("BACKPROP_NO_COMPILE", raising=False)
    monkeypatch.setattr(_compiled, "START_SECONDS", 0.2)  # read, not a number written into the line
    assert importlib.util.find_spec("numba") is not None  # the `fast` extra, part of the `test` extra
    line = _compiled_line(capsys)
    n = machine.report(measure=False)["compiled"]["min_updates"]
    assert f"numba {importlib.metadata.version('numba')}:" in line
    assert f"about {n:,} updates or more" in line and "0.2 s" in line
    # n is where the training loop starts numba: a network the kernel takes, numba not running yet
    net = backprop.Network([3, 4, 2], hidden="tanh", output="softmax", seed=0)
    loss = net.check_loss("cross_entropy")
    assert not _epochs.eligible(net, loss, 8, n - 1) and not _compiled.running()
    assert _epochs.eligible(net, loss, 8, n) and _compiled.running()
    assert "running in this process: compiled epochs for every run" in _compiled_line(capsys)
    monkeypatch.setattr(_compiled, "_kernels", None)

    monkeypatch.setenv("BACKPROP_NO_COMPILE", "1")
    assert _compiled_line(capsys).endswith("compiled epochs switched off by BACKPROP_NO_COMPILE=1")
    monkeypatch.setenv("BACKPROP_NO_COMPILE", "0")  # 0: not switched off
    assert "updates or more" in _compiled_line(capsys)

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba" else find_spec(name, *a))
    line = _compiled_line(capsys)
    assert line == "compiled numba not installed: pip install 'backprop-explicit[fast]' for compiled epochs"
    assert machine.report(measure=False)["compiled"] | {"min_updates": None} == {
        "installed": False, "numba": None, "switched_off": False, "running": False,
        "start_seconds": 0.2, "saving_per_update": _epochs.SAVING_PER_UPDATE, "min_updates": None}


def test_doctor_does_not_import_numba():
    """Reporting numba's version must not cost numba's start (~0.5-1 s): read from its metadata."""
    code = ("import sys\n"
            "from backprop.cli import main\n"
            "try:\n"
            "    main.main(args=['doctor', '--no-measure'])\n"
            "except SystemExit as e:\n"
            "    assert e.code == 0, e.code\n"
            "print('numba' in sys.modules)\n")
    env = dict(os.environ)
    env.pop("BACKPROP_NO_COMPILE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "numba" in out.stdout and out.stdout.strip().splitlines()[-1] == "False"


# -- where a compiled epoch's passes between products run (fast.team) ---------------------------------
def _passes_line(capsys):
    code, out, err = run_cli(["doctor", "--no-measure"], capsys)
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith("passes")]
    assert len(lines) == 1, out
    return " ".join(lines[0].split())


def test_doctor_says_where_the_passes_between_products_run(monkeypatch, capsys):
    """Against an independent reading of NumPy's OpenBLAS (its ``gotoblas_pthread`` symbol and its
    pthreads build, looked up here with ctypes) and the variable as set here."""
    import ctypes

    from backprop.fast import blas

    monkeypatch.delenv("BACKPROP_NO_THREADS", raising=False)
    path = blas._numpy_openblas()
    lib = ctypes.CDLL(path) if path else None
    parallel = None
    for name in ("scipy_openblas_get_parallel64_", "openblas_get_parallel64_", "openblas_get_parallel"):
        fn = getattr(lib, name, None) if lib is not None else None
        if fn is not None:
            fn.restype = ctypes.c_int
            parallel = fn()
            break
    pool = (lib is not None and blas.available and hasattr(lib, "gotoblas_pthread") and parallel == 1)
    line = _passes_line(capsys)
    if pool:
        assert f"split over OpenBLAS's own threads ({blas.get_threads()} now)" in line
        monkeypatch.setenv("BACKPROP_NO_THREADS", "1")
        assert _passes_line(capsys).endswith("on the calling thread (BACKPROP_NO_THREADS=1)")
    else:
        assert "on the calling thread (NumPy's BLAS has no OpenBLAS pthreads pool" in line
    monkeypatch.setattr(blas, "team_function", lambda: None)
    assert "no OpenBLAS pthreads pool" in _passes_line(capsys)
