"""Environment description, statistics and the Markdown tables of a benchmark run."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import sys


def cpu_model():
    """The CPU's model name with its family and model numbers (x86: "AMD EPYC (family 25, model 17)")."""
    name, family, model = None, None, None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = (s.strip() for s in line.partition(":"))
                if key == "model name" and name is None:
                    name = value
                elif key == "cpu family" and family is None:
                    family = value
                elif key == "model" and model is None:
                    model = value
    except OSError:
        pass
    name = name or platform.processor() or "unknown"
    return f"{name} (family {family}, model {model})" if family and model else name


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
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE"):
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


PEERS = {"torch": "PyTorch", "sklearn": "scikit-learn", "python": "plain Python", "gemm": "GEMM-only ceiling"}
#: the groups of workloads shown in one table each: (title, unit, test)
GROUPS = [
    ("Training, plain SGD", "samples/s (XOR: updates/s)",
     lambda w: w.get("kind", "train") == "train" and w.get("optimizer", "sgd") == "sgd"),
    ("Training, one Adam epoch", "samples/s", lambda w: w.get("kind", "train") == "train"
     and w.get("optimizer") == "adam"),
    ("Inference", "rows/s", lambda w: w.get("kind") == "predict"),
    ("MLPClassifier.fit: backprop's estimator against scikit-learn's", "samples/s (rows x epochs / s)",
     lambda w: w.get("kind") == "estimator"),
]


def _fmt_rate(x):
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _fmt_ratio(r, times="×"):
    if r is None:
        return "–"
    return f"**{r['median']:.2f}{times}** ({r['min']:.2f}–{r['max']:.2f})"


def _arch(wl):
    s = wl["sizes"]
    arch = "-".join(str(x) for x in s)
    if len(s) > 6:
        arch = f"{s[0]}-{s[1]}×{len(s) - 2}-{s[-1]}"
    arch += f" {wl['hidden']}/{wl['output']}"
    if wl.get("optimizer", "sgd") != "sgd":
        arch += f", {wl['optimizer']}"
    return arch


def step_flops(wl):
    """Floating-point operations per sample of the step's matrix products: 2 n_{k-1} n_k for each
    forward product, the same for each weight gradient, and for each error term but the first
    layer's (none is needed there); inference: the forward products only."""
    pairs = [a * b for a, b in zip(wl["sizes"][:-1], wl["sizes"][1:])]
    if wl.get("kind") == "predict":
        return 2 * sum(pairs)
    return 2 * (2 * sum(pairs) + sum(pairs[1:]))


def peak_rate(res):
    """Samples/s of a step that were nothing but its products at the machine's matrix-product peak
    (measured by the ceiling's process), or None."""
    gflops = (res.get("info", {}).get("gemm") or {}).get("peak_gflops")
    return gflops * 1e9 / step_flops(res["workload"]) if gflops else None


def peak_line(results):
    """The machine's matrix-product peak per dtype, over the ceiling's processes, or ""."""
    seen: dict = {}
    for res in results:
        g = (res.get("info", {}).get("gemm") or {}).get("peak_gflops")
        if g:
            seen.setdefault(res["workload"]["dtype"], []).append(g)
    if not seen:
        return ""
    parts = [f"{dt} {statistics.median(v):.0f} GFLOP/s ({min(v):.0f}–{max(v):.0f})"
             for dt, v in sorted(seen.items())]
    return ("- Matrix-product peak: NumPy's best rate on a square product, in each ceiling process, "
            "median (min–max): " + ", ".join(parts))


def bound_peer(peers):
    """The peer the bounds are given against: PyTorch, else scikit-learn (the estimators)."""
    if "gemm" not in peers:
        return None
    return next((p for p in ("torch", "sklearn") if p in peers), None)


def speed_table(results):
    """One table: a column pair (rate, backprop / peer) per peer that took part in these results."""
    peers = [p for p in PEERS if any(p in r["summary"]["median"] for r in results)]
    head = "| workload | network | batch | dtype | backprop |"
    for p in peers:
        head += f" {PEERS[p]} | backprop / {'ceiling' if p == 'gemm' else PEERS[p]} |"
    against = bound_peer(peers)
    bound = 2 if against else 0
    if against:  # the most any step could reach: its products alone, at NumPy's speed / at the peak
        head += f" bound: ceiling / {PEERS[against]} | bound: peak / {PEERS[against]} |"
    lines = [head, "|" + "---|" * (5 + 2 * len(peers) + bound)]
    for res in results:
        wl, s = res["workload"], res["summary"]
        med, ratio = s["median"], s["ratio"]
        runs = sum(len(v) for v in res["runs"].values())
        shaky = f" ({res['disturbed_runs']} of {runs} runs disturbed)" if res.get("disturbed_runs") else ""
        row = (f"| {wl['name']}{shaky} | {_arch(wl)} | {wl['batch']} | {wl['dtype']} "
               f"| {_fmt_rate(med.get('backprop'))} |")
        for p in peers:
            row += f" {_fmt_rate(med.get(p))} | {_fmt_ratio(ratio.get(p), '' if p == 'gemm' else '×')} |"
        if against:
            t = med.get(against)
            for g in (med.get("gemm"), peak_rate(res)):
                row += f" {g / t:.2f}× |" if g and t else " – |"
        lines.append(row)
    return "\n".join(lines)


def grouped_speed_tables(results, heading="###"):
    """Markdown: one speed table per group of workloads that is present."""
    parts = []
    for title, unit, test in GROUPS:
        rows = [r for r in results if test(r["workload"])]
        if rows:
            parts += [f"{heading} {title} ({unit}, higher is better)", "", speed_table(rows), ""]
    return "\n".join(parts).rstrip()


def memory_table(results):
    lines = [("| workload | backprop training MB | PyTorch training MB | scikit-learn training MB "
              "| backprop process MB | PyTorch process MB | scikit-learn process MB |"),
             "|" + "---|" * 7]
    for res in results:
        mem = res["memory"]

        def mb(fw, key, mem=mem):
            m = mem.get(fw)
            return "–" if not m else f"{m[key] / 1024:.1f}"

        lines.append(f"| {res['workload']['name']} | {mb('backprop', 'train_kb')} "
                     f"| {mb('torch', 'train_kb')} | {mb('sklearn', 'train_kb')} "
                     f"| {mb('backprop', 'process_peak_kb')} "
                     f"| {mb('torch', 'process_peak_kb')} | {mb('sklearn', 'process_peak_kb')} |")
    return "\n".join(lines)


def _pool(p):
    name = p.get("internal_api") or p.get("user_api")
    arch = f" {p['architecture']}" if p.get("architecture") else ""
    layer = f" ({p['threading_layer']})" if p.get("threading_layer") not in (None, "", "disabled") else ""
    version = f" {p['version']}" if p.get("version") else ""
    return f"{name}{version}{arch}{layer}: {p.get('num_threads')} threads [{p.get('library')}]"


def blas_table(results):
    """What each measured process saw: threadpoolctl's pools (kernel, threads) and thread variables."""
    seen = {}
    for res in results:
        for fw, tp in (res.get("threadpools") or {}).items():
            if not tp:
                continue
            pools = "; ".join(sorted(_pool(p) for p in tp.get("pools") or [])) or "none loaded"
            env = ", ".join(f"{k}={v}" for k, v in sorted((tp.get("env") or {}).items())) or "none set"
            cpu = tp.get("cpu") or "not recorded"
            seen.setdefault((fw, cpu, pools, env), []).append(res["workload"]["name"])
    lines = [("| framework | CPU | thread pools (threadpoolctl.threadpool_info()) | thread/kernel variables "
              "| workloads |"),
             "|---|---|---|---|---|"]
    for (fw, cpu, pools, env), names in seen.items():
        lines.append(f"| {fw} | {cpu} | {pools} | {env} | {', '.join(names)} |")
    if not seen:
        return "Not recorded by this run (earlier harness)."
    return "\n".join(lines)


#: issue 24's targets: (description, workload, peer, threshold); ratios are medians over rounds
TARGETS = [
    ("training / its 8 GEMMs alone ≥ 0.75 at B = 32", "mlp-b32-float32", "gemm", 0.75),
    ("training / its 8 GEMMs alone ≥ 0.85 at B = 256", "mlp-b256-float32", "gemm", 0.85),
    ("training / its 8 GEMMs alone ≥ 0.85 at B = 1000", "mlp-b1000-float32", "gemm", 0.85),
    ("≥ 2.5× PyTorch at B = 1", "mlp-b1-float32", "torch", 2.5),
    ("≥ 1.2× PyTorch at B = 32", "mlp-b32-float32", "torch", 1.2),
    ("≥ 1.2× PyTorch at B = 256", "mlp-b256-float32", "torch", 1.2),
    ("≥ 1.15× PyTorch at B = 1000", "mlp-b1000-float32", "torch", 1.15),
    ("XOR 2-4-1 online ≥ 2× the plain-Python loop", "xor-online", "python", 2.0),
    ("one Adam epoch 784-512-256-10, B = 1024 ≥ 1.15× PyTorch", "adam-b1024", "torch", 1.15),
    *[(f"MLPClassifier.fit ≥ {t}× scikit-learn's at batch_size = {b}", f"sklearn-fit-b{b}", "sklearn", t)
      for b, t in ((32, 2.5), (200, 2.5), (256, 2.5), (1000, 2.0))],
]
#: the Fashion-MNIST recipe's target: test accuracy within the training-time budget
FASHION_TARGET = (0.900, 60.0)


def check_targets(results, fashion=None):
    """Rows of the Targets table for what these results measured (a ``-quick`` workload stands in)."""
    by = {}
    for r in results:
        name = r["workload"]["name"]
        by.setdefault(name.removesuffix("-quick"), r)
    rows = []
    for desc, name, peer, thr in TARGETS:
        r = by.get(name)
        if r is None or peer not in r["summary"]["ratio"]:
            continue
        q = r["summary"]["ratio"][peer]
        x = "" if peer == "gemm" else "×"
        peak, other = peak_rate(r), r["summary"]["median"].get(peer)
        bounded = peak and other and peer not in ("python", "gemm")
        rows.append({"target": desc + (" (quick)" if r["workload"]["name"] != name else ""),
                     "measured": f"{q['median']:.2f}{x} ({q['min']:.2f}–{q['max']:.2f})",
                     "met": q["median"] >= thr,
                     "peak": f"{peak / other:.2f}{x}" if bounded else "–"})
    for r in results:
        mem = r["memory"]
        peer = "torch" if mem.get("torch") else "sklearn" if mem.get("sklearn") else None
        if mem.get("backprop") and peer:
            bp, other = mem["backprop"]["train_kb"], mem[peer]["train_kb"]
            rows.append({"target": f"peak training memory ≤ {PEERS[peer]}'s ({r['workload']['name']})",
                         "measured": f"{bp / 1024:.1f} MB vs {other / 1024:.1f} MB", "met": bp <= other})
    res = ((fashion or {}).get("results") or {}).get("backprop") or {}
    if "accuracy" in res:
        acc, budget = FASHION_TARGET
        rows.append({"target": f"Fashion-MNIST test accuracy ≥ {acc:.3f} within {budget:g} s of training "
                               f"(recipe {fashion.get('recipe', 'baseline')!r})",
                     "measured": f"{res['accuracy']:.4f} in {res['time']:.1f} s",
                     "met": res["accuracy"] >= acc and res["time"] <= budget
                     and fashion.get("budget_s", budget) <= budget})
        torch = fashion["results"].get("torch") or {}
        if "accuracy" in torch:
            rows.append({"target": "Fashion-MNIST: ahead of PyTorch given the same recipe and time",
                         "measured": f"{res['accuracy']:.4f} ({res['epochs']} epochs) vs "
                                     f"{torch['accuracy']:.4f} ({torch['epochs']} epochs)",
                         "met": res["accuracy"] > torch["accuracy"]})
    return rows


def targets_table(rows):
    lines = ["| target | measured: median (min–max over rounds) | met | bound: peak / peer |",
             "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['target']} | {row['measured']} | {'yes' if row['met'] else '**no**'} "
                     f"| {row.get('peak', '–')} |")
    return "\n".join(lines)


def environment_lines(env, protocol=2):
    lines = [
        f"- Date: {env['date']}",
        f"- Machine: {env['machine']} ({env['platform']})",
        (f"- Python {env['python']}, NumPy {env['numpy']}, backprop {env.get('backprop')}, "
         f"PyTorch {env.get('torch')}, scikit-learn {env.get('sklearn')}"),
    ]
    overrides = {k: v for k, v in (env.get("env") or {}).items()
                 if k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    if protocol < 2:  # results of the earlier harness: the parent's BLAS only, environment as it was
        lines.append(f"- NumPy's BLAS (parent process): {env.get('blas', 'unknown')}")
    else:
        removed = ", ".join(f"{k}={v}" for k, v in overrides.items())
        how = (f"{removed} set here, removed for them" if removed
               else "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset")
        lines.append(f"- OpenBLAS kernel: the CPU's own in every measured process ({how}); what each process "
                     "saw is in the thread-pool table below")
    ti = env.get("torch_info")
    if ti:
        libs = " + ".join(name for name, key in (("MKL", "mkl"), ("oneDNN", "mkldnn")) if ti.get(key))
        lines.append(f"- PyTorch {ti.get('version')}: {ti.get('threads')} threads "
                     "(`torch.set_num_threads(2)`)"
                     + (f", built with {libs}" if libs else ""))
    if env.get("load_average_at_start") is not None:
        la = env["load_average_at_start"]
        lines.append(f"- Load average at start: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")
    return "\n".join(lines)
