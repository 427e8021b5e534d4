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
import numbers
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

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


#: a trainer's ``state_dict()["meta"]`` (backprop.io.schema); check_state adds the checks across fields
_FLOAT = sc.Num(finite=False)
_STATE = sc.Obj({
    "optimizer": sc.Obj({"name": sc.Str(tuple(OPTIMIZERS)), "t": sc.COUNT, "epoch": sc.COUNT,
                         "lr0": sc.Num(), "lr": sc.Num()}, required=("name", "t", "epoch", "lr0", "lr"),
                        extra=sc.Anything()),
    "epoch": sc.COUNT, "pos": sc.COUNT, "bad_epochs": sc.COUNT, "epoch_loss": _FLOAT,
    "rng": sc.Map(sc.Anything(), max_len=100), "history": sc.history(),
    "best": sc.Optional(sc.Obj({"score": _FLOAT, "epoch": sc.COUNT}, required=("score", "epoch"))),
    "epoch_grad": sc.Optional(sc.Obj({k: sc.NUMBERS for k in ("delta", "grad", "_gsq")},
                                     required=("delta", "grad", "_gsq"))),
}, required=("optimizer", "epoch", "pos", "bad_epochs", "epoch_loss", "rng", "history"), extra=sc.Anything())

#: the JSON document of a checkpoint file
_DOC = sc.Obj({
    "format": sc.Str((FORMAT,)), "checkpoint_version": sc.Int(1),
    "network": sc.architecture(),
    "trainer": sc.Map(sc.OneOf(sc.SCALAR, sc.List(sc.SCALAR)), max_len=1000),
    "state": _STATE,
    "extra": sc.Map(sc.Anything()),
}, required=("format", "checkpoint_version", "network", "trainer", "state", "extra"))


def _check_document(doc, error, where):
    """The document against _DOC (after the format and version checks); raises ``error``."""
    try:
        _DOC.check(doc, "")
    except sc.Invalid as exc:
        raise error(f"{where}: metadata {exc}") from None


# -- saving ----------------------------------------------------------------------------------------
def architecture(net: Any) -> dict:
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
        "l1": trainer.l1,
        "shuffle": trainer.shuffle,
        "seed": _json_seed(trainer.seed),
        "early_stopping": trainer.patience,
        "min_delta": trainer.min_delta,
    }


def save_checkpoint(path: str | os.PathLike, trainer: Any, extra: dict | None = None) -> str | os.PathLike:
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


def checkpoint_callback(path: str | os.PathLike, trainer: Any, every: int = 1,
                        extra: dict | None = None) -> Callable:
    """An epoch-end callback ``f(net, info)`` (for ``fit(callbacks=[...])``/``Trainer``) that writes a
    checkpoint of ``trainer`` to ``path`` every ``every`` epochs.

    ``extra`` is a dict or a function returning one (called at each write).
    """
    every = check_positive_int(every, "every")

    def write_checkpoint(net: Any, info) -> None:
        if info["epoch"] % every == 0:
            save_checkpoint(path, trainer, extra() if callable(extra) else extra)

    return write_checkpoint


# -- loading ---------------------------------------------------------------------------------------
def load_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
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
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{where} has no valid checkpoint_version")
    if version > CHECKPOINT_VERSION:
        raise ModelFileError(
            f"{where} has checkpoint version {version}, newer than this backprop reads "
            f"({CHECKPOINT_VERSION}); upgrade backprop"
        )
    for key in ("network", "trainer", "state", "extra"):
        if not isinstance(doc.get(key), dict):
            raise ModelFileError(f"{where} is damaged: its metadata lacks the {key!r} object")
    _check_document(doc, ModelFileError, where)  # every value's type and range, then across fields:
    state = {"meta": doc["state"], "arrays": arrays, "network": doc["network"], "trainer": doc["trainer"]}
    check_state(state, error=ModelFileError, where=where)
    return state, doc["extra"]


# -- checking a state against a network -----------------------------------------------------------
def check_state(state: Any, trainer: Any | None = None, *, error: type[Exception] = InvalidInputError,
                where: str = "training state") -> None:
    """Check that ``state`` is a complete, consistent training state (and fits ``trainer``'s network).

    Every value's type and range is checked by the schema (:data:`_STATE`, :mod:`backprop.io.schema`);
    what is left here are the checks across fields: the arrays against the architecture, the
    optimizer's arrays against the parameters, the permutation, the random generator's state.
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
    try:
        arch = state.get("network")
        if arch is not None:
            sc.architecture().check(arch, "network")
            if len(arch["hidden"]) != len(arch["sizes"]) - 2:
                fail(f"its hidden activations {arch['hidden']!r} do not fit sizes {arch['sizes']}")
        _STATE.check(meta, "")
    except sc.Invalid as exc:
        fail(str(exc))
    sizes, dtype = _check_fits(state, arch, trainer, fail)
    shapes = _parameter_shapes(arrays, sizes, fail)
    dtype = dtype or arrays["weights.0"].dtype.name
    L = len(shapes) // 2
    known = _check_arrays(arrays, shapes, dtype, meta, fail)
    _check_rng(meta["rng"], trainer, fail)
    if meta.get("best") is not None and "best.0" in arrays:
        for k in range(2 * L):
            shape = shapes[("w", k)] if k < L else shapes[("b", k - L)]
            _check_array(arrays, f"best.{k}", shape, dtype, fail, finite=True)
            known.add(f"best.{k}")
    grad = meta.get("epoch_grad")
    if grad is not None and any(len(grad[k]) != L for k in ("delta", "grad", "_gsq")):
        fail(f"'epoch_grad' is malformed: it needs {L} numbers per list, one per layer")
    unknown = sorted(set(arrays) - known)
    if unknown:
        fail(f"it holds unexpected arrays {unknown[:5]}")


def _check_fits(state, arch, trainer, fail):
    """The architecture and settings against ``trainer``'s network, loss and optimizer; returns the
    (sizes, dtype) the arrays must have (None, None: to be read from the arrays)."""
    if trainer is None:
        return (arch["sizes"], arch["dtype"]) if arch is not None else (None, None)
    net = trainer.net
    if arch is not None and (arch["sizes"] != net.sizes or arch["hidden"] != net.hidden
                             or arch["output"] != net.output or arch["dtype"] != net.dtype.name):
        theirs = ", ".join(arch["hidden"] + [arch["output"]])
        ours = ", ".join(net.hidden + [net.output])
        fail(f"it was made for the network {arch['sizes']} ({theirs}, {arch['dtype']}) but this one is "
             f"{net.sizes} ({ours}, {net.dtype.name}); build the same network to resume")
    settings = state.get("trainer")
    if isinstance(settings, dict) and settings.get("loss") not in (None, trainer.loss.name):
        fail(f"it was trained with loss {settings['loss']!r}, this trainer uses {trainer.loss.name!r}")
    name = state["meta"]["optimizer"]["name"]
    if name != trainer.optimizer.name:
        fail(f"it was trained with optimizer {name!r}, this trainer uses {trainer.optimizer.name!r}")
    return net.sizes, net.dtype.name


def _parameter_shapes(arrays, sizes, fail):
    """The shape of each parameter key ("w", k) / ("b", k): from the sizes, or else the arrays."""
    shapes: dict[tuple[str, int], tuple[int, ...]] = {}
    if sizes is not None:
        for k in range(len(sizes) - 1):
            shapes[("w", k)], shapes[("b", k)] = (sizes[k], sizes[k + 1]), (sizes[k + 1],)
        return shapes
    L = sum(1 for n in arrays if n.startswith("weights."))
    if L == 0:
        fail("it has no weights")
    for k in range(L):
        w, b = arrays.get(f"weights.{k}"), arrays.get(f"biases.{k}")
        if w is None or b is None or w.ndim != 2 or b.shape != (w.shape[1],):
            fail(f"weights.{k}/biases.{k} are missing or do not fit together")
        shapes[("w", k)], shapes[("b", k)] = w.shape, b.shape
    return shapes


def _check_arrays(arrays, shapes, dtype, meta, fail):
    """The parameters, the optimizer's arrays and the permutation; returns the names checked."""
    known = set()
    for (kind, k), shape in shapes.items():
        name = f"{'weights' if kind == 'w' else 'biases'}.{k}"
        _check_array(arrays, name, shape, dtype, fail, finite=True)
        known.add(name)
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
    if "perm" in arrays:
        perm = arrays["perm"]
        if perm.ndim != 1 or perm.dtype != np.int64 or perm.size < meta["pos"] \
                or not np.array_equal(np.sort(perm), np.arange(perm.size)):
            fail("array 'perm' is not a permutation of the samples")
        known.add("perm")
    return known


def _check_rng(rng, trainer, fail) -> None:
    """The random generator's state: one that a generator of the trainer's kind accepts."""
    try:
        bit_generator = np.random.PCG64 if trainer is None else type(trainer.rng.bit_generator)
        probe = np.random.Generator(bit_generator())
        probe.bit_generator.state = rng
    except (TypeError, ValueError, KeyError, OverflowError, AttributeError, IndexError):
        fail("the random generator's state is invalid")


def _check_array(arrays, name, shape, dtype, fail, finite: bool = False) -> None:
    a = arrays.get(name)
    if a is None:
        fail(f"array {name!r} is missing")
    if tuple(a.shape) != tuple(shape) or a.dtype.name != dtype:
        fail(f"array {name!r} has shape {tuple(a.shape)} and dtype {a.dtype.name}, "
             f"expected {tuple(shape)} and {dtype}")
    if finite and not np.isfinite(a).all():
        fail(f"array {name!r} contains NaN or infinity")


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

    def __init__(self, trainer: Any, signals: Sequence[int] | None = None) -> None:
        self.trainer = trainer
        self.signals = tuple(self.SIGNALS if signals is None else signals)
        self.signum = None
        self._previous: dict = {}

    @property
    def exit_status(self) -> int | None:
        return None if self.signum is None else 128 + int(self.signum)

    def _handle(self, signum, frame) -> None:
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

    def _restore(self) -> None:
        while self._previous:
            s, old = self._previous.popitem()
            signal.signal(s, old if old is not None else signal.SIG_DFL)

    def __exit__(self, *exc: object) -> None:
        self._restore()  # (None: an exception raised inside goes on)
