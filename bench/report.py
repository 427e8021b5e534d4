"""Environment description, statistics and the Markdown tables of a benchmark run."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import sys


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def env_info():
    """Machine, versions, BLAS (threadpoolctl's view of NumPy's BLAS) and the date."""
    import numpy as np

    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} logical CPUs",
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }
    for mod in ("backprop", "torch", "sklearn", "threadpoolctl"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    try:
        from threadpoolctl import threadpool_info

        pools = threadpool_info()
        info["threadpools"] = pools
        # NumPy's own BLAS (SciPy, imported by scikit-learn, ships a second OpenBLAS)
        blas = sorted((p for p in pools if p.get("user_api") == "blas"),
                      key=lambda p: "numpy" not in p.get("filepath", ""))
        if blas:
            b = blas[0]
            info["blas"] = (f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')} kernel, "
                            f"{b.get('num_threads')} threads, {os.path.basename(b.get('filepath', ''))})")
    except ImportError:
        info["threadpools"] = None
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE"):
        if os.environ.get(var):
            info.setdefault("env", {})[var] = os.environ[var]
    try:
        info["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def summarize(result):
    """Medians and per-round ratios of one workload's raw measurements (rates in samples/s)."""
    rates = {fw: [r["rate"] for r in runs] for fw, runs in result["runs"].items() if runs}
    out = {"median": {fw: statistics.median(v) for fw, v in rates.items()}, "ratio": {}}
    bp = rates.get("backprop")
    if bp:
        for peer, v in rates.items():
            if peer == "backprop" or len(v) != len(bp):
                continue
            per_round = [a / b for a, b in zip(bp, v)]
            out["ratio"][peer] = {"median": statistics.median(per_round), "min": min(per_round),
                                  "max": max(per_round), "per_round": per_round}
    return out


def _fmt_rate(x):
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _fmt_ratio(r):
    if r is None:
        return "–"
    return f"**{r['median']:.2f}×** ({r['min']:.2f}–{r['max']:.2f})"


def speed_table(results):
    head = ("| workload | network | batch | dtype | backprop | PyTorch | backprop / PyTorch | scikit-learn "
            "| backprop / scikit-learn | GEMM-only ceiling | backprop / ceiling |")
    lines = [head, "|" + "---|" * 11]
    for res in results:
        wl, s = res["workload"], res["summary"]
        med, ratio = s["median"], s["ratio"]
        arch = "-".join(str(x) for x in wl["sizes"])
        if len(wl["sizes"]) > 6:
            arch = f"{wl['sizes'][0]}-{wl['sizes'][1]}×{len(wl['sizes']) - 2}-{wl['sizes'][-1]}"
        g = ratio.get("gemm")
        ceiling = "–" if g is None else f"{100 * g['median']:.0f}%"
        lines.append(
            f"| {wl['name']} | {arch} {wl['hidden']}/{wl['output']} | {wl['batch']} | {wl['dtype']} "
            f"| {_fmt_rate(med.get('backprop'))} | {_fmt_rate(med.get('torch'))} | {_fmt_ratio(ratio.get('torch'))} "
            f"| {_fmt_rate(med.get('sklearn'))} | {_fmt_ratio(ratio.get('sklearn'))} "
            f"| {_fmt_rate(med.get('gemm'))} | {ceiling} |"
        )
    return "\n".join(lines)


def memory_table(results):
    lines = ["| workload | backprop training MB | PyTorch training MB | scikit-learn training MB "
             "| backprop process MB | PyTorch process MB | scikit-learn process MB |",
             "|" + "---|" * 7]
    for res in results:
        mem = res["memory"]

        def mb(fw, key, mem=mem):
            m = mem.get(fw)
            return "–" if not m else f"{m[key] / 1024:.1f}"

        lines.append(f"| {res['workload']['name']} | {mb('backprop', 'train_kb')} | {mb('torch', 'train_kb')} "
                     f"| {mb('sklearn', 'train_kb')} | {mb('backprop', 'process_peak_kb')} "
                     f"| {mb('torch', 'process_peak_kb')} | {mb('sklearn', 'process_peak_kb')} |")
    return "\n".join(lines)


TARGETS = [
    # (description, workload, peer, kind, threshold)
    ("≥ 1.0× PyTorch at batch 1", "mlp-b1-float32", "torch", "ratio", 1.0),
    ("≥ 1.3× PyTorch at batch 32", "mlp-b32-float32", "torch", "ratio", 1.3),
    ("≥ 1.3× PyTorch at batch 256", "mlp-b256-float32", "torch", "ratio", 1.3),
    ("≥ 1.3× PyTorch at batch 1000", "mlp-b1000-float32", "torch", "ratio", 1.3),
    ("≥ 10× PyTorch on the tiny online network", "xor-online", "torch", "ratio", 10.0),
    ("≥ 2× scikit-learn at batch 1", "mlp-b1-float32", "sklearn", "ratio", 2.0),
    ("≥ 2× scikit-learn at batch 32", "mlp-b32-float32", "sklearn", "ratio", 2.0),
    ("≥ 2× scikit-learn at batch 256", "mlp-b256-float32", "sklearn", "ratio", 2.0),
    ("≥ 2× scikit-learn at batch 1000", "mlp-b1000-float32", "sklearn", "ratio", 2.0),
    ("≥ 75% of the GEMM-only ceiling at batch 256", "mlp-b256-float32", "gemm", "ratio", 0.75),
    ("≥ 75% of the GEMM-only ceiling at batch 1000", "mlp-b1000-float32", "gemm", "ratio", 0.75),
]


def check_targets(results):
    by = {r["workload"]["name"]: r for r in results}
    rows = []
    for desc, name, peer, _kind, thr in TARGETS:
        r = by.get(name)
        if r is None or peer not in r["summary"]["ratio"]:
            continue
        v = r["summary"]["ratio"][peer]["median"]
        shown = f"{100 * v:.0f}%" if peer == "gemm" else f"{v:.2f}×"
        rows.append({"target": desc, "measured": shown, "met": v >= thr})
    for r in results:
        mem = r["memory"]
        if mem.get("backprop") and mem.get("torch"):
            bp, pt = mem["backprop"]["train_kb"], mem["torch"]["train_kb"]
            rows.append({"target": f"peak training memory ≤ PyTorch's ({r['workload']['name']})",
                         "measured": f"{bp / 1024:.1f} MB vs {pt / 1024:.1f} MB", "met": bp <= pt})
    return rows


def targets_table(rows):
    lines = ["| target | measured (median) | met |", "|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['target']} | {row['measured']} | {'yes' if row['met'] else '**no**'} |")
    return "\n".join(lines)


def environment_lines(env):
    lines = [
        f"- Date: {env['date']}",
        f"- Machine: {env['machine']} ({env['platform']})",
        f"- Python {env['python']}, NumPy {env['numpy']}, backprop {env.get('backprop')}, "
        f"PyTorch {env.get('torch')}, scikit-learn {env.get('sklearn')}",
        f"- NumPy's BLAS: {env.get('blas', 'unknown')}",
    ]
    ti = env.get("torch_info")
    if ti:
        libs = " + ".join(name for name, key in (("MKL", "mkl"), ("oneDNN", "mkldnn")) if ti.get(key))
        lines.append(f"- PyTorch {ti.get('version')}: {ti.get('threads')} threads (`torch.set_num_threads(2)`)"
                     + (f", built with {libs}" if libs else ""))
    if env.get("load_average_at_start") is not None:
        la = env["load_average_at_start"]
        lines.append(f"- Load average at start: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")
    return "\n".join(lines)
