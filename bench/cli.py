"""``python -m bench``: backprop against PyTorch, scikit-learn and the GEMM-only ceiling.

For each workload, one fresh worker process per framework (see :mod:`bench.worker`) measures its
memory first, then the parent alternates timed runs between them: A/B/C/D, B/C/D/A, ... (the
order rotates every round so no framework always follows the same one), after a warm-up that
also sizes each run to about ``--target`` seconds. Ratios are formed per round (backprop's run
against the peer's run of the same round) and summarized by their median and range.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .data import prepare_cache
from .workloads import BY_NAME, FULL, QUICK

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
FRAMEWORK_ORDER = ("backprop", "torch", "sklearn", "gemm")
#: a run during which other processes used more than this share of the CPUs is repeated
DISTURBED = 0.10
#: pause before each timed run, so the previous process's spinning threads have gone to sleep
GAP = 0.25


class Worker:
    def __init__(self, fw, wl, cache):
        self.fw = fw
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", fw, json.dumps(wl.to_dict()), str(cache)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True,
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
    fws = ["backprop"]
    for fw, mod in (("torch", "torch"), ("sklearn", "sklearn")):
        if importlib.util.find_spec(mod) is not None:
            fws.append(fw)
    if importlib.util.find_spec("threadpoolctl") is not None:
        fws.append("gemm")
    return fws


def measure(wl, cache, frameworks, repeats, target_s, log, retries=3):
    """All measurements of one workload; returns a JSON-able dict."""
    workers = {}
    res = {"workload": wl.to_dict(), "runs": {}, "memory": {}, "n": {}, "info": {}, "errors": {}}
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
        res["foreign_load_at_start"] = wait_for_quiet(log)
        for fw in order:
            cal = workers[fw].ask(cmd="calibrate", target_s=target_s)
            res["n"][fw], res["info"][fw] = cal["n"], cal["info"]
            res["runs"][fw] = []
        for r in range(repeats):
            k = r % len(order)
            for fw in order[k:] + order[:k]:
                out = timed_run(workers[fw], retries, log)
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
    log(f"  {wl.name}: " + ", ".join(parts) + ("; " + ", ".join(rat) if rat else "")
        + (f" [{disturbed} run(s) disturbed by other processes]" if disturbed else ""))
    return res


def write_outputs(payload, out_dir, tag):
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{tag}.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, json_path)
    md = results_markdown(payload)
    md_path = out_dir / ("RESULTS.md" if tag == "full" else f"RESULTS-{tag}.md")
    tmp = md_path.with_suffix(".md.tmp")
    tmp.write_text(md)
    os.replace(tmp, md_path)
    if tag == "full":
        update_readme(md)
    return json_path, md_path


README = Path(__file__).resolve().parent.parent / "README.md"
_START, _END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(md, readme=README):
    """Put the results into README.md's performance section, between its two marker comments.

    Headings move two levels down (RESULTS.md's '#' becomes '###') to sit under '## Performance'.
    """
    if not readme.exists():
        return False
    text = readme.read_text()
    if _START not in text or _END not in text:
        return False
    body = "\n".join("##" + line if line.startswith("#") else line for line in md.strip().splitlines())
    head, rest = text.split(_START, 1)
    tail = rest.split(_END, 1)[1]
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{_START}\n{body}\n{_END}{tail}")
    os.replace(tmp, readme)
    return True


def results_markdown(payload):
    env, results = payload["env"], payload["results"]
    parts = [
        f"# backprop benchmark ({payload['mode']})",
        "",
        report.environment_lines(env),
        f"- Command: `{payload['command']}`; {payload['repeats']} timed rounds per workload, runs of "
        f"~{payload['target_s']} s each, frameworks alternated; medians of samples/s (updates/s for XOR).",
        f"- Data: {payload['data']}",
        "",
        "## Training speed (samples/s, higher is better)",
        "",
        "Ratios are backprop's rate over the peer's in the same round: median (min–max over rounds).",
        "",
        report.speed_table(results),
        "",
        "## Peak memory",
        "",
        "Training MB: peak resident memory during one epoch over the workload's memory job minus the "
        "process's resident memory just before it (after imports, data and a warm-up on a throw-away "
        "model). Process MB: the whole process's peak (interpreter, libraries, data included).",
        "",
        report.memory_table(results),
        "",
        "## Targets",
        "",
        report.targets_table(report.check_targets(results)),
        "",
    ]
    if payload.get("fashion"):
        from .fashion import fashion_markdown

        parts += [fashion_markdown(payload["fashion"]), ""]
    return "\n".join(parts)


def rewrite_report(out_dir, tag, log):
    """RESULTS.md again from stored results (e.g. after a later --fashion run)."""
    path = out_dir / f"{tag}.json"
    if not path.exists():
        log(f"no {path}: run the benchmark first")
        return 2
    payload = json.loads(path.read_text())
    fashion = out_dir / "fashion.json"
    if fashion.exists():
        payload["fashion"] = json.loads(fashion.read_text())
    md_path = out_dir / ("RESULTS.md" if tag == "full" else f"RESULTS-{tag}.md")
    md = results_markdown(payload)
    md_path.write_text(md)
    log(f"wrote {md_path}")
    if tag == "full" and update_readme(md):
        log(f"updated the performance section of {README}")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="float32 784-256-128-10 at 4 batch sizes + XOR, "
                    "3 rounds (under two minutes)")
    ap.add_argument("--fashion", action="store_true",
                    help="Fashion-MNIST quality-and-time run (60 s budget per framework) instead")
    ap.add_argument("--budget", type=float, default=60.0, help="--fashion: training seconds per framework")
    ap.add_argument("--only", nargs="+", metavar="WORKLOAD", choices=sorted(BY_NAME),
                    help="run only these workloads: " + ", ".join(BY_NAME))
    ap.add_argument("--frameworks", nargs="+", choices=FRAMEWORK_ORDER, help="subset of frameworks")
    ap.add_argument("--repeats", type=int, help="timed rounds per workload (default 5, --quick 3)")
    ap.add_argument("--target", type=float, help="seconds per timed run (default 0.4, --quick 0.3)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for results (default bench/results)")
    ap.add_argument("--tag", help="results file name stem (default: full, quick, fashion or custom)")
    ap.add_argument("--no-write", action="store_true", help="print only, write no files")
    ap.add_argument("--report", action="store_true",
                    help="measure nothing: rewrite RESULTS.md (and README.md's performance section) "
                         "from full.json (and fashion.json) in --out")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, flush=True)

    if args.fashion:
        from .fashion import run_fashion

        return run_fashion(args, log)
    if args.report:
        return rewrite_report(args.out, args.tag or "full", log)

    if args.only:
        workloads, mode = [BY_NAME[n] for n in args.only], "custom"
    elif args.quick:
        workloads, mode = QUICK, "quick"
    else:
        workloads, mode = FULL, "full"
    repeats = args.repeats or (3 if args.quick else 5)
    target = args.target or (0.3 if args.quick else 0.4)
    frameworks = [f for f in available_frameworks() if not args.frameworks or f in args.frameworks]
    env = report.env_info()
    log(f"backprop benchmark: {len(workloads)} workloads x {frameworks}, {repeats} rounds, ~{target}s runs")
    log(f"  BLAS: {env.get('blas')}; machine: {env['machine']}")
    t0 = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="backprop-bench-") as cache:
        source = prepare_cache(cache)
        log(f"  data: {source}")
        for wl in workloads:
            results.append(measure(wl, cache, frameworks, repeats, target, log))
    for r in results:
        if r["info"].get("torch"):
            env["torch_info"] = r["info"]["torch"]
            break
    payload = {"mode": mode, "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
               "repeats": repeats, "target_s": target, "env": env, "data": source, "results": results,
               "elapsed_s": time.perf_counter() - t0}
    log("")
    log(report.speed_table(results))
    log("")
    log(report.memory_table(results))
    log("")
    log(report.targets_table(report.check_targets(results)))
    log(f"\n{len(workloads)} workloads in {payload['elapsed_s']:.0f} s")
    fashion = args.out / "fashion.json"
    if mode == "full" and fashion.exists():  # the last --fashion run goes into RESULTS.md too
        payload["fashion"] = json.loads(fashion.read_text())
    if not args.no_write:
        j, m = write_outputs(payload, args.out, args.tag or mode)
        log(f"wrote {j.relative_to(ROOT) if j.is_relative_to(ROOT) else j} and "
            f"{m.relative_to(ROOT) if m.is_relative_to(ROOT) else m}")
    return 0
