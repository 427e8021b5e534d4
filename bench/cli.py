"""``python -m bench``: backprop against PyTorch, scikit-learn, plain Python and the GEMM-only ceiling.

For each workload, one fresh worker process per framework (see :mod:`bench.worker`) measures its
memory first, then the parent alternates timed runs between them: A/B/C/D, B/C/D/A, ... (the
order rotates every round so no framework always follows the same one), after a warm-up that
also sizes each run to about ``--target`` seconds. Ratios are formed per round (backprop's run
against the peer's run of the same round) and summarized by their median and range. The measured
processes run without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (see :data:`bench.worker.BLAS_OVERRIDES`).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import markdown, report
from .data import prepare_cache
from .worker import BLAS_OVERRIDES, measured_env
from .workloads import BY_NAME, FULL, QUICK

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
FRAMEWORK_ORDER = ("backprop", "torch", "sklearn", "python", "gemm")
#: version of the measuring protocol stored with the results (2: fresh env without the OpenBLAS kernel
#: overrides, PyTorch gathering by index, per-process thread pools, issue 12's workloads)
PROTOCOL = 2
#: a run during which other processes used more than this share of the CPUs is repeated
DISTURBED = 0.10
#: pause before each timed run, so the previous process's spinning threads have gone to sleep
GAP = 0.25


class Worker:
    def __init__(self, fw, wl, cache):
        self.fw = fw
        self.err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 -- lives as long as the worker
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", fw, json.dumps(wl.to_dict()), str(cache)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True,
            env=measured_env(),
        )

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.err.seek(0)
            tail = self.err.read()[-2000:]
            raise RuntimeError(f"{self.fw} worker exited ({self.proc.returncode}):\n{tail}")
        return json.loads(line)

    def ask(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self):
        try:
            if self.proc.poll() is None:
                self.ask(cmd="quit")
        except (RuntimeError, BrokenPipeError, ValueError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.err.close()


def cpu_busy_seconds():
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def foreign_load(wait_s=0.5):
    """Share of the machine's CPUs busy over ``wait_s`` seconds while this benchmark is idle."""
    b0 = cpu_busy_seconds()
    if b0 is None:
        return 0.0
    time.sleep(wait_s)
    return (cpu_busy_seconds() - b0) / (wait_s * (os.cpu_count() or 1))


def wait_for_quiet(log, limit=0.15, max_wait=30.0):
    """Wait (up to ``max_wait`` s) until other processes use under ``limit`` of the CPUs."""
    t0 = time.perf_counter()
    load = foreign_load()
    while load > limit and time.perf_counter() - t0 < max_wait:
        load = foreign_load(1.0)
    if load > limit:
        log(f"  (machine busy: {100 * load:.0f}% of the CPUs used by other processes)")
    return load


def timed_run(worker, retries, log):
    """One timed run; repeated (up to ``retries`` times) while other processes took CPU time from it.

    Other processes' share = (machine busy CPU seconds - the worker's own CPU seconds) / (wall x CPUs).
    """
    attempts = []
    for attempt in range(retries + 1):
        # idle BLAS/OpenMP threads of the previous run (another process) spin ~0.1 s before sleeping
        time.sleep(GAP)
        b0 = cpu_busy_seconds()
        out = worker.ask(cmd="run")
        b1 = cpu_busy_seconds()
        if b0 is not None:
            foreign = (b1 - b0 - out["cpu_s"]) / (out["seconds"] * (os.cpu_count() or 1))
            out["foreign_load"] = max(0.0, foreign)
        attempts.append(out)
        if out.get("foreign_load", 0.0) <= DISTURBED:
            break
        time.sleep(0.5 * (attempt + 1))
    best = attempts[-1]
    best["disturbed"] = best.get("foreign_load", 0.0) > DISTURBED
    best["attempts"] = len(attempts)
    return best


def available_frameworks():
    fws = ["backprop", "python"]
    for fw, mod in (("torch", "torch"), ("sklearn", "sklearn")):
        if importlib.util.find_spec(mod) is not None:
            fws.append(fw)
    if importlib.util.find_spec("threadpoolctl") is not None:
        fws.append("gemm")
    return fws


def measure(wl, cache, frameworks, repeats, target_s, log, retries=3, quiet_wait=30.0):
    """All measurements of one workload; returns a JSON-able dict."""
    t0 = time.perf_counter()
    workers = {}
    res = {"workload": wl.to_dict(), "runs": {}, "memory": {}, "n": {}, "info": {}, "errors": {},
           "threadpools": {}}
    frameworks = [fw for fw in frameworks if fw in wl.frameworks]
    for fw in frameworks:  # start together: imports and memory jobs overlap, nothing is timed yet
        workers[fw] = Worker(fw, wl, cache)
    try:
        for fw in list(workers):
            try:
                ready = workers[fw].read()
                if ready.get("memory"):
                    res["memory"][fw] = ready["memory"]
            except RuntimeError as exc:
                res["errors"][fw] = str(exc)
                workers.pop(fw).close()
        order = [fw for fw in frameworks if fw in workers]
        res["foreign_load_at_start"] = wait_for_quiet(log, max_wait=quiet_wait)
        if res["foreign_load_at_start"] > 0.15:  # still busy after the wait: retrying will not quiet it
            retries = min(retries, 1)
        for fw in list(order):
            try:
                cal = workers[fw].ask(cmd="calibrate", target_s=target_s)
            except RuntimeError as exc:  # a framework that fails is reported and left out, the rest go on
                res["errors"][fw] = str(exc)
                order.remove(fw)
                continue
            res["n"][fw], res["info"][fw] = cal["n"], cal["info"]
            res["threadpools"][fw] = cal.get("threadpools")
            res["runs"][fw] = []
        for r in range(repeats):
            k = r % max(1, len(order))
            for fw in order[k:] + order[:k]:
                try:
                    out = timed_run(workers[fw], retries, log)
                except RuntimeError as exc:
                    res["errors"][fw] = str(exc)
                    order.remove(fw)
                    res["runs"].pop(fw, None)
                    continue
                res["runs"][fw].append({"round": r, **out})
    finally:
        for w in workers.values():
            w.close()
    res["summary"] = report.summarize(res)
    med, ratio = res["summary"]["median"], res["summary"]["ratio"]
    parts = [f"{fw} {med[fw]:,.0f}/s" for fw in order if fw in med]
    rat = [f"vs {p} {ratio[p]['median']:.2f}x" for p in ratio]
    disturbed = sum(run.get("disturbed", False) for runs in res["runs"].values() for run in runs)
    res["disturbed_runs"] = disturbed
    res["elapsed_s"] = time.perf_counter() - t0
    log(f"  {wl.name}: " + ", ".join(parts) + ("; " + ", ".join(rat) if rat else "")
        + (f" [{disturbed} run(s) disturbed by other processes]" if disturbed else "")
        + f" ({res['elapsed_s']:.0f} s)")
    for fw, err in res["errors"].items():
        log(f"  {wl.name}: {fw} left out: {err.strip().splitlines()[-1] if err.strip() else err}")
    return res


def run_distributed(argv, log):
    """``--distributed ARGS...``: hand the rest of the command line to ``bench.distributed.main``."""
    if importlib.util.find_spec("bench.distributed") is None:
        log("error: --distributed needs bench/distributed.py (the distributed benchmark), which is not "
            "in this checkout")
        return 2
    from . import distributed

    entry = getattr(distributed, "main", None) or getattr(distributed, "run", None)
    if entry is None:
        log("error: bench/distributed.py has no main(argv) function")
        return 2
    return int(entry(list(argv)) or 0)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="every kind of workload, small (fixed jobs shortened), 2 rounds of ~0.15 s: "
                         "a smoke test")
    ap.add_argument("--fashion", action="store_true",
                    help="Fashion-MNIST quality-and-time run (60 s budget per framework) instead")
    ap.add_argument("--budget", type=float, default=60.0, help="--fashion: training seconds per framework")
    ap.add_argument("--recipe", help="--fashion: the recipe (parameter set) to train; see bench/README.md")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="--fashion: change one parameter of the recipe "
                         "(e.g. --set lr=0.002 --set layers=512,256)")
    ap.add_argument("--fashion-peers", nargs="*", choices=("torch", "sklearn"), default=None,
                    help="--fashion: peers trained with the recipe too "
                         "(default: torch sklearn; none: backprop only)")
    ap.add_argument("--distributed", action="store_true",
                    help="the distributed benchmark instead (bench/distributed.py); the arguments after it "
                         "are its own")
    ap.add_argument("--only", nargs="+", metavar="WORKLOAD", choices=sorted(BY_NAME),
                    help="run only these workloads: " + ", ".join(BY_NAME))
    ap.add_argument("--frameworks", nargs="+", choices=FRAMEWORK_ORDER, help="subset of frameworks")
    ap.add_argument("--repeats", type=int, help="timed rounds per workload (default 5, --quick 2)")
    ap.add_argument("--target", type=float, help="seconds per timed run (default 0.4, --quick 0.15)")
    ap.add_argument("--torch-adam", choices=("fused", "foreach", "for-loop"),
                    help="PyTorch's Adam implementation on the Adam workload "
                         "(default fused, its fastest on CPU)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for results (default bench/results)")
    ap.add_argument("--tag", help="results file name stem (default: full, quick, fashion or custom)")
    ap.add_argument("--no-write", action="store_true", help="print only, write no files")
    ap.add_argument("--report", action="store_true",
                    help="measure nothing: rewrite RESULTS.md (and README.md's performance section) "
                         "from full.json (and fashion.json) in --out")
    ap.add_argument("--readme", type=Path,
                    help="the README whose performance section a full run or --report rewrites "
                         "(default: the repository's README.md)")
    ap.add_argument("--no-readme", action="store_true", help="leave every README alone")
    return ap.parse_args(argv)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)

    def log(msg):
        print(msg, flush=True)

    if "--distributed" in argv:  # everything but the switch itself belongs to bench.distributed
        i = argv.index("--distributed")
        return run_distributed(argv[:i] + argv[i + 1:], log)
    args = parse_args(argv)
    if args.no_readme:
        readme = None
    else:
        readme = args.readme or (markdown.README if (args.tag or "full") == "full" else None)

    if args.fashion:
        from .fashion import run_fashion

        return run_fashion(args, log)
    if args.report:
        return markdown.rewrite_report(args.out, args.tag or "full", log, readme=readme)

    if args.only:
        workloads, mode = [BY_NAME[n] for n in args.only], "custom"
    elif args.quick:
        workloads, mode = QUICK, "quick"
    else:
        workloads, mode = FULL, "full"
    if args.torch_adam:
        workloads = [dataclasses.replace(w, torch_adam=args.torch_adam) for w in workloads]
    repeats = args.repeats or (2 if args.quick else 5)
    target = args.target or (0.15 if args.quick else 0.4)
    frameworks = [f for f in available_frameworks() if not args.frameworks or f in args.frameworks]
    env = report.env_info()
    log(f"backprop benchmark: {len(workloads)} workloads x {frameworks}, {repeats} rounds, ~{target}s runs")
    removed = [v for v in BLAS_OVERRIDES if v in os.environ]
    log(f"  machine: {env['machine']}; measured processes run without {', '.join(BLAS_OVERRIDES)}"
        + (f" (set here: {', '.join(removed)})" if removed else " (not set here either)"))
    t0 = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="backprop-bench-") as cache:
        source = prepare_cache(cache)
        log(f"  data: {source}")
        for wl in workloads:
            # --quick is a smoke test: it waits less for a quiet machine and repeats disturbed runs once
            results.append(measure(wl, cache, frameworks, repeats, target, log,
                                   retries=1 if args.quick else 3, quiet_wait=3.0 if args.quick else 30.0))
    for r in results:
        if r["info"].get("torch"):
            env["torch_info"] = r["info"]["torch"]
            break
    payload = {"protocol": PROTOCOL, "mode": mode, "command": " ".join(["python -m bench", *argv]),
               "repeats": repeats, "target_s": target, "env": env, "data": source, "results": results,
               "elapsed_s": time.perf_counter() - t0}
    fashion = args.out / "fashion.json"
    if mode == "full" and fashion.exists():  # the last --fashion run goes into RESULTS.md too
        payload["fashion"] = json.loads(fashion.read_text())
    log("")
    log(report.grouped_speed_tables(results))
    log("")
    log(report.memory_table(results))
    log("")
    log(report.blas_table(results))
    log("")
    log(report.targets_table(report.check_targets(results, payload.get("fashion"))))
    log(f"\n{len(workloads)} workloads in {payload['elapsed_s']:.0f} s")
    if not args.no_write:
        j, m, wrote = markdown.write_outputs(payload, args.out, args.tag or mode,
                                             readme=readme if mode == "full" else None)
        log(f"wrote {_rel(j)} and {_rel(m)}" + (f"; updated the performance section of {_rel(readme)}"
                                                if wrote else ""))
    return 0


def _rel(p):
    p = Path(p).resolve()
    return p.relative_to(ROOT) if p.is_relative_to(ROOT) else p
