"""The ``backprop`` command line: train, evaluate, predict and inspect networks without Python.

    backprop train [DATA] [options]        train (default DATA: digits), save model.safetensors
    backprop evaluate MODEL [DATA]         loss, accuracy / R^2, confusion matrix
    backprop predict MODEL DATA [--out F]  predictions (CSV), streaming large CSV files
    backprop info MODEL                    architecture, loss, history

DATA is a built-in data set (see ``backprop.datasets``) or a CSV/TSV/.npz/Parquet file. Errors a
user can cause print one line ``error: ...`` on stderr and exit with status 2 (``--debug`` shows
the traceback); nothing is written then. Output files are written atomically.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import time
import traceback
import warnings

import click
import numpy as np

from backprop.version import __version__
from backprop.errors import BackpropError, InvalidInputError

#: the learning rate eta each optimizer gets unless --lr is given
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.1, "momentum": 0.02, "nesterov": 0.02}
DEFAULT_OUT = "model.safetensors"
DEFAULT_DATA = "digits"
#: options that may change when a run is resumed (everything else must match the checkpoint)
RESUMABLE = {"epochs", "out", "plot", "checkpoint", "checkpoint_every", "resume", "quiet", "as_json",
             "progress", "debug", "data_dir"}
#: without --epochs: enough epochs for about this many updates, within these bounds
AUTO_UPDATES = 2000
AUTO_EPOCHS = (20, 300)
#: epochs with at least this many updates also get a bar for the batches
BATCH_BAR_MIN_STEPS = 50
#: progress refreshes per second (and at most this many updates of the bars per second)
REFRESH_PER_SECOND = 10


# ---------------------------------------------------------------------------------------------
# the group: one-line errors, exit status 2
# ---------------------------------------------------------------------------------------------
class _Main(click.Group):
    """A click group whose errors are one ``error: ...`` line on stderr (exit 2), not a traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        head = argv[:argv.index("--")] if "--" in argv else argv
        debug = "--debug" in head or os.environ.get("BACKPROP_DEBUG", "") not in ("", "0")
        old_show = warnings.showwarning
        warnings.showwarning = _show_warning
        try:
            rv = super().main(argv, prog_name or "backprop", complete_var, standalone_mode=False, **extra)
            status = rv if isinstance(rv, int) else 0
        except click.exceptions.Exit as exc:
            status = exc.exit_code
        except click.Abort:
            _error("interrupted", debug)
            status = 130
        except _NoArgsIsHelp as exc:  # plain `backprop`: the help, as --help gives it
            click.echo(exc.ctx.get_help())
            status = 0
        except click.ClickException as exc:
            msg = exc.format_message()
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, click.UsageError) and ctx is not None:
                msg += f" (see '{ctx.command_path} --help')"
            _error(msg, debug)
            status = 2
        except BackpropError as exc:
            _error(str(exc), debug)
            status = 2
        except KeyboardInterrupt:
            _error("interrupted", debug)
            status = 130
        except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            _error(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), debug)
            status = 2
        except MemoryError:
            _error("out of memory; use a smaller network, batch size or data set", debug)
            status = 1
        except OSError as exc:
            _error(str(exc), debug)
            status = 1
        except Exception as exc:  # a bug: still one line, the traceback with --debug
            _error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", debug)
            status = 1
        finally:
            warnings.showwarning = old_show
        sys.stdout.flush()
        sys.exit(status)


#: click >= 8.2 raises this for a group called without a command; older versions print the help
_NoArgsIsHelp = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _error(message, debug):
    if debug:
        traceback.print_exc()
    one_line = " ".join(str(message).split())
    click.echo(f"error: {one_line}", err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {' '.join(str(message).split())}", err=True)


def _debug_option(f):
    return click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
                        help="Show the full traceback of an error.")(f)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backprop")
@_debug_option
def main():
    """Train feedforward networks by backpropagation, then evaluate, predict and inspect them.

    Start with `backprop train` (scikit-learn's digits), then
    `backprop evaluate model.safetensors`.
    """


# ---------------------------------------------------------------------------------------------
# shared options and helpers
# ---------------------------------------------------------------------------------------------
def _data_options(f):
    opts = [
        click.option("--target", help="Target column of a CSV/TSV/Parquet file (default: the last column)."),
        click.option("--task", type=click.Choice(["classification", "regression"]),
                     help="Override the task guessed from the target column."),
        click.option("--test-fraction", type=float,
                     help="Hold out this fraction of a file's rows as its test part (seeded, stratified)."),
        click.option("--test-data", "test_file", type=click.Path(dir_okay=False),
                     help="A second file used as the test part."),
        click.option("--n-samples", type=int, help="Generated data sets: number of points."),
        click.option("--noise", type=float, help="Generated data sets: noise level."),
        click.option("--data-seed", type=int, help="Generated data sets: seed of the generator."),
        click.option("--classes", "n_classes", type=int, help="spirals/gaussians: number of classes."),
        click.option("--data-dir", type=click.Path(file_okay=False),
                     help="Folder of the fashion-mnist IDX files (default: $BACKPROP_FASHION_MNIST or "
                          "/usr/share/datasets/fashion-mnist)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


_DATA_KEYS = {"target": "target", "task": "task", "test_fraction": "test_fraction", "test_file": "test_file",
              "n_samples": "n_samples", "noise": "noise", "data_seed": "seed", "n_classes": "classes",
              "data_dir": "data_dir"}


def _pop_data_options(kw):
    """The data options of a command as keyword arguments of :func:`backprop.datasets.load`."""
    out = {}
    for opt, key in _DATA_KEYS.items():
        v = kw.pop(opt, None)
        if v is not None:
            out[key] = v
    return out


class _UI:
    """Where output goes: progress on stderr (when it is a terminal), tables or JSON on stdout."""

    def __init__(self, quiet=False, as_json=False, progress=None):
        from rich.console import Console

        self.quiet, self.json = quiet, as_json
        self.err = Console(stderr=True, force_terminal=True if progress else None, highlight=False)
        self.out = Console(highlight=False, soft_wrap=False)
        self.progress = (not quiet) and (progress if progress is not None else self.err.is_terminal)

    def note(self, text):
        if not self.quiet:
            click.echo(text, err=True)

    def table(self, *renderables):
        """Print tables and lines (str: rich markup) on stdout, unless --quiet or --json."""
        if not (self.quiet or self.json):
            for r in renderables:
                for item in r if isinstance(r, list) else [r]:
                    self.out.print(item, soft_wrap=isinstance(item, str))

    def dump(self, obj):
        if self.json:
            click.echo(json.dumps(obj, default=_jsonable))


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def _check_out_path(path, what="--out"):
    """Fail before any work if ``path`` cannot be written (missing folder, a folder itself)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InvalidInputError(f"{what} {path!r} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InvalidInputError(f"{what} {path!r}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InvalidInputError(f"{what} {path!r}: folder {folder} is not writable")
    return path


def _parse_layers(text):
    text = text.strip()
    if text in ("", "none", "0"):
        return []
    try:
        widths = [int(t) for t in text.split(",")]
    except ValueError:
        widths = None
    if widths is None or any(w < 1 for w in widths):
        raise InvalidInputError(f"--layers must be comma-separated positive widths like 128,64, got {text!r}")
    return widths


def _parse_hidden(text, n_hidden):
    from backprop.core.activations import HIDDEN_ACTIVATIONS

    names = [t.strip() for t in text.split(",") if t.strip()]
    for n in names:
        if n not in HIDDEN_ACTIVATIONS:
            raise InvalidInputError(f"--hidden: unknown activation {n!r}; valid names are: "
                                    f"{', '.join(HIDDEN_ACTIVATIONS)}")
    if len(names) == 1:
        return names * n_hidden
    if len(names) != n_hidden:
        raise InvalidInputError(
            f"--hidden lists {len(names)} activations but --layers has {n_hidden} hidden layers"
        )
    return names


def _explicit(ctx, name):
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


# ---------------------------------------------------------------------------------------------
# data in the network's space
# ---------------------------------------------------------------------------------------------
def _targets(y, meta, n_out, dtype):
    """Raw targets -> the network's target matrix (one-hot rows, a 0/1 column, or scaled numbers)."""
    from backprop.data.datasets import encode_labels

    if meta["task"] == "classification":
        idx = encode_labels(y, meta["classes"])
        if n_out == 1:
            return idx.astype(dtype).reshape(-1, 1), idx
        Y = np.zeros((idx.size, n_out), dtype=dtype)
        Y[np.arange(idx.size), idx] = 1
        return Y, idx
    y = np.asarray(y, dtype=np.float64)
    Y = y.reshape(len(y), -1)
    if Y.shape[1] != n_out:
        raise InvalidInputError(f"the data has {Y.shape[1]} target columns but the model predicts {n_out}")
    ts = meta.get("target_standardize")
    if ts:
        Y = (Y - np.asarray(ts["mean"])) / np.asarray(ts["scale"])
    return Y.astype(dtype), y


def _inputs(X, meta, net, source):
    """Raw features -> the network's input (standardized with the model's statistics)."""
    from backprop.data.datasets import apply_standardize

    if X.shape[1] != net.sizes[0]:
        trained = (meta.get("dataset") or {}).get("name")
        raise InvalidInputError(
            f"{source} has {X.shape[1]} features but the model expects {net.sizes[0]}"
            + (f" (it was trained on {trained})" if trained else "")
        )
    stats = meta.get("standardize")
    return apply_standardize(X, stats, net.dtype) if stats else np.ascontiguousarray(X, dtype=net.dtype)


def _decode(yhat, meta):
    """Network outputs -> (predictions in the original labels/units, class probabilities or None)."""
    if meta["task"] == "classification":
        classes = np.asarray(meta["classes"], dtype=object)
        if yhat.shape[1] == 1:
            p = yhat[:, 0].astype(np.float64)
            return classes[(p >= 0.5).astype(np.intp)], np.c_[1 - p, p]
        return classes[yhat.argmax(axis=1)], yhat
    Y = yhat.astype(np.float64)
    ts = meta.get("target_standardize")
    if ts:
        Y = Y * np.asarray(ts["scale"]) + np.asarray(ts["mean"])
    return Y, None


def _scores(net, loss, X, Y, meta, idx_or_y, chunk=8192):
    """Loss (network space) and accuracy or R^2 of (X, Y); also the predicted class indices / values."""
    from backprop.core.metrics import r2

    total = 0.0
    yhat = np.empty((X.shape[0], net.sizes[-1]), dtype=net.dtype)
    for s in range(0, X.shape[0], chunk):
        xb, yb = X[s:s + chunk], Y[s:s + chunk]
        total += net.loss(xb, yb, loss) * xb.shape[0]
        yhat[s:s + chunk] = net.predict(xb)
    out = {"loss": total / X.shape[0], "n": int(X.shape[0])}
    if meta["task"] == "classification":
        pred = (yhat[:, 0] >= 0.5).astype(np.intp) if yhat.shape[1] == 1 else yhat.argmax(axis=1)
        out["accuracy"] = float(np.mean(pred == idx_or_y))
        return out, pred
    values, _ = _decode(yhat, meta)
    truth = np.asarray(idx_or_y, dtype=np.float64).reshape(len(values), -1)
    out["r2"] = r2(truth, values)
    out["rmse"] = float(np.sqrt(np.mean((truth - values) ** 2)))
    return out, values


# ---------------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------------
class _Progress:
    """A rich progress display fed by the trainer's hooks; updated at most ~10 times a second."""

    def __init__(self, console, *, epochs, start_epoch, steps_per_epoch):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(
            TextColumn("[bold]{task.description:>7}"), BarColumn(bar_width=30), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TextColumn("eta"), TimeRemainingColumn(),
            TimeElapsedColumn(), console=console, refresh_per_second=REFRESH_PER_SECOND,
        )
        self.epoch_task = self.progress.add_task("epochs", total=epochs, completed=start_epoch, stats="")
        self.batch_task = None
        if steps_per_epoch >= BATCH_BAR_MIN_STEPS:
            self.batch_task = self.progress.add_task("batches", total=steps_per_epoch, stats="")
        self.samples = 0
        self.start = self._last = time.perf_counter()
        self._loss_sum = 0.0
        self._loss_n = 0

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def rate(self):
        return self.samples / max(time.perf_counter() - self.start, 1e-9)

    def on_step(self, net, info):
        # called after every update: keep it to a few additions unless a refresh is due
        self.samples += info["batch_size"]
        self._loss_sum += info["loss"] * info["batch_size"]
        self._loss_n += info["batch_size"]
        if self.batch_task is None:
            return
        now = time.perf_counter()
        if now - self._last < 1.0 / REFRESH_PER_SECOND:
            return
        self._last = now
        loss = self._loss_sum / max(self._loss_n, 1)
        self.progress.update(self.batch_task, completed=info["step"],
                             stats=f"loss {loss:.4f}  {self.rate():,.0f} samples/s")

    def on_epoch(self, net, info):
        stats = f"loss {info['loss']:.4f}"
        if "val_metric" in info:
            name = "val acc" if info.get("metric") == "accuracy" else "val R²"
            stats += f"  {name} {info['val_metric']:.4f}"
        stats += f"  {self.rate():,.0f} samples/s"
        self.progress.update(self.epoch_task, completed=info["epoch"], stats=stats)
        if self.batch_task is not None:
            self.progress.reset(self.batch_task, stats="")
        self._loss_sum, self._loss_n = 0.0, 0
        return None


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------
@main.command()
@click.argument("data", required=False)
@click.option("--layers", default="256,128", show_default=True,
              help="Hidden layer widths, comma-separated ('' for none).")
@click.option("--hidden", default="relu", show_default=True,
              help="Hidden activation g_h: one name, or one per hidden layer (comma-separated).")
@click.option("--output", help="Output activation g_o (default: softmax for classes, identity for numbers).")
@click.option("--loss", help="Loss E (default: cross_entropy for softmax, binary_cross_entropy for sigmoid, "
                             "else mse).")
@click.option("--mode", type=click.Choice(["online", "batch", "minibatch"]),
              help="online (B = 1), batch (B = m) or minibatch (B = --batch-size, default 32).")
@click.option("--batch-size", type=int, help="Mini-batch size B (default 32).")
@click.option("--epochs", type=int, help="Passes over the training data (default: enough for about "
                                           f"{AUTO_UPDATES:,} updates, at least {AUTO_EPOCHS[0]}, at most "
                                           f"{AUTO_EPOCHS[1]}).")
@click.option("--lr", type=float, help="Learning rate eta (default: 0.001 for adam, 0.1 for sgd, "
                                       "0.02 for momentum/nesterov).")
@click.option("--optimizer", type=click.Choice(["sgd", "momentum", "nesterov", "adam"]), default="adam",
              show_default=True, help="sgd is the delta rule, eq. (5).")
@click.option("--l2", type=float, default=0.0, show_default=True, help="Weight decay (penalty l2/2 sum w^2).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initial weights, the shuffling and the validation split.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True,
              help="Fraction of the training part kept for validation (0: none).")
@click.option("--early-stopping", type=int, metavar="N",
              help="Stop after N epochs without improvement of the validation loss "
                   "(restores the best weights).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--standardize/--no-standardize", default=None,
              help="Scale features to mean 0, sd 1 (default: on for tabular data, off for images); "
                   "the statistics are saved in the model.")
@click.option("--out", default=DEFAULT_OUT, show_default=True, type=click.Path(),
              help="Model file to write (safetensors).")
@click.option("--plot", metavar="PREFIX", help="Write the loss curve (and, for 2-D data, the decision "
                                               "boundary) as PREFIX-loss.png / PREFIX-boundary.png.")
@click.option("--record-gradients", is_flag=True,
              help="Record mean |delta| and the gradient norm per layer and epoch "
                   "(for `backprop plot MODEL --what gradients`).")
@click.option("--checkpoint", type=click.Path(), help="Write a checkpoint (for --resume) to this file.")
@click.option("--checkpoint-every", type=int, metavar="N", help="Checkpoint every N epochs (default 1).")
@click.option("--resume", type=click.Path(), help="Continue the run saved in this checkpoint.")
@_data_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the table.")
@click.option("--progress/--no-progress", default=None, envvar="BACKPROP_PROGRESS",
              help="Show the live progress bar (default: when stderr is a terminal).")
@_debug_option
@click.pass_context
def train(ctx, data, **kw):
    """Train a network on DATA (a built-in set or a file; default: digits) and save it.

    Built-ins: xor, circles, moons, spirals, gaussians, sin, digits, iris, fashion-mnist. Training
    uses the training part of a built-in; `evaluate` and `predict` default to its test part.
    """
    ui = _UI(kw.pop("quiet"), kw.pop("as_json"), kw.pop("progress"))
    data_opts = _pop_data_options(kw)
    data_dir = data_opts.pop("data_dir", None)
    resume = kw.pop("resume")
    out = _check_out_path(kw.pop("out"))
    plot = kw.pop("plot")
    if plot:
        _check_out_path(plot + "-loss.png", "--plot")
    checkpoint, every = kw.pop("checkpoint"), kw.pop("checkpoint_every")
    if every is not None and every < 1:
        raise InvalidInputError(f"--checkpoint-every must be at least 1, got {every}")
    if every is not None and not (checkpoint or resume):
        raise InvalidInputError("--checkpoint-every needs --checkpoint PATH")
    if checkpoint:
        _check_out_path(checkpoint, "--checkpoint")

    for path, what in ((out, "--out"), (checkpoint, "--checkpoint")):
        if path and data and os.path.exists(path) and os.path.exists(data) and os.path.samefile(path, data):
            raise InvalidInputError(f"{what} {path!r} is the data file; choose another name")
    state = None
    if resume:
        cfg, state = _resume_config(ctx, resume, data, data_opts, kw)
        checkpoint = checkpoint or resume
    else:
        cfg = dict(kw)
        cfg["data"] = data or DEFAULT_DATA
        cfg["data_options"] = data_opts
    prep = _prepare(cfg, data_dir)
    net, trainer = _build(cfg, prep, state)

    from backprop.train import checkpoint as ckpt

    extra = {"train_config": cfg}
    if checkpoint:
        trainer.callbacks.append(ckpt.checkpoint_callback(checkpoint, trainer, every or 1, extra))
    start_epoch = trainer.epoch
    with contextlib.ExitStack() as stack:
        if ui.progress:
            bar = stack.enter_context(_Progress(
                ui.err, epochs=trainer.epochs, start_epoch=start_epoch,
                steps_per_epoch=-(-len(prep["X"]) // _batch_size(cfg, len(prep["X"]))),
            ))
            trainer.on_step = bar.on_step
            trainer.callbacks.insert(0, bar.on_epoch)
        guard = stack.enter_context(ckpt.interrupt_guard(trainer))
        history = trainer.run(prep["X"], prep["Y"])
        interrupted = history.interrupted and guard.signum is not None
        # the checkpoint first, at once: nothing computed after it can lose the run
        # (with --checkpoint the final state is kept too, so a later --resume --epochs N can go on)
        path = checkpoint or (_default_checkpoint(out) if interrupted else None)
        if path:
            ckpt.save_checkpoint(path, trainer, extra)

    summary = _train_summary(net, trainer, prep, cfg, history, out)
    metadata = _model_metadata(cfg, prep, history, summary)
    status = 0
    if interrupted:
        net.save(out, **metadata)
        import signal

        name = signal.Signals(guard.signum).name
        click.echo(f"interrupted by {name} in epoch {trainer.epoch + 1} after {history.n_updates:,} updates: "
                   f"checkpoint written to {path}, "
                   f"model to {out}; continue with: backprop train --resume {path}", err=True)
        status = guard.exit_status
    else:
        net.save(out, **metadata)
    summary["model"] = out
    if plot:
        _plots(plot, net, prep, history, ui)
    ui.dump(summary)
    ui.table(_summary_table(summary, prep["meta"]["task"]))
    return status


def _batch_size(cfg, m):
    if cfg["mode"] == "online":
        return 1
    if cfg["mode"] == "batch":
        return m
    return min(cfg["batch_size"] or 32, m)


def _default_checkpoint(out):
    stem, ext = os.path.splitext(out)
    return f"{stem}.ckpt{ext or '.safetensors'}"


def _resume_config(ctx, resume, data, data_opts, kw):
    """The run's configuration from the checkpoint; options given now must agree with it."""
    from backprop.train.checkpoint import load_checkpoint

    state, extra = load_checkpoint(resume)
    cfg = extra.get("train_config") if isinstance(extra, dict) else None
    if not isinstance(cfg, dict) or "data" not in cfg:
        raise InvalidInputError(f"checkpoint {resume!r} was not written by `backprop train`; "
                                "resume it from Python with Trainer.load_state_dict")
    if data is not None and data != cfg["data"]:
        raise InvalidInputError(
            f"the checkpoint trained on {cfg['data']!r}, not {data!r}; drop DATA to resume"
        )
    for name, value in kw.items():
        if name in RESUMABLE or not _explicit(ctx, name):
            continue
        if cfg.get(name) != value:
            raise InvalidInputError(
                f"--{name.replace('_', '-')} {value} differs from the checkpoint's {cfg.get(name)!r}; "
                "drop it to resume the same run"
            )
    for key, value in data_opts.items():
        if cfg["data_options"].get(key) != value:
            raise InvalidInputError(
                f"data option {key}={value!r} differs from the checkpoint's; drop it to resume"
            )
    cfg = dict(cfg)
    if _explicit(ctx, "epochs"):
        cfg["epochs"] = kw["epochs"]
    return cfg, state


def _prepare(cfg, data_dir):
    """Load the data, encode the targets, split off validation rows and standardize (cfg is completed)."""
    from backprop.data import datasets

    ds = datasets.load(cfg["data"], data_dir=data_dir, **cfg["data_options"])
    if ds.y is None:
        raise InvalidInputError(f"{cfg['data']} has no target column")
    task = ds.task
    meta = {"task": task, "feature_names": list(ds.feature_names), "target": ds.target}
    output = cfg.get("output")
    if task == "classification":
        classes = list(ds.classes) if ds.classes else datasets.find_classes(ds.y, ds.y_test)
        if len(classes) < 2:
            raise InvalidInputError(
                f"the target {ds.target!r} of {cfg['data']} has one class only ({classes[0]!r}); "
                "a classifier needs at least two (use --task regression for numbers)"
            )
        meta["classes"] = classes
        output = output or "softmax"
        n_out = 1 if (output == "sigmoid" and len(classes) == 2) else len(classes)
    else:
        output = output or "identity"
        if output == "softmax":
            raise InvalidInputError(
                f"the target {ds.target!r} holds numbers (regression), which a softmax output cannot "
                "produce; use --output identity, or --task classification if they are class labels"
            )
        n_out = 1 if np.ndim(ds.y) == 1 else np.shape(ds.y)[1]
    cfg["output"] = output
    if cfg.get("loss") is None:
        cfg["loss"] = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(output, "mse")
    if cfg.get("lr") is None:
        cfg["lr"] = DEFAULT_LR[cfg["optimizer"]]
    if cfg.get("standardize") is None:
        cfg["standardize"] = ds.kind != "image"

    X, y = ds.X, ds.y
    m = X.shape[0]
    vf = cfg["val_fraction"]
    if not 0.0 <= vf < 1.0:
        raise InvalidInputError(f"--val-fraction must lie in [0, 1), got {vf:g}")
    n_val = int(round(vf * m)) if vf > 0 else 0
    if vf > 0 and n_val == 0:
        n_val = 1
    if m - n_val < 1:
        raise InvalidInputError(f"--val-fraction {vf:g} leaves no training rows of {m}")
    perm = np.random.default_rng(cfg["seed"]).permutation(m)
    fit_idx, val_idx = np.sort(perm[n_val:]), np.sort(perm[:n_val])
    meta["standardize"] = datasets.fit_standardize(X[fit_idx]) if cfg["standardize"] else None
    if task == "regression" and cfg["standardize"]:
        Yf = np.asarray(y, np.float64).reshape(m, -1)[fit_idx]
        meta["target_standardize"] = datasets.fit_standardize(Yf)
    dtype = np.dtype(cfg["dtype"])

    def inputs(A):
        return (datasets.apply_standardize(A, meta["standardize"], dtype) if meta["standardize"]
                else np.ascontiguousarray(A, dtype=dtype))

    if cfg.get("epochs") is None:  # small data sets need more passes for the same number of updates
        steps = -(-(m - n_val) // _batch_size(cfg, m - n_val))
        cfg["epochs"] = int(min(AUTO_EPOCHS[1], max(AUTO_EPOCHS[0], -(-AUTO_UPDATES // steps))))
    prep = {"meta": meta, "n_out": n_out, "n_features": X.shape[1], "dataset": ds}
    prep["X"] = inputs(X[fit_idx])
    if X.shape[1] == 2:  # kept for the decision-boundary plot, drawn in the data's own coordinates
        prep["raw_2d"] = (X[fit_idx], y[fit_idx])
    prep["Y"], prep["y"] = _targets(y[fit_idx], meta, n_out, dtype)
    prep["val"] = None
    if n_val:
        Yv, yv = _targets(y[val_idx], meta, n_out, dtype)
        prep["val"] = (inputs(X[val_idx]), Yv, yv)
    prep["test"] = None
    if ds.has_test and ds.y_test is not None:
        Yt, yt = _targets(ds.y_test, meta, n_out, dtype)
        prep["test"] = (inputs(ds.X_test), Yt, yt)
    return prep


def _build(cfg, prep, state):
    from backprop.model.network import Network
    from backprop.train.trainer import Trainer

    layers = _parse_layers(cfg["layers"])
    hidden = _parse_hidden(cfg["hidden"], len(layers))
    sizes = [prep["n_features"], *layers, prep["n_out"]]
    net = Network(sizes, hidden=hidden or "relu", output=cfg["output"], seed=cfg["seed"], dtype=cfg["dtype"])
    val = prep["val"]
    trainer = Trainer(
        net, loss=cfg["loss"], epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"],
        mode=cfg["mode"], optimizer=cfg["optimizer"], l2=cfg["l2"], seed=cfg["seed"],
        validation_data=None if val is None else val[:2], early_stopping=cfg["early_stopping"],
        record_gradients=bool(cfg.get("record_gradients")),
    )
    if state is not None:
        trainer.load_state_dict(state)
    return net, trainer


def _train_summary(net, trainer, prep, cfg, history, out):
    meta = prep["meta"]
    parts = {"train": (prep["X"], prep["Y"], prep["y"])}
    if prep["val"] is not None:
        parts["validation"] = prep["val"]
    if prep["test"] is not None:
        parts["test"] = prep["test"]
    summary = {"data": cfg["data"], "epochs": history.epochs, "time": round(history.time, 3),
               "n_parameters": int(net.n_parameters), "sizes": list(net.sizes),
               "stopped_early": history.stopped_early, "interrupted": history.interrupted}
    for name, (X, Y, y) in parts.items():
        summary[name], _ = _scores(net, trainer.loss, X, Y, meta, y)
    return summary


def _model_metadata(cfg, prep, history, summary):
    ds = prep["dataset"]
    meta = dict(prep["meta"])
    options = dict(ds.options)
    if ds.name not in _builtin_names():
        options["target"] = ds.target
        if cfg["data_options"].get("task"):
            options["task"] = cfg["data_options"]["task"]
    meta.update(
        loss=cfg["loss"],
        dataset={"name": cfg["data"], "options": options},
        history=history.to_dict(),
        training={k: cfg[k] for k in ("layers", "hidden", "output", "loss", "mode", "batch_size", "epochs",
                                      "lr", "optimizer", "l2", "seed", "val_fraction", "early_stopping",
                                      "dtype", "standardize")},
        metrics={k: summary[k] for k in ("train", "validation", "test") if k in summary},
    )
    return meta


def _builtin_names():
    from backprop.data.datasets import BUILTINS

    return BUILTINS


def _plots(prefix, net, prep, history, ui):
    """The loss curve and (2-D classification data) the decision boundary, via backprop.plots."""
    try:
        from backprop.see import plots
    except ImportError:
        ui.note("note: --plot skipped: backprop.plots is not available")
        return
    if prefix.lower().endswith(".png"):
        loss_path, boundary_path = prefix, prefix[:-4] + "-boundary.png"
    else:
        loss_path, boundary_path = prefix + "-loss.png", prefix + "-boundary.png"
    try:
        plots.plot_loss(history.to_dict(), loss_path)
        written = [loss_path]
        meta = prep["meta"]
        if "raw_2d" in prep and meta["task"] == "classification":
            from backprop.data.datasets import apply_standardize

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
    from rich.table import Table

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


# ---------------------------------------------------------------------------------------------
# evaluate / predict: data for an existing model
# ---------------------------------------------------------------------------------------------
def _load_model(path):
    from backprop.io.registry import load

    net = load(path)
    meta = net.metadata
    if meta.get("task") not in ("classification", "regression"):
        meta["task"] = "classification" if net.output in ("softmax", "sigmoid") and meta.get("classes") \
            else "regression"
    if meta["task"] == "classification" and not meta.get("classes"):
        meta["classes"] = list(range(max(2, net.sizes[-1])))
    if not meta.get("feature_names"):
        meta["feature_names"] = [f"x{i}" for i in range(net.sizes[0])]
    meta.setdefault("loss", "mse" if net.output != "softmax" else "cross_entropy")
    return net, meta


def _model_data(meta, data, data_opts, *, require_target):
    """The data set ``data`` with the options the model was trained with (when it is the same set)."""
    from backprop.data import datasets

    recorded = meta.get("dataset") or {}
    if data is None:
        data = recorded.get("name")
        if not data:
            raise InvalidInputError("give DATA: the model does not record which data it was trained on")
    opts = {}
    if data == recorded.get("name") and isinstance(recorded.get("options"), dict):
        opts.update(recorded["options"])
    if data.lower() not in datasets.BUILTINS or os.path.exists(data):
        opts.setdefault("target", meta.get("target"))
        opts["feature_names"] = meta["feature_names"]
        opts["require_target"] = require_target
        if require_target and meta.get("task"):
            opts["task"] = meta["task"]
    else:
        opts.pop("target", None)
    opts.update(data_opts)
    opts = {k: v for k, v in opts.items() if v is not None}
    return data, datasets.load(data, **opts)


def _pick_split(ds, split):
    if split is None:
        split = "test" if ds.has_test else "all"
    X, y = ds.part(split)
    return X, y, split


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data", required=False)
@click.option("--split", type=click.Choice(["train", "test", "all"]),
              help="Part of DATA to evaluate (default: its test part if it has one, else all rows).")
@_data_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (loss, accuracy or r2, n, ...).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@_debug_option
def evaluate(model, data, split, as_json, quiet, **kw):
    """Evaluate MODEL on DATA (default: the data it was trained on; built-ins: their test part)."""
    ui = _UI(quiet, as_json)
    data_opts = _pop_data_options(kw)
    net, meta = _load_model(model)
    data, ds = _model_data(meta, data, data_opts, require_target=True)
    X, y, split = _pick_split(ds, split)
    if y is None:
        raise InvalidInputError(f"{data} has no target column {meta.get('target')!r} to evaluate against")
    Xn = _inputs(X, meta, net, data)
    Y, truth = _targets(y, meta, net.sizes[-1], net.dtype)
    result, pred = _scores(net, meta["loss"], Xn, Y, meta, truth)
    result = {"data": data, "split": split, **result}
    if meta["task"] == "classification":
        K = len(meta["classes"])
        cm = np.zeros((K, K), dtype=np.int64)
        np.add.at(cm, (truth, pred), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.diag(cm) / cm.sum(axis=0)
            recall = np.diag(cm) / cm.sum(axis=1)
        result["classes"] = meta["classes"]
        result["confusion_matrix"] = cm.tolist()
        result["precision"] = [None if np.isnan(v) else float(v) for v in precision]
        result["recall"] = [None if np.isnan(v) else float(v) for v in recall]
    ui.dump(result)
    if not (ui.quiet or ui.json):
        _print_evaluation(ui, result, meta)
    return 0


def _print_evaluation(ui, r, meta):
    from rich.table import Table

    ui.out.print(f"[bold]{r['data']}[/bold] ({r['split']} part, n = {r['n']:,})", soft_wrap=True)
    t = Table()
    t.add_column("loss", justify="right")
    if "accuracy" in r:
        t.add_column("accuracy", justify="right")
        t.add_row(f"{r['loss']:.4f}", f"{r['accuracy']:.2%}")
    else:
        t.add_column("R²", justify="right")
        t.add_column("RMSE", justify="right")
        t.add_row(f"{r['loss']:.4f}", f"{r['r2']:.4f}", f"{r['rmse']:.4g}")
    ui.out.print(t)
    if "confusion_matrix" not in r:
        return
    names = [str(c) for c in r["classes"]]
    if len(names) <= 20:
        ui.out.print("confusion matrix (rows: true class, columns: predicted class)", soft_wrap=True)
        short = max(map(len, names)) > 6  # long names: numbered columns, names on the rows only
        cm = Table()
        cm.add_column("")
        for k, n in enumerate(names):
            cm.add_column(str(k) if short else n, justify="right")
        for k, (n, row) in enumerate(zip(names, r["confusion_matrix"])):
            cm.add_row(f"{k} {n}" if short else n, *[str(v) for v in row])
        ui.out.print(cm)
    else:
        ui.out.print(f"confusion matrix: {len(names)} classes, see --json")
    pr = Table()
    for col in ("class", "precision", "recall", "n"):
        pr.add_column(col, justify="left" if col == "class" else "right")
    for n, p, rc, row in zip(names, r["precision"], r["recall"], r["confusion_matrix"]):
        pr.add_row(n, "-" if p is None else f"{p:.3f}", "-" if rc is None else f"{rc:.3f}", str(sum(row)))
    ui.out.print(pr)


# ---------------------------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------------------------
@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data")
@click.option("--out", type=click.Path(), help="CSV file to write (default: standard output).")
@click.option("--proba", is_flag=True, help="Add one probability column per class.")
@click.option("--split", type=click.Choice(["train", "test", "all"]),
              help="Part of a built-in DATA (default: its test part).")
@click.option("--chunk-size", type=int, default=8192, show_default=True,
              help="Rows read and predicted at a time (CSV files are streamed).")
@_data_options
@_debug_option
def predict(model, data, out, proba, split, chunk_size, **kw):
    """Predict DATA (a file or a built-in) with MODEL and write one CSV row per input row.

    Class labels come out as the original labels of the training data.
    """
    from backprop.data import datasets
    from backprop.io.atomic import atomic_open

    data_opts = _pop_data_options(kw)
    if chunk_size < 1:
        raise InvalidInputError(f"--chunk-size must be at least 1, got {chunk_size}")
    net, meta = _load_model(model)
    if proba and meta["task"] != "classification":
        raise InvalidInputError("--proba needs a classification model; this one predicts numbers")
    if out is not None:
        out = _check_out_path(out)
        if os.path.exists(out) and os.path.exists(data) and os.path.samefile(out, data):
            raise InvalidInputError(f"--out {out!r} is the input file; choose another name")
    stream = (os.path.exists(data) and datasets.file_format(data) == "csv" and split is None
              and not data_opts.get("test_fraction") and not data_opts.get("test_file"))
    if stream:
        for key in ("n_samples", "noise", "seed", "classes", "data_dir"):
            if key in data_opts:
                raise InvalidInputError(f"--{key.replace('_', '-')} does not apply to the file {data!r}")
        chunks = datasets.iter_feature_chunks(data, meta["feature_names"], target=meta.get("target"),
                                              chunk_rows=chunk_size)
    else:
        data, ds = _model_data(meta, data, data_opts, require_target=False)
        X, _, split = _pick_split(ds, split)
        chunks = (X[s:s + chunk_size] for s in range(0, X.shape[0], chunk_size))
    header = _prediction_header(meta, net, proba)
    sep = "\t" if out and out.lower().endswith((".tsv", ".tab")) else ","

    def write_all(f):
        w = csv.writer(f, delimiter=sep, lineterminator="\n")
        w.writerow(header)
        for X in chunks:
            yhat = net.predict(_inputs(X, meta, net, data))
            values, p = _decode(yhat, meta)
            if meta["task"] == "classification":
                cols = [[str(v) for v in values.tolist()]]
                if proba:
                    cols += [[f"{v:.6g}" for v in p[:, k].tolist()] for k in range(p.shape[1])]
            else:
                cols = [[repr(v) for v in values[:, k].tolist()] for k in range(values.shape[1])]
            w.writerows(zip(*cols))

    if out is None:
        write_all(sys.stdout)
        sys.stdout.flush()
    else:
        with atomic_open(out, "wb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            write_all(text)
            text.flush()
            text.detach()
    return 0


def _prediction_header(meta, net, proba):
    target = meta.get("target")
    if meta["task"] == "classification":
        cols = [target if isinstance(target, str) and target else "prediction"]
        if proba:
            cols += [f"proba_{c}" for c in meta["classes"]]
        return cols
    n = net.sizes[-1]
    if isinstance(target, list) and len(target) == n:
        return [str(t) for t in target]
    if n == 1:
        return [target if isinstance(target, str) and target else "prediction"]
    return [f"prediction_{k}" for k in range(n)]


# ---------------------------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------------------------
@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the architecture and metadata as JSON.")
@_debug_option
def info(model, as_json):
    """Show MODEL's architecture, activations, loss, parameter count and training history."""
    from rich.table import Table

    net, meta = _load_model(model)
    ui = _UI(False, as_json)
    layers = [{"layer": k + 1, "in": net.sizes[k], "out": net.sizes[k + 1],
               "activation": net.activations[k].name,
               "parameters": int(net.weights[k].size + net.biases[k].size)} for k in range(net.n_layers)]
    h = meta.get("history") or {}
    doc = {"model": model, "sizes": list(net.sizes), "layers": layers, "dtype": net.dtype.name,
           "n_parameters": int(net.n_parameters), "metadata": meta}
    ui.dump(doc)
    if as_json:
        return 0
    ui.out.print(f"[bold]{model}[/bold]: {'-'.join(map(str, net.sizes))} network, {net.dtype.name}",
                 soft_wrap=True)
    t = Table()
    for col in ("layer", "in", "out", "activation", "parameters"):
        t.add_column(col, justify="left" if col == "activation" else "right")
    for L in layers:
        t.add_row(str(L["layer"]), str(L["in"]), str(L["out"]), L["activation"], f"{L['parameters']:,}")
    t.add_row("", "", "", "total", f"{net.n_parameters:,}")
    ui.out.print(t)
    d = Table(show_header=False, box=None)
    d.add_column(style="bold")
    d.add_column()
    d.add_row("loss", str(meta.get("loss")))
    d.add_row("task", str(meta.get("task")))
    if meta.get("classes") is not None:
        cl = [str(c) for c in meta["classes"]]
        d.add_row("classes", ", ".join(cl[:20]) + (f" ... ({len(cl)})" if len(cl) > 20 else ""))
    ds = meta.get("dataset") or {}
    if ds:
        opts = ", ".join(f"{k}={v}" for k, v in (ds.get("options") or {}).items() if v is not None)
        d.add_row("data", f"{ds.get('name')}" + (f" ({opts})" if opts else ""))
    fn = meta.get("feature_names") or []
    d.add_row("features", f"{len(fn)}: " + ", ".join(map(str, fn[:8])) + (" ..." if len(fn) > 8 else ""))
    d.add_row("standardized", "yes" if meta.get("standardize") else "no")
    if h:
        line = f"{h.get('epochs', 0)} epochs, {h.get('n_updates', 0):,} updates, {h.get('time', 0):.1f} s"
        if h.get("loss"):
            line += f"; final loss {h['loss'][-1]:.4f}"
        if h.get("val_metric"):
            line += f", validation {h.get('metric')} {h['val_metric'][-1]:.4f}"
        if h.get("stopped_early"):
            line += f"; stopped early (best epoch {h.get('best_epoch')})"
        if h.get("interrupted"):
            line += "; interrupted"
        d.add_row("training", line)
    tr = meta.get("training") or {}
    if tr:
        keys = ("optimizer", "lr", "batch_size", "mode", "l2", "seed")
        d.add_row("settings", ", ".join(f"{k}={tr[k]}" for k in keys if tr.get(k) is not None))
    d.add_row("format",
              f"version {meta.get('format_version')}, written by backprop {meta.get('library_version')}")
    ui.out.print(d)
    return 0


# the explain/plot commands live in their own module (another team's); optional
try:
    from backprop.cli.see import explain, plot
except ImportError:
    pass
else:
    main.add_command(explain)
    main.add_command(plot)
