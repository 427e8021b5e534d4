"""``backprop train``: train a network on a data set and save it (with checkpoints, resume, plots,
and optionally on a Dask cluster)."""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import signal
from typing import Any

import click
from rich.table import Table

from backprop.cli import cluster
from backprop.cli import prepare as run_config
from backprop.cli.common import (
    SEED,
    UI,
    check_out_path,
    data_options,
    debug_option,
    explicit,
    pop_data_options,
    same_file,
)
from backprop.cli.errors import user_errors
from backprop.cli.progress import TrainingProgress
from backprop.data.datasets import apply_standardize
from backprop.errors import BackpropError, InvalidInputError
from backprop.see import plots
from backprop.train import checkpoint as ckpt
from backprop.train import defaults
from backprop.train.batching import MODES
from backprop.train.optimizers import Schedule


@click.command()
@click.argument("data", required=False)
@click.option("--layers", default=",".join(map(str, defaults.LAYERS)), show_default=True,
              help="Hidden layer widths, comma-separated ('' for none).")
@click.option("--hidden", default="relu", show_default=True,
              help="Hidden activation g_h: one name, or one per hidden layer (comma-separated).")
@click.option("--output", help="Output activation g_o (default: softmax for classes, identity for numbers).")
@click.option("--loss", help="Loss E (default: cross_entropy for softmax, binary_cross_entropy for sigmoid, "
                             "else mse).")
@click.option("--mode", type=click.Choice(list(MODES)),
              help="online (B = 1), batch (B = m) or minibatch (B = --batch-size).")
@click.option("--batch-size", type=int,
              help=f"Mini-batch size B (default {defaults.BATCH}; smaller for small data, at least "
                   f"{defaults.MIN_UPDATES_PER_EPOCH} updates an epoch).")
@click.option("--epochs", type=int, help="Passes over the training data (default: enough for about "
                                           f"{defaults.AUTO_UPDATES:,} updates, at least "
                                           f"{defaults.AUTO_EPOCHS[0]}, at most {defaults.AUTO_EPOCHS[1]}).")
@click.option("--lr", type=float, help="Learning rate eta (default: 0.001 for adam, 0.1 for sgd, "
                                       "0.02 for momentum/nesterov; adam 0.01 for fewer than "
                                       f"{defaults.SMALL_DATA:,} training rows).")
@click.option("--schedule", type=click.Choice(list(Schedule.NAMES)), default="constant", show_default=True,
              help="How eta changes: constant, invscaling (eta / t^power_t at update t) or exponential "
                   "(eta gamma^epoch).")
@click.option("--gamma", type=float, default=0.95, show_default=True,
              help="The factor per epoch of --schedule exponential.")
@click.option("--power-t", type=float, default=0.5, show_default=True,
              help="The exponent of --schedule invscaling.")
@click.option("--optimizer", type=click.Choice(["sgd", "momentum", "nesterov", "adam"]), default="adam",
              show_default=True, help="sgd is the delta rule, eq. (5).")
@click.option("--l2", type=float, help="Weight decay (penalty l2/2 sum w^2; default: "
                                       f"{defaults.SMALL_DATA_L2:g} for fewer than {defaults.SMALL_DATA:,} "
                                       "training rows, else 0).")
@click.option("--l1", type=float, default=0.0, show_default=True,
              help="L1 penalty l1 sum |w| on the weights (its subgradient l1 sign(w) joins the gradient).")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of the initial weights, the shuffling and the validation split.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True,
              help="Fraction of the training part kept for validation (0: none).")
@click.option("--early-stopping", type=int, metavar="N",
              help="Stop after N epochs without improvement of the validation loss (restores the best "
                   f"weights; 0: never). Default without --epochs: {defaults.SMALL_DATA_PATIENCE} for fewer "
                   f"than {defaults.SMALL_DATA:,} training rows, else never.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--standardize/--no-standardize", default=None,
              help="Scale features to mean 0, sd 1 (default: on for tabular data, off for images); "
                   "the statistics are saved in the model.")
@click.option("--out", type=click.Path(),
              help=f"Model file to write (safetensors) [default: {run_config.DEFAULT_OUT}; with --resume, "
                   "the resumed run's own file].")
@click.option("--plot", metavar="PREFIX", help="Write the loss curve (and, for 2-D data, the decision "
                                               "boundary) as PREFIX-loss.png / PREFIX-boundary.png (refused "
                                               "where one is the --out or --checkpoint file).")
@click.option("--record-gradients", is_flag=True,
              help="Record mean |delta| and the gradient norm per layer and epoch "
                   "(for `backprop plot MODEL --what gradients`).")
@click.option("--checkpoint", type=click.Path(), help="Write a checkpoint (for --resume) to this file.")
@click.option("--checkpoint-every", type=int, metavar="N", help="Checkpoint every N epochs (default 1).")
@click.option("--resume", type=click.Path(), help="Continue the run saved in this checkpoint.")
@cluster.dask_options
@data_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the table.")
@click.option("--progress/--no-progress", default=None, envvar="BACKPROP_PROGRESS",
              help="Show the live progress bar (default: when stderr is a terminal).")
@debug_option
@click.pass_context
@user_errors
def train(ctx: Any, data: Any, **kw: Any) -> Any:
    """Train a network on DATA (a built-in set or a file; default: digits) and save it.

    Built-ins: xor, circles, moons, spirals, gaussians, sin, plane, multigauss, digits, iris,
    fashion-mnist. Training uses the training part of a built-in; `evaluate` and `predict` default
    to its test part.
    """
    ui = UI(kw.pop("quiet"), kw.pop("as_json"), kw.pop("progress"))
    data_opts = pop_data_options(kw)
    data_dir = data_opts.pop("data_dir", None)
    resume, dask = kw.pop("resume"), cluster.pop_dask_options(kw)
    out, plot = kw.pop("out"), kw.pop("plot")
    checkpoint, every = kw.pop("checkpoint"), kw.pop("checkpoint_every")
    if every is not None and every < 1:
        raise InvalidInputError(f"--checkpoint-every must be at least 1, got {every}")
    if every is not None and not (checkpoint or resume):
        raise InvalidInputError("--checkpoint-every needs --checkpoint PATH")
    cfg, state, out, checkpoint = _run_config(ctx, data, data_opts, kw, resume, out, checkpoint)
    out = check_out_path(out or run_config.DEFAULT_OUT)
    if plot:
        check_out_path(_plot_paths(plot)[0], "--plot")
    if checkpoint:
        check_out_path(checkpoint, "--checkpoint")
    run_config.check_outputs(data or cfg["data"], out, checkpoint)
    if plot:
        _check_plot_paths(plot, out, checkpoint, data or cfg["data"])

    prep = run_config.prepare(cfg, data_dir)
    net, trainer = run_config.build(cfg, prep, state)
    # the model file travels with the checkpoint: a resumed run writes the same file, no other
    extra = {"train_config": cfg, "out": os.path.abspath(out)}
    if checkpoint:
        # the trainer's hook, not a callback: it leaves the compiled whole epochs open
        write = functools.partial(ckpt.save_checkpoint, checkpoint, trainer, extra)
        trainer.checkpoint_hook = (every or 1, write)
    history, guard, interrupted, path = _fit(ui, dask, cfg, prep, trainer, checkpoint, extra, out)

    summary = run_config.scores(net, prep, cfg, history)
    net.save(out, **run_config.model_metadata(cfg, prep, history, summary))
    status = 0
    if interrupted:
        assert path is not None  # an interrupted run always writes its checkpoint
        name = signal.Signals(guard.signum).name
        click.echo(f"interrupted by {name} in epoch {trainer.epoch + 1} after {history.n_updates:,} updates: "
                   f"checkpoint written to {path}, model to {out}; continue with: "
                   f"backprop train --resume {shlex.quote(path)}", err=True)
        status = guard.exit_status
    summary["model"] = out
    if plot:
        _plots(plot, net, prep, history, ui)
    ui.dump(summary)
    ui.table(_summary_table(summary, prep["meta"]["task"]))
    return status


def _run_config(ctx, data, data_opts, kw, resume, out, checkpoint):
    """``(cfg, state, out, checkpoint)``: a new run's configuration, or with --resume the checkpoint's
    (its state, and its model file and checkpoint unless given)."""
    if not resume:
        cfg = dict(kw, data=data or run_config.DEFAULT_DATA, data_options=data_opts, sized_defaults=True)
        return cfg, None, out, checkpoint
    cfg, state, resumed_out = run_config.resume_config(resume, data, data_opts, kw,
                                                       lambda name: explicit(ctx, name))
    if out is None:
        if resumed_out is None:
            raise InvalidInputError(f"checkpoint {resume!r} does not record its model file; give --out")
        out = resumed_out
    return cfg, state, out, checkpoint or resume


def _fit(ui, dask, cfg, prep, trainer, checkpoint, extra, out):
    """Run the training (with its progress bar, locally or on Dask) under the interrupt guard;
    returns ``(history, guard, interrupted, checkpoint path written or None)``."""
    with contextlib.ExitStack() as stack:
        if ui.progress:
            m = len(prep["X"])
            B = defaults.batch_size(m, cfg["mode"], cfg["batch_size"] or defaults.BATCH)
            bar = stack.enter_context(TrainingProgress(
                ui.err, epochs=trainer.epochs, start_epoch=trainer.epoch, start_pos=trainer.pos,
                steps_per_epoch=-(-m // B), rows=m))
            # the trainer's progress hook (per epoch and inside epochs), not on_step or a callback:
            # it leaves the compiled epochs open, batch bar or not
            trainer.progress = bar.on_progress
        guard = stack.enter_context(ckpt.interrupt_guard(trainer))
        if dask is not None:
            history = cluster.run(dask, trainer, prep, checkpoint, extra, guard)
        else:
            history = trainer.run(prep["X"], prep["Y"])
        interrupted = history.interrupted and guard.signum is not None
        # the checkpoint first, at once: nothing computed after it can lose the run
        # (with --checkpoint the final state is kept too, so a later --resume --epochs N can go on)
        path = checkpoint or (run_config.default_checkpoint(out) if interrupted else None)
        if path:
            ckpt.save_checkpoint(path, trainer, extra)
    return history, guard, interrupted, path


def _plot_paths(prefix: str) -> tuple[str, str]:
    """(loss curve, decision boundary) files that ``--plot PREFIX`` writes."""
    if prefix.lower().endswith(".png"):
        return prefix, prefix[:-4] + "-boundary.png"
    return prefix + "-loss.png", prefix + "-boundary.png"


def _check_plot_paths(prefix: str, out: str, checkpoint: str | None, data: str) -> None:
    """Refuse, before training, a plot that would replace the model, the checkpoint or the data
    (the plots are written last: the model just saved would be lost)."""
    for path in _plot_paths(prefix):
        for other, what in ((out, "the model's --out file"), (checkpoint, "the --checkpoint file"),
                            (data, "the data file")):
            if other and (os.path.abspath(path) == os.path.abspath(other) or same_file(path, other)):
                raise InvalidInputError(f"--plot {prefix!r} would write {path!r}, {what}; "
                                        "choose another prefix")


def _plots(prefix, net, prep, history, ui):
    """The loss curve and (2-D classification data) the decision boundary."""
    loss_path, boundary_path = _plot_paths(prefix)
    try:
        plots.plot_loss(history.to_dict(), loss_path)
        written = [loss_path]
        meta = prep["meta"]
        if "raw_2d" in prep and meta["task"] == "classification":
            stats = meta["standardize"]
            X2, y2 = prep["raw_2d"]
            transform = (lambda g: apply_standardize(g, stats, net.dtype)) if stats else None
            plots.plot_boundary(net, X2, y2, boundary_path, classes=meta["classes"], transform=transform)
            written.append(boundary_path)
    except (BackpropError, OSError, ValueError) as exc:  # the model is saved: a failed plot is a warning
        click.echo(f"warning: --plot failed: {' '.join(str(exc).split())}", err=True)
        return
    ui.note(f"plots: {', '.join(written)}")


def _fmt_metric(part, task):
    if part is None:
        return "-", "-"
    m = f"{part['accuracy']:.2%}" if task == "classification" else f"{part['r2']:.4f}"
    return f"{part['loss']:.4f}", m


def _summary_table(summary, task):
    metric = "accuracy" if task == "classification" else "R²"
    t = Table()
    t.add_column("")
    t.add_column("loss", justify="right")
    t.add_column(metric, justify="right")
    t.add_column("n", justify="right")
    for name in ("train", "validation", "test"):
        if name in summary:
            loss, met = _fmt_metric(summary[name], task)
            t.add_row(name, loss, met, str(summary[name]["n"]))
    flags = (" (stopped early)" if summary["stopped_early"]
             else " (interrupted)" if summary["interrupted"] else "")
    return [
        f"[bold]backprop train {summary['data']}[/bold]", t,
        f"{summary['epochs']} epochs{flags} in {summary['time']:.1f} s; "
        f"{'-'.join(map(str, summary['sizes']))} network, {summary['n_parameters']:,} parameters; "
        f"saved to {summary.get('model')}",
    ]
