"""Checkpoints: stop a training run at any step and continue it later to the same bits.

A checkpoint holds everything a :class:`backprop.train.trainer.Trainer` changes while it trains --
the weights w (``weights``/``biases``), the optimizer's state (step count t, velocities,
moments), the random generator that shuffles each epoch, the position inside the current epoch
and the history -- plus the network's architecture and a free ``extra`` dict (the CLI keeps its
arguments and the data set there). Resuming it in a new :class:`Trainer` continues exactly where
the run stopped: the final weights are those of an uninterrupted run, bit for bit.

File format: that of :mod:`backprop.io` (``save_arrays``/``load_arrays``, kind ``"checkpoint"``):
safetensors for the arrays, one JSON document in safetensors' own metadata for the rest. Loading never
executes code, checks every tensor's name, shape and dtype (and here every value's finiteness and the
state's consistency) before using it, and turns every problem into a :class:`ModelFileError`. Writes
are atomic (:mod:`backprop.atomic`): a run killed while it writes leaves the previous checkpoint intact.

:func:`interrupt_guard` turns Ctrl-C (SIGINT) and SIGTERM into ``trainer.stop_requested``: the
current update finishes, :meth:`Trainer.run` returns, and the caller saves what it has.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import signal
import threading

import numpy as np

from backprop.core.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from backprop.core.validation import check_positive_int
from backprop.errors import InvalidInputError, InvalidTypeError, ModelFileError
from backprop.io import schema as sc
from backprop.io.container import dumps_checked, load_arrays, save_arrays
from backprop.train.optimizers import OPTIMIZERS, param_key

FORMAT = "backprop-checkpoint"
#: Version of the checkpoint's own layout (the file format itself is versioned by backprop.io).
CHECKPOINT_VERSION = 1
#: The ``kind`` tag of backprop.io files that hold a checkpoint.
KIND = "checkpoint"
_HISTORY_LISTS = ("loss", "val_loss", "val_metric", "lr", "mean_abs_delta", "grad_norm")
_HISTORY_INTS = ("n_updates", "updates_per_epoch", "batch_size", "epochs")


#: the JSON document of a checkpoint file (backprop.io.schema); check_state checks the rest
_FLOAT = sc.Num(finite=False)
_DOC = sc.Obj({
    "format": sc.Str((FORMAT,)), "checkpoint_version": sc.Int(1),
    "network": sc.architecture(),
    "trainer": sc.Map(sc.OneOf(sc.SCALAR, sc.List(sc.SCALAR)), max_len=1000),
    "state": sc.Obj({
        "optimizer": sc.Obj({"name": sc.Str(tuple(OPTIMIZERS)), "t": sc.COUNT, "epoch": sc.COUNT,
                             "lr0": sc.Num(), "lr": sc.Num()}, required=("name", "t", "epoch", "lr0", "lr"),
                            extra=sc.Anything()),
        "epoch": sc.COUNT, "pos": sc.COUNT, "bad_epochs": sc.COUNT, "epoch_loss": _FLOAT,
        "rng": sc.Map(sc.Anything(), max_len=100), "history": sc.history(),
        "best": sc.Optional(sc.Obj({"score": _FLOAT, "epoch": sc.COUNT}, required=("score", "epoch"))),
        "epoch_grad": sc.Optional(sc.Obj({k: sc.NUMBERS for k in ("delta", "grad", "_gsq")},
                                         required=("delta", "grad", "_gsq"))),
    }, required=("optimizer", "epoch", "pos", "bad_epochs", "epoch_loss", "rng", "history"),
        extra=sc.Anything()),
    "extra": sc.Map(sc.Anything()),
}, required=("format", "checkpoint_version", "network", "trainer", "state", "extra"))


def _check_document(doc, error, where):
    """The document against _DOC (after the format and version checks); raises ``error``."""
    try:
        _DOC.check(doc, "")
    except sc.Invalid as exc:
        raise error(f"{where}: metadata {exc}") from None


# -- saving ----------------------------------------------------------------------------------------
def architecture(net):
    """The JSON description of ``net`` that a checkpoint keeps (enough to rebuild it)."""
    return net.config()


def _json_seed(seed):
    return int(seed) if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) else None


def _settings(trainer):
    """The trainer's hyperparameters, for information and for checking a resume."""
    return {
        "loss": trainer.loss.name,
        "optimizer": trainer.optimizer.name,
        "lr": trainer.optimizer.lr0,
        "epochs": trainer.epochs,
        "batch_size": trainer.requested_batch_size,
        "mode": trainer.mode,
        "l2": trainer.l2,
        "shuffle": trainer.shuffle,
        "seed": _json_seed(trainer.seed),
        "early_stopping": trainer.patience,
        "min_delta": trainer.min_delta,
    }


def save_checkpoint(path, trainer, extra=None):
    """Write the state of ``trainer`` to ``path`` atomically; ``extra`` is a JSON-able dict kept with it.

    Safe to call from an epoch-end callback or after :meth:`Trainer.run` returned (also after an
    interruption, mid-epoch). Returns ``path``.
    """
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise InvalidTypeError(f"extra must be a dict, got {type(extra).__name__}")
    dumps_checked(extra, "extra")  # fails early, naming extra, if it holds something JSON cannot store
    state = trainer.state_dict()
    doc = {
        "format": FORMAT,
        "checkpoint_version": CHECKPOINT_VERSION,
        "network": architecture(trainer.net),
        "trainer": _settings(trainer),
        "state": state["meta"],
        "extra": extra,
    }
    # the reader's checks, on what it will read: never write a checkpoint that load_checkpoint refuses
    where = f"cannot save the checkpoint {os.fspath(path)}"
    _check_document(json.loads(dumps_checked(doc, "the checkpoint")), InvalidInputError, where)
    check_state({"meta": state["meta"], "arrays": state["arrays"], "network": doc["network"]},
                where=where)
    save_arrays(path, state["arrays"], doc, kind=KIND)
    return path


def checkpoint_callback(path, trainer, every=1, extra=None):
    """An epoch-end callback ``f(net, info)`` (for ``fit(callbacks=[...])``/``Trainer``) that writes a
    checkpoint of ``trainer`` to ``path`` every ``every`` epochs.

    ``extra`` is a dict or a function returning one (called at each write).
    """
    every = check_positive_int(every, "every")

    def write_checkpoint(net, info):
        if info["epoch"] % every == 0:
            save_checkpoint(path, trainer, extra() if callable(extra) else extra)

    return write_checkpoint


# -- loading ---------------------------------------------------------------------------------------
def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint`; return ``(state, extra)``.

    ``state`` is ready for :meth:`Trainer.load_state_dict` (``"meta"`` and ``"arrays"``) and also
    carries the ``"network"`` architecture and the ``"trainer"`` settings it was written with
    (:func:`backprop.model.files.network_from_state` rebuilds the network). Any problem with the
    file -- missing, truncated, not safetensors, not a checkpoint, a newer format, tensors that do not
    match the architecture -- raises :class:`ModelFileError` saying what is wrong.
    """
    arrays, doc = load_arrays(path, kind=KIND)  # the safetensors layer: checked before reading tensors
    where = f"checkpoint {os.fspath(path)}"
    if doc.get("format") != FORMAT:
        raise ModelFileError(f"{where} is not a backprop checkpoint (format {doc.get('format')!r}); "
                             "pass a file written with --checkpoint / save_checkpoint")
    version = doc.get("checkpoint_version")
    if not _is_int(version):
        raise ModelFileError(f"{where} has no valid checkpoint_version")
    if version > CHECKPOINT_VERSION:
        raise ModelFileError(
            f"{where} has checkpoint version {version}, newer than this backprop reads "
            f"({CHECKPOINT_VERSION}); upgrade backprop"
        )
    for key in ("network", "trainer", "state", "extra"):
        if not isinstance(doc.get(key), dict):
            raise ModelFileError(f"{where} is damaged: its metadata lacks the {key!r} object")
    state = {"meta": doc["state"], "arrays": arrays, "network": doc["network"], "trainer": doc["trainer"]}
    check_state(state, error=ModelFileError, where=where)
    _check_document(doc, ModelFileError, where)  # and every value's type, which check_state leaves
    return state, doc["extra"]


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    """A number that float() takes (an int beyond float's range is not)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
        return False
    try:
        float(v)
    except OverflowError:
        return False
    return True


# -- checking a state against a network -----------------------------------------------------------
def check_state(state, trainer=None, *, error=InvalidInputError, where="training state"):
    """Check that ``state`` is a complete, consistent training state (and fits ``trainer``'s network).

    Raises ``error`` naming the first problem; changes nothing. :meth:`Trainer.load_state_dict`
    calls it, so a wrong state never leaves a trainer half-loaded.
    """
    def fail(msg):
        raise error(f"{where}: {msg}")

    if not isinstance(state, dict) or not isinstance(state.get("meta"), dict) \
            or not isinstance(state.get("arrays"), dict):
        fail("expected a dict with 'meta' (dict) and 'arrays' (dict of arrays), "
             "as Trainer.state_dict() gives")
    meta, arrays = state["meta"], state["arrays"]
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            fail(f"array {name!r} is a {type(a).__name__}, not a NumPy array")

    arch = state.get("network")
    if arch is not None:
        arch = _check_architecture(arch, fail)
    if trainer is not None:
        net = trainer.net
        if arch is not None and (arch["sizes"] != net.sizes or arch["hidden"] != net.hidden
                                 or arch["output"] != net.output or arch["dtype"] != net.dtype.name):
            theirs = ", ".join(arch["hidden"] + [arch["output"]])
            ours = ", ".join(net.hidden + [net.output])
            fail(
                f"it was made for the network {arch['sizes']} ({theirs}, {arch['dtype']}) but this one is "
                f"{net.sizes} ({ours}, {net.dtype.name}); build the same network to resume"
            )
        sizes, dtype = net.sizes, net.dtype.name
        settings = state.get("trainer")
        if isinstance(settings, dict) and settings.get("loss") not in (None, trainer.loss.name):
            fail(f"it was trained with loss {settings['loss']!r}, this trainer uses {trainer.loss.name!r}")
    elif arch is not None:
        sizes, dtype = arch["sizes"], arch["dtype"]
    else:
        sizes = dtype = None
    L = None if sizes is None else len(sizes) - 1

    # the parameters, and the shape each key of the optimizer's state refers to
    if L is None:
        L = sum(1 for n in arrays if n.startswith("weights."))
        if L == 0:
            fail("it has no weights")
        shapes = {}
        for k in range(L):
            w, b = arrays.get(f"weights.{k}"), arrays.get(f"biases.{k}")
            if w is None or b is None or w.ndim != 2 or b.shape != (w.shape[1],):
                fail(f"weights.{k}/biases.{k} are missing or do not fit together")
            shapes[("w", k)], shapes[("b", k)] = w.shape, b.shape
        dtype = arrays["weights.0"].dtype.name
    else:
        shapes = {}
        for k in range(L):
            shapes[("w", k)], shapes[("b", k)] = (sizes[k], sizes[k + 1]), (sizes[k + 1],)
    known = set()
    for (kind, k), shape in shapes.items():
        name = f"{'weights' if kind == 'w' else 'biases'}.{k}"
        _check_array(arrays, name, shape, dtype, fail, finite=True)
        known.add(name)

    opt = meta.get("optimizer")
    if not isinstance(opt, dict) or not isinstance(opt.get("name"), str):
        fail("its optimizer state is missing")
    if trainer is not None and opt["name"] != trainer.optimizer.name:
        fail(f"it was trained with optimizer {opt['name']!r}, this trainer uses {trainer.optimizer.name!r}")
    for key in ("t", "epoch"):
        if not _is_int(opt.get(key)) or opt[key] < 0:
            fail(f"optimizer {key!r} must be an int >= 0")
    for key in ("lr0", "lr"):
        if not _is_num(opt.get(key)) or not math.isfinite(opt[key]):
            fail(f"optimizer {key!r} must be a finite number")
    for name in arrays:
        if name.startswith("opt."):
            parts = name.split(".", 2)
            try:
                key = param_key(parts[2]) if len(parts) == 3 else None
            except ValueError:
                key = None
            if key not in shapes:
                fail(f"array {name!r} names no parameter of the network")
            _check_array(arrays, name, shapes[key], dtype, fail, finite=True)
            known.add(name)

    for key in ("epoch", "pos", "bad_epochs"):
        if not _is_int(meta.get(key)) or meta[key] < 0:
            fail(f"{key!r} must be an int >= 0")
    if not _is_num(meta.get("epoch_loss")):
        fail("'epoch_loss' must be a number")
    if "perm" in arrays:
        perm = arrays["perm"]
        if perm.ndim != 1 or perm.dtype != np.int64 or perm.size < meta["pos"] \
                or not np.array_equal(np.sort(perm), np.arange(perm.size)):
            fail("array 'perm' is not a permutation of the samples")
        known.add("perm")
    if not isinstance(meta.get("rng"), dict):
        fail("the random generator's state is missing")
    try:
        bit_generator = np.random.PCG64 if trainer is None else type(trainer.rng.bit_generator)
        probe = np.random.Generator(bit_generator())
        probe.bit_generator.state = meta["rng"]
    except (TypeError, ValueError, KeyError, OverflowError, AttributeError, IndexError):
        fail("the random generator's state is invalid")
    _check_history(meta.get("history"), fail)
    best = meta.get("best")
    if best is not None:
        if not isinstance(best, dict) or not _is_num(best.get("score")) or not _is_int(best.get("epoch")):
            fail("'best' must be null or {'score': number, 'epoch': int}")
        has_params = "best.0" in arrays
        for k in range(2 * L):
            if has_params:
                shape = shapes[("w", k)] if k < L else shapes[("b", k - L)]
                _check_array(arrays, f"best.{k}", shape, dtype, fail, finite=True)
                known.add(f"best.{k}")
    grad = meta.get("epoch_grad")
    if grad is not None and not (isinstance(grad, dict) and all(
            isinstance(grad.get(k), list) and len(grad[k]) == L and all(_is_num(v) for v in grad[k])
            for k in ("delta", "grad", "_gsq"))):
        fail("'epoch_grad' is malformed")
    unknown = sorted(set(arrays) - known)
    if unknown:
        fail(f"it holds unexpected arrays {unknown[:5]}")


def _check_architecture(arch, fail):
    if not isinstance(arch, dict):
        fail("its network description is not an object")
    sizes, hidden, output, dtype = (arch.get(k) for k in ("sizes", "hidden", "output", "dtype"))
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(_is_int(n) and n >= 1 for n in sizes):
        fail(f"its network sizes {sizes!r} are not a list of at least two positive ints")
    if (not isinstance(hidden, list) or len(hidden) != len(sizes) - 2
            or not all(isinstance(h, str) and h in HIDDEN_ACTIVATIONS for h in hidden)):
        fail(f"its hidden activations {hidden!r} do not fit sizes {sizes}")
    if not isinstance(output, str) or output not in ACTIVATIONS:
        fail(f"its output activation {output!r} is unknown")
    if dtype not in ("float32", "float64"):
        fail(f"its dtype {dtype!r} is not float32 or float64")
    return arch


def _check_array(arrays, name, shape, dtype, fail, finite=False):
    a = arrays.get(name)
    if a is None:
        fail(f"array {name!r} is missing")
    if tuple(a.shape) != tuple(shape) or a.dtype.name != dtype:
        fail(f"array {name!r} has shape {tuple(a.shape)} and dtype {a.dtype.name}, "
             f"expected {tuple(shape)} and {dtype}")
    if finite and not np.isfinite(a).all():
        fail(f"array {name!r} contains NaN or infinity")


def _check_history(h, fail):
    if not isinstance(h, dict):
        fail("its history is missing")
    for key in _HISTORY_LISTS:
        if key in h and not isinstance(h[key], list):
            fail(f"history {key!r} must be a list")
    for key in _HISTORY_INTS:
        if key in h and (not _is_int(h[key]) or h[key] < 0):
            fail(f"history {key!r} must be an int >= 0")
    if "time" in h and not _is_num(h["time"]):
        fail("history 'time' must be a number")


# -- stopping on a signal --------------------------------------------------------------------------
class interrupt_guard:
    """Context manager: SIGINT (Ctrl-C) and SIGTERM set ``trainer.stop_requested`` instead of killing.

    The current update finishes and :meth:`Trainer.run` returns with ``history.interrupted``;
    ``guard.signum`` says which signal came (None if none) and ``guard.exit_status`` the
    conventional status to exit with (130 for SIGINT, 143 for SIGTERM). A second signal while the
    first is being handled is not swallowed: the previous handlers are put back and the signal is
    delivered to them (Ctrl-C twice still stops a stuck program). On exit the previous handlers are
    restored. Entering clears ``trainer.stop_requested``, so a trainer stopped once can run on. A signal
    that is ignored (SIG_IGN, as under ``nohup``) stays ignored. Outside the main thread (where Python
    cannot install handlers) it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, trainer, signals=None):
        self.trainer = trainer
        self.signals = tuple(self.SIGNALS if signals is None else signals)
        self.signum = None
        self._previous = {}

    @property
    def exit_status(self):
        return None if self.signum is None else 128 + int(self.signum)

    def _handle(self, signum, frame):
        if self.signum is not None:  # the second one: let it do what it did before
            self._restore()
            signal.raise_signal(signum)
            return
        self.signum = signum
        self.trainer.stop_requested = True

    def __enter__(self):
        self.trainer.stop_requested = False  # a fresh start: a stop asked for earlier is spent
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                if signal.getsignal(s) is signal.SIG_IGN:
                    continue  # ignored on purpose (nohup, background jobs): leave it so
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def _restore(self):
        while self._previous:
            s, old = self._previous.popitem()
            signal.signal(s, old if old is not None else signal.SIG_DFL)

    def __exit__(self, *exc):
        self._restore()
        return False
