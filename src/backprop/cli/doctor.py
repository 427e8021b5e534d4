"""``backprop doctor``: why training may be slower here than the README says.

Prints the CPU, NumPy's BLAS (library, OpenBLAS kernel, threads), the variables that change them,
the denormal handling, whether and when training runs compiled epochs (numba), a quick measured
matrix-product rate next to the rate of the README's machine, and what to change (see
:mod:`backprop.fast.machine`).
"""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from backprop.cli.common import UI, debug_option
from backprop.cli.errors import user_errors
from backprop.fast import machine
from backprop.version import DISTRIBUTION


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-measure", is_flag=True, help="Skip the matrix-product timing (about a second).")
@debug_option
@user_errors
def doctor(as_json: bool, no_measure: Any) -> Any:
    """Report what decides training speed on this machine: CPU, BLAS and its kernel, threads,
    thread and kernel variables, denormal mode, compiled epochs (numba), and a measured
    matrix-product rate."""
    doc = machine.report(measure=not no_measure)
    ui = UI(False, as_json)
    ui.dump(doc)
    if as_json:
        return 0
    ui.table(*_lines(doc))
    return 0


def _lines(doc):
    c, b, d, g, ref = doc["cpu"], doc["blas"], doc["denormals"], doc["gemm"], doc["reference"]
    fam = f" (family {c['family']}, model {c['model_number']})" if c.get("family") is not None else ""
    load = c.get("load_average")
    lines = [
        f"[bold]CPU[/bold]          {c['model']}{fam}, {c['usable_cpus']} usable of {c['logical_cpus']} "
        "logical CPUs" + (f", load average {load[0]:.2f}" if load else ""),
        f"[bold]vector units[/bold] {', '.join(c['flags']) or 'unknown'}",
        f"[bold]NumPy[/bold]        {b['numpy']}, BLAS {b.get('internal_api') or ''} "
        f"{b.get('version') or ''} ({b.get('library') or 'unknown library'})",
        f"[bold]kernel[/bold]       {b.get('kernel') or 'unknown'}; {b.get('threads') or '?'} BLAS threads"
        + (f", {b['threading_layer']}" if b.get("threading_layer") else ""),
        f"[bold]fused BLAS[/bold]   {'on' if b['fused_calls'] else 'off'} "
        "(backprop's in-place updates on NumPy's OpenBLAS)",
    ]
    pools = doc.get("threadpools")
    if pools is not None:
        lines.append(f"[bold]thread pools[/bold] {len(pools)}: " + "; ".join(
            f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('architecture') or '-'}, "
            f"{p.get('num_threads')} threads)" for p in pools))
    env = {k: v for k, v in doc["environment"].items() if v is not None}
    lines.append("[bold]variables[/bold]    " + (", ".join(f"{k}={v}" for k, v in env.items()) or "none set")
                 + f" (of {', '.join(doc['environment'])})")
    mode = ("unknown on this platform" if d["mxcsr"] is None
            else f"MXCSR {d['mxcsr']}: flush-to-zero {'on' if d['ftz'] else 'off'}, "
                 f"denormals-are-zero {'on' if d['daz'] else 'off'}")
    lines.append(f"[bold]denormals[/bold]    engine flush {'on' if d['engine_flush'] else 'OFF'} "
                 f"(every {d['flush_every_updates']} updates); this thread: {mode}")
    lines.append("[bold]compiled[/bold]     " + _compiled_line(doc))
    lines.append("[bold]passes[/bold]       " + _passes_line(doc))
    if g:
        one = (f"; 1 thread {g['gflops_one_thread']:.0f} GFLOP/s, scaling {g['thread_scaling']:.2f}x"
               if g.get("gflops_one_thread") else "")
        lines.append(f"[bold]product[/bold]      {g['n']}x{g['n']} {g['dtype']}: {g['gflops']:.0f} "
                     f"GFLOP/s on {g['threads']} threads{one}")
    lines.append(f"[bold]README's[/bold]     {ref['gflops']:.0f} GFLOP/s on {ref['threads']} threads, "
                 f"{ref['kernel']} kernel, {ref['cpu']}")
    advice = doc["advice"]
    lines.append("[bold]advice[/bold]       " + ("" if advice else "nothing found that slows training here"))
    lines += [f"  - {a}" for a in advice]
    return lines


def _passes_line(doc: dict) -> str:
    """Where a compiled epoch runs its passes between products (gather, g, g', Adam): ``fast.team``."""
    b, off = doc["blas"], doc["environment"].get("BACKPROP_NO_THREADS")
    if not b.get("pool_for_passes"):
        return "on the calling thread (NumPy's BLAS has no OpenBLAS pthreads pool backprop can hand work to)"
    if off not in (None, "", "0"):
        return f"on the calling thread (BACKPROP_NO_THREADS={off})"
    return (f"a compiled epoch's passes between products (gather, g, g', Adam) split over OpenBLAS's own "
            f"threads ({b.get('threads')} now); BACKPROP_NO_THREADS=1 keeps them on the calling thread")


def _compiled_line(doc: dict) -> str:
    """numba's version and when training runs compiled epochs (``machine.compiled_epochs``)."""
    c = doc["compiled"]
    if not c["installed"]:
        # (escaped: rich would take "[fast]" for markup and drop it)
        return escape(f"numba not installed: pip install '{DISTRIBUTION}[fast]' for compiled epochs")
    numba = f"numba {c['numba'] or '(version unknown)'}"
    if c["switched_off"]:
        value = doc["environment"].get("BACKPROP_NO_COMPILE")
        why = f"by BACKPROP_NO_COMPILE={value}" if value is not None else "in this process"
        return f"{numba}; compiled epochs switched off {why}"
    # fast.epochs calls NumPy's OpenBLAS itself: without it only the small networks' path is left
    small = "" if doc["blas"]["fused_calls"] else " (small networks only: fused BLAS is off)"
    if c["running"]:
        return f"{numba}, running in this process: compiled epochs{small} for every run they can train"
    return (f"{numba}: compiled epochs{small} for runs long enough to pay for numba's start "
            f"({c['start_seconds']:g} s): about {c['min_updates']:,} updates or more at the "
            f"{c['saving_per_update'] * 1e6:g} µs each saves, or any run once numba runs in the process; "
            "BACKPROP_NO_COMPILE=1 turns them off")
