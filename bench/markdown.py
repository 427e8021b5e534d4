"""The benchmark's Markdown: RESULTS*.md in bench/results and README.md's performance section.

``python -m bench`` (full run) and ``python -m bench --report`` write RESULTS.md and put the same
text into README.md between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` (nothing else of
README.md changes; ``--readme PATH`` writes another copy, ``--no-readme`` none).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import report
from .frameworks import PEAK_N

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _write(path, text):
    """Atomic replace: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def results_name(tag):
    return "RESULTS.md" if tag == "full" else f"RESULTS-{tag}.md"


def write_outputs(payload, out_dir, tag, readme=README):
    """``<tag>.json`` and its Markdown in ``out_dir``; a full run also updates ``readme`` (unless None)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{tag}.json"
    _write(json_path, json.dumps(payload, indent=1))
    md = results_markdown(payload)
    md_path = out_dir / results_name(tag)
    _write(md_path, md)
    wrote_readme = tag == "full" and readme is not None and update_readme(md, readme)
    return json_path, md_path, wrote_readme


def readme_section(md):
    """The text between the markers: headings two levels down ('#' -> '###', under '## Performance')."""
    return "\n".join("##" + line if line.startswith("#") else line for line in md.strip().splitlines())


def update_readme(md, readme=README):
    """Replace what is between README's two marker comments by ``md``; False if the markers are missing."""
    readme = Path(readme)
    if not readme.exists():
        return False
    text = readme.read_text()
    if START not in text or END not in text or text.index(START) > text.index(END):
        return False
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    _write(readme, f"{head}{START}\n{readme_section(md)}\n{END}{tail}")
    return True


def _torch_adam(results):
    for r in results:
        v = (r["info"].get("torch") or {}).get("adam")
        if v:
            return v
    return None


def results_markdown(payload):
    env, results = payload["env"], payload["results"]
    adam = _torch_adam(results)
    protocol = payload.get("protocol", 1)
    if protocol < 2:  # stored results of the earlier harness
        torch_loop = "PyTorch: 2 threads, a lean loop over tensors shuffled once before the timing"
    else:
        torch_loop = ("PyTorch: 2 threads, a lean loop gathering each batch by index (`randperm` per epoch, "
                      "`index_select`), as backprop does")
    parts = [
        f"# backprop benchmark ({payload['mode']})",
        "",
        report.environment_lines(env, protocol),
        (f"- Command: `{payload['command']}`; {payload['repeats']} timed rounds per workload, runs of "
         f"~{payload['target_s']} s each (fixed jobs: one Adam epoch, one fit), every framework in a fresh "
         "process, frameworks alternated round by round."),
        (f"- Data: {payload['data']}; the MLPClassifier jobs: 20,000 x 100 synthetic float32 rows, "
         "10 classes."),
        *[line for line in [report.peak_line(results)] if line],
        "",
        "## Speed",
        "",
        "Rates are medians over the rounds. Ratios are backprop's rate over the peer's in the same round: "
        f"median (min–max over rounds). {torch_loop}"
        + (f"; Adam is `torch.optim.Adam` ({adam})" if adam else "") + ". GEMM-only ceiling: the step's "
        "8 matrix products alone (3 forward, 3 weight gradients, 2 error terms), so backprop / ceiling is "
        "the share of the step that is matrix products at NumPy's speed, and ceiling / PyTorch is the most "
        "that any NumPy step could reach against PyTorch here (its products alone, nothing else). Peak: "
        "the machine's matrix-product peak, NumPy's best GFLOP/s on a large square product "
        f"({PEAK_N}×{PEAK_N}, measured in the ceiling's process), divided by the step's floating-point "
        "operations per sample: peak / PyTorch (scikit-learn for the estimators) is the most that any "
        "implementation, with any library, could reach against the peer on this machine. "
        "Plain Python: the reference's online (i)–(iv) in Python floats (`bench/peers.py`). "
        "\"Disturbed\": other processes used more than "
        "10% of the CPUs during the run even after its retries (the figure is kept, and less trustworthy).",
        "",
        report.grouped_speed_tables(results),
        "",
        "## Peak memory",
        "",
        ("Training MB: peak resident memory during one epoch over the workload's memory job (inference: "
         "one `predict`; estimators: one fit) minus the process's resident memory just before it (after "
         "imports, data and a warm-up on a throw-away model). Process MB: the whole process's peak "
         "(interpreter, libraries, data included)."),
        "",
        report.memory_table(results),
        "",
        "## BLAS and threads seen by each measured process",
        "",
        report.blas_table(results),
        "",
        "## Targets",
        "",
        report.targets_table(report.check_targets(results, payload.get("fashion"))),
        "",
    ]
    if payload.get("fashion"):
        from .fashion import fashion_markdown

        parts += [fashion_markdown(payload["fashion"]), ""]
    return "\n".join(parts)


def rewrite_report(out_dir, tag, log, readme=README):
    """RESULTS.md (and README's section) again from stored results, e.g. after a later --fashion run."""
    path = out_dir / f"{tag}.json"
    if not path.exists():
        log(f"no {path}: run the benchmark first")
        return 2
    payload = json.loads(path.read_text())
    fashion = out_dir / "fashion.json"
    if fashion.exists():
        payload["fashion"] = json.loads(fashion.read_text())
    md_path = out_dir / results_name(tag)
    md = results_markdown(payload)
    _write(md_path, md)
    log(f"wrote {md_path}")
    if readme is not None:
        if update_readme(md, readme):
            log(f"updated the performance section of {readme}")
        else:
            log(f"{readme}: no {START} ... {END} section found; left alone")
    return 0
