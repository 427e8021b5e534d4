"""``python -m bench --distributed``: training throughput on 1..N Dask workers, and bytes per update.

For each number of workers N (a LocalCluster of N single-threaded worker processes on 127.0.0.1)
and each batch size B, the same network trains on the same synthetic data, generated on the
workers (the driver never holds it), through :class:`backprop.distributed.DaskSource` and the
trainer's loop. Reported per configuration: samples/s (rows of the batches per second of training,
median and best of ``--repeats`` runs), the time per update, and the bytes that travel per update (weights to
each shard, positions of its rows, gradient sums back -- payload, without Dask's framing).

Two reference points, measured inside a worker process of the 1-worker cluster (same BLAS, one
thread): ``Network.fit`` on the same rows in memory (the one-process speed), and the fixed cost of
one update round trip (a 2-2-2 network, one row) -- the latency floor of the driver <-> worker
exchange. docs/distributed.md projects larger clusters from these figures.

The OpenBLAS kernel overrides (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE) are removed from the
environment of the worker processes, as for the other benchmarks; each worker's BLAS is reported.
On a shared 2-core machine the figures are noisy (and 2 workers plus the driver oversubscribe 2
cores): trust ratios within one run over absolute values.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys

import numpy as np

BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m bench --distributed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="cluster sizes (default 1 2)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 512, 4096],
                    help="batch sizes (default 64 512 4096)")
    ap.add_argument("--rows", type=int, default=32768, help="training rows (default 32768)")
    ap.add_argument("--layers", default="256,256,128,10", help="network sizes (default 256,256,128,10)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--updates", type=int, default=48, help="at least this many timed updates per run")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (median reported)")
    ap.add_argument("--quick", action="store_true", help="a smoke test: few rows, one repeat")
    ap.add_argument("--json", type=str, help="also write the results to this JSON file")
    ap.add_argument("--bandwidth-gbit", type=float, nargs="+", default=[1.0, 10.0],
                    help="network bandwidths (Gbit/s per direction) for the projection (default 1 10)")
    ap.add_argument("--project", type=str, metavar="JSON",
                    help="measure nothing: print the projection from a JSON file written by --json")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.repeats, args.updates, args.batch_sizes = 4096, 1, 8, [64, 1024]
    return args


# -- run inside a worker process --------------------------------------------------------------------
def _worker_blas():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return [{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for p in threadpool_info()]


def _data(rows, n_in, n_out, seed=0, dtype="float32"):
    """The benchmark's rows as NumPy (a seeded function of the row count: the same on every worker)."""
    import dask.array as da

    X, Y = _dask_data(da, rows, n_in, n_out, chunks=rows, seed=seed, dtype=dtype)
    return X.compute(scheduler="sync"), Y.compute(scheduler="sync")


def _dask_data(da, rows, n_in, n_out, *, chunks, seed=0, dtype="float32"):
    X = da.random.default_rng(seed).standard_normal((rows, n_in), chunks=(chunks, n_in)).astype(dtype)
    W = np.random.default_rng(seed + 1).standard_normal((n_in, n_out)).astype(dtype)
    Y = (X @ W).argmax(axis=1)  # class indices: a learnable target, one-hot encoded on the workers
    return X, Y


def _local_rate(sizes, dtype, rows, batch_size, updates, repeats):
    """``Network.fit`` in this (worker) process on in-memory rows: samples/s, median and best of
    ``repeats``."""
    import backprop

    X, y = _data(rows, sizes[0], sizes[-1], dtype=dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[y]
    epochs = max(1, -(-updates * batch_size // rows))
    rates = []
    for _ in range(repeats):
        net = backprop.Network(sizes, hidden="relu", output="softmax", seed=0, dtype=dtype)
        h = net.fit(X, Y, loss="cross_entropy", epochs=epochs, batch_size=batch_size, lr=0.01, seed=1)
        rates.append(epochs * rows / h.time)
    return {"median": statistics.median(rates), "best": max(rates)}


# -- the driver ---------------------------------------------------------------------------------------
def _cluster(n):
    import distributed

    from backprop.distributed.cluster import LOOPBACK_HTTP

    for var in BLAS_OVERRIDES:  # the workers start from this environment (the benchmark's own only)
        os.environ.pop(var, None)
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, scheduler_kwargs=LOOPBACK_HTTP,
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster, timeout=60)
    client.wait_for_workers(n, timeout=120)
    return cluster, client


def _run(client, sizes, dtype, X, Y, batch_size, updates, repeats):
    import backprop
    from backprop.distributed import DaskSource

    net = backprop.Network(sizes, hidden="relu", output="softmax", seed=0, dtype=dtype)
    rows = X.shape[0]
    with DaskSource(client, net, X, Y, loss="cross_entropy") as source:
        per_epoch = -(-rows // batch_size)
        epochs = max(1, -(-updates // per_epoch))
        rates, per_update = [], []
        for r in range(repeats + 1):  # the first run warms up (buffers, connections): not counted
            trainer = backprop.Trainer(net, loss="cross_entropy", epochs=epochs, batch_size=batch_size,
                                       lr=0.01, seed=1)
            sent0, recv0, n0 = source.bytes_sent, source.bytes_received, source.updates
            h = trainer.run_source(source)
            if r:
                rates.append(epochs * rows / h.time)
                per_update.append(h.time / h.n_updates)
        n = source.updates - n0
        return {"samples_per_s": statistics.median(rates), "s_per_update": statistics.median(per_update),
                "best_samples_per_s": max(rates), "best_s_per_update": min(per_update),
                "updates": h.n_updates, "shards": source.n_shards,
                "bytes_sent_per_update": (source.bytes_sent - sent0) / n,
                "bytes_received_per_update": (source.bytes_received - recv0) / n,
                "rates": rates}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.project:
        with open(args.project) as f:
            out = json.load(f)
        out["local"] = {int(k): v for k, v in out["local"].items()}
        print(markdown_table(out))
        for bw in args.bandwidth_gbit:
            print(projection_table(out, bw))
        return 0
    try:
        import dask.array as da
    except ImportError:
        from backprop.version import install_hint

        print(f"error: the distributed benchmark needs Dask: {install_hint('dask')}", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.layers.split(",")]
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    itemsize = np.dtype(args.dtype).itemsize
    out = {"network": sizes, "dtype": args.dtype, "parameters": n_params,
           "parameter_bytes": n_params * itemsize, "rows": args.rows, "cpus": os.cpu_count(),
           "runs": [], "local": {}, "round_trip": {}}
    print(f"network {sizes} ({n_params:,} parameters, {n_params * itemsize / 1e6:.2f} MB {args.dtype}), "
          f"{args.rows:,} rows, {os.cpu_count()} CPUs; median and best of {args.repeats} runs", flush=True)
    for n in args.workers:
        cluster, client = _cluster(n)
        try:
            if n == min(args.workers):
                out["worker_blas"] = next(iter(client.run(_worker_blas).values()))
                worker = sorted(client.nthreads())[0]
                for B in args.batch_sizes:
                    job = client.submit(_local_rate, sizes, args.dtype, args.rows, B, args.updates,
                                        args.repeats, workers=[worker], pure=False)
                    out["local"][B] = job.result(timeout=600)
                    rate = out["local"][B]
                    print(f"  one process (Network.fit, 1 thread), B={B:>5}: "
                          f"{rate['median']:>10,.0f} samples/s (best {rate['best']:,.0f})", flush=True)
                tx, ty = _dask_data(da, 256, 2, 2, chunks=128)
                out["round_trip"] = _run(client, [2, 2, 2], args.dtype, tx, ty, 1, 200, args.repeats)
                print(f"  round trip of one update (2-2-2 network, B=1): "
                      f"{out['round_trip']['s_per_update'] * 1e3:.2f} ms "
                      f"(best {out['round_trip']['best_s_per_update'] * 1e3:.2f})", flush=True)
            chunks = -(-args.rows // (2 * n))  # two blocks per worker
            X, Y = _dask_data(da, args.rows, sizes[0], sizes[-1], chunks=chunks, dtype=args.dtype)
            for B in args.batch_sizes:
                load0 = os.getloadavg()[0]
                res = _run(client, sizes, args.dtype, X, Y, B, args.updates, args.repeats)
                res.update(workers=n, batch_size=B, load_average=(load0, os.getloadavg()[0]))
                out["runs"].append(res)
                print(f"  {n} worker(s), B={B:>5}: {res['samples_per_s']:>10,.0f} samples/s, "
                      f"{res['s_per_update'] * 1e3:7.2f} ms/update, "
                      f"sent {res['bytes_sent_per_update'] / 1e6:.2f} MB, "
                      f"received {res['bytes_received_per_update'] / 1e6:.2f} MB per update "
                      "(load average {:.1f} -> {:.1f})".format(*res["load_average"]), flush=True)
        finally:
            client.close(timeout=60)
            cluster.close(timeout=60)
    print(markdown_table(out))
    for bw in args.bandwidth_gbit:
        print(projection_table(out, bw))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return 0


def markdown_table(out):
    lines = ["| workers | batch | samples/s median (best) | ms/update median (best) | one process: samples/s "
             "median (best) | MB sent/update | MB received/update | load average |", "|---" * 8 + "|"]
    for r in out["runs"]:
        local = out["local"].get(r["batch_size"])
        one = f"{local['median']:,.0f} ({local['best']:,.0f})" if local else "-"
        lines.append(f"| {r['workers']} | {r['batch_size']} | {r['samples_per_s']:,.0f} "
                     f"({r['best_samples_per_s']:,.0f}) | {r['s_per_update'] * 1e3:.2f} "
                     f"({r['best_s_per_update'] * 1e3:.2f}) | {one} | "
                     f"{r['bytes_sent_per_update'] / 1e6:.3f} | "
                     f"{r['bytes_received_per_update'] / 1e6:.3f} | "
                     + ("{:.1f}-{:.1f} |".format(*r["load_average"]) if "load_average" in r else "- |"))
    return "\n".join(lines)


# -- projection to larger clusters ----------------------------------------------------------------------
#: bytes/s at which the driver adds one worker's gradient sums into the total (memory-bound, conservative)
ADD_RATE = 5e9
MACHINES = (4, 16, 64)


def model(out):
    """The per-update cost model fitted to the measurements:

    T(B, N) = a + B / (N r) + N c,   c = P s (1/bandwidth + 1/ADD_RATE)

    r: one worker's samples/s (``Network.fit`` in one process at the largest batch: compute-bound);
    a: the fixed cost of an update (driver loop, Dask round trip, optimizer), the median over the
    1-worker runs of T - B/r, at least the tiny network's round trip; N c: the driver sends P s bytes
    to each of N workers and receives as many (full duplex: one direction counts), then adds N sums.
    """
    big = max(out["local"])
    r = out["local"][big]["best"]
    ones = [x for x in out["runs"] if x["workers"] == min(x["workers"] for x in out["runs"])]
    a = statistics.median(x["best_s_per_update"] - x["batch_size"] / r for x in ones)
    a = max(a, out["round_trip"]["best_s_per_update"])
    return r, a, out["parameter_bytes"]


#: the latency of one step of a ring all-reduce (an assumption for a LAN, not measured here)
RING_STEP = 1e-4
#: fan-in of the tree reduction projected
FAN_IN = 4


def comm_times(n, a, c, hop, bw, ps):
    """Per-update communication beyond the fixed cost ``a``: (star, tree, ring), seconds.

    star (what backprop.distributed does): the driver exchanges P s bytes with each of n workers.
    tree: workers add their sums pairwise up a FAN_IN-ary tree (and forward the weights down it):
    ceil(log_FAN_IN n) - 1 extra levels of (hop + FAN_IN c), the driver's link carries FAN_IN c.
    ring all-reduce: every worker keeps the weights and applies the optimizer; 2 (n-1)/n P s / bw
    per worker plus 2 (n-1) steps of RING_STEP latency; no driver in the loop.
    """
    star = n * c
    levels = max(1, math.ceil(math.log(n, FAN_IN)))
    tree = min(n, FAN_IN) * c + (levels - 1) * (hop + FAN_IN * c)
    ring = 2 * (n - 1) / n * ps / bw + 2 * (n - 1) * RING_STEP
    return star, tree, ring


def projection_table(out, bandwidth_gbit):
    r, a, ps = model(out)
    bw = bandwidth_gbit * 1e9 / 8
    c = ps * (1 / bw + 1 / ADD_RATE)
    hop = out["round_trip"]["best_s_per_update"]
    batches = sorted({x["batch_size"] for x in out["runs"]})
    lines = [f"\nProjection at {bandwidth_gbit:g} Gbit/s: r = {r:,.0f} samples/s per worker, fixed cost "
             f"a = {a * 1e3:.2f} ms/update, P s = {ps / 1e6:.2f} MB (one worker's weights or sums)",
             "| machines | " + " | ".join(f"B={B}: samples/s (efficiency)" for B in batches)
             + " | driver link ms/update | batch for >= 80 %: star | 4-ary tree | ring all-reduce |",
             "|---" * (len(batches) + 5) + "|"]
    for n in MACHINES:
        star, tree, ring = comm_times(n, a, c, hop, bw, ps)
        cells = []
        for B in batches:
            t = a + B / (n * r) + star
            cells.append(f"{B / t:,.0f} ({B / (n * r) / t:.0%})")
        b80 = [4 * n * r * (a + x) for x in (star, tree, ring)]
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {star * 1e3:.1f} | "
                     + " | ".join(f"{b:,.0f}" for b in b80) + " |")
    return "\n".join(lines)

# No ``if __name__ == "__main__"``: run it as ``python -m bench --distributed`` (run as a script, this
# file's folder would come first on sys.path and ``import distributed`` would import this file).
