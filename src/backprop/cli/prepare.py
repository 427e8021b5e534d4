"""A training run of ``backprop train`` from its configuration: the data in the network's space,
the network and its trainer, and what is saved with the model afterwards.

The configuration ``cfg`` holds the command's options (``data``, ``data_options``, ``layers``,
``lr``, ...); :func:`prepare` fills in the defaults sized to the data (:mod:`backprop.train.defaults`),
so the completed ``cfg`` saved in checkpoints and model files says exactly how the model was trained.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from backprop.cli.common import check_network_size, load_data, parse_hidden, parse_widths, same_file
from backprop.cli.model import network_scores
from backprop.data import datasets, preparation, readers, targets
from backprop.data.preprocessing import stratified_rows
from backprop.errors import InvalidInputError, ModelFileError
from backprop.io import schema
from backprop.model.network import Network
from backprop.train import defaults
from backprop.train.checkpoint import load_checkpoint
from backprop.train.trainer import Trainer

DEFAULT_OUT = "model.safetensors"
DEFAULT_DATA = "digits"
#: options that may change when a run is resumed (everything else must match the checkpoint)
RESUMABLE = {"epochs", "out", "plot", "checkpoint", "checkpoint_every", "resume", "quiet", "as_json",
             "progress", "debug", "data_dir", "dask"}
#: the settings recorded in a model's metadata["training"]
TRAINING_KEYS = ("layers", "hidden", "output", "loss", "mode", "batch_size", "epochs", "lr", "optimizer",
                 "schedule", "gamma", "power_t", "l2", "l1", "seed", "val_fraction", "early_stopping",
                 "dtype", "standardize")


# -- resuming -----------------------------------------------------------------------------------------
def resume_config(resume: str, data: Any, data_opts: dict, kw: dict, given: Callable) -> tuple[dict, Any,
                  str | None]:
    """(cfg, trainer state, the original run's --out) from a checkpoint of ``backprop train``;
    options given now (``given(name)``) must agree with the checkpoint."""
    state, extra = load_checkpoint(resume)
    cfg = extra.get("train_config") if isinstance(extra, dict) else None
    if not isinstance(cfg, dict) or "data" not in cfg:
        raise InvalidInputError(f"checkpoint {resume!r} was not written by `backprop train`; "
                                "resume it from Python with Trainer.load_state_dict")
    try:  # the free-form part of a checkpoint: its shape is checked before any option is read from it
        _TRAIN_CONFIG.check(cfg, "train_config")
    except schema.Invalid as exc:
        raise ModelFileError(f"checkpoint {resume}: {exc}") from None
    if data is not None and data != cfg["data"]:
        raise InvalidInputError(
            f"the checkpoint trained on {cfg['data']!r}, not {data!r}; drop DATA to resume"
        )
    for name, value in kw.items():
        if name in RESUMABLE or not given(name):
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
    if given("epochs"):
        cfg["epochs"] = kw["epochs"]
    out = extra.get("out")
    return cfg, state, out if isinstance(out, str) and out else None


#: what `backprop train` keeps of its options in a checkpoint (their values are checked again as options)
_TRAIN_CONFIG = schema.Obj(
    {"data": schema.Str(), "data_options": schema.Map(schema.SCALAR)},
    required=("data", "data_options"),
    extra=schema.OneOf(schema.SCALAR, schema.List(schema.SCALAR, max_len=10_000)),
)


def default_checkpoint(out: str) -> str:
    """Where an interrupted run without --checkpoint saves its state: beside the model, under a name
    no other file has (an interrupt never overwrites anything)."""
    stem, ext = os.path.splitext(out)
    ext = ext or ".safetensors"
    path, k = f"{stem}.ckpt{ext}", 1
    while os.path.exists(path):
        path, k = f"{stem}.ckpt-{k}{ext}", k + 1
    return path


# -- data ---------------------------------------------------------------------------------------------
def _standardize_stats(X, names, source, what="column"):
    """fit_standardize, refusing columns whose mean or spread overflows float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        stats = datasets.fit_standardize(X)
    bad = ~(np.isfinite(stats["mean"]) & np.isfinite(stats["scale"]))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        name = names[j] if j < len(names) else j
        raise InvalidInputError(
            f"{what} {name!r} of {source} holds values too large to standardize (up to "
            f"{np.max(np.abs(X[:, j])):.3g}); scale it down, or use --no-standardize"
        )
    return stats


def _check_range(X, names, source, dtype):
    """Refuse features that the network's dtype cannot hold (before a cast turns them into inf)."""
    big = np.abs(X) > np.finfo(dtype).max
    if big.any():
        i, j = np.argwhere(big)[0]
        name = names[j] if j < len(names) else j
        raise InvalidInputError(f"column {name!r} of {source} holds {X[i, j]:.3g} (row {i + 1}), too large "
                                f"for {np.dtype(dtype).name}; use --standardize or --dtype float64")


def split_rows(m: int, n_val: int, seed: int, class_idx: np.ndarray | None = None) -> tuple[np.ndarray,
               np.ndarray]:
    """(training rows, validation rows) of ``m`` rows, both sorted: ``n_val`` rows drawn with
    ``seed``, in proportion to the classes where ``class_idx`` (each row's class index) is given
    and every class can give its share. ``evaluate`` replays this to find the held-out rows again."""
    rng = np.random.default_rng(seed)
    val_idx = None
    if class_idx is not None:
        val_idx = stratified_rows(class_idx, n_val, rng)
        if len(val_idx) < n_val:  # classes of one row each: they cannot be in both parts
            val_idx = None
    if val_idx is not None:
        return np.setdiff1d(np.arange(m), val_idx), val_idx
    perm = rng.permutation(m)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def split_record(cfg: dict, m: int, stratified: bool, val_idx: np.ndarray) -> dict:
    """What a model records of its data's split (metadata ``dataset.split``): the rows, the seed and
    fraction that drew the validation rows, a digest of those rows (the replay is checked against
    it), and the fingerprint of the data file, so that ``evaluate`` and ``predict`` given that file
    again score the rows training did not see."""
    record = {"rows": int(m), "validation_rows": int(len(val_idx)), "seed": int(cfg["seed"]),
              "val_fraction": float(cfg["val_fraction"]), "stratified": stratified,
              "validation_sha256": rows_digest(val_idx)}
    if os.path.isfile(cfg["data"]):
        record["file"] = readers.file_fingerprint(cfg["data"])
    return record


def rows_digest(rows: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(rows, dtype="<i8").tobytes()).hexdigest()


def prepare(cfg: dict, data_dir: Any) -> dict:
    """Load the data, encode the targets, split off validation rows and standardize (cfg is completed).

    The output layer and the data in the network's space come from ``backprop.data.preparation``
    with the command line's defaults (softmax + cross-entropy for classes)."""
    ds = load_data(cfg["data"], data_dir=data_dir, **cfg["data_options"])
    if ds.y is None:
        raise InvalidInputError(f"{cfg['data']} has no target column")
    layer = preparation.output_layer(ds.task, ds.y, classes=ds.classes, more_y=(ds.y_test,),
                                     output=cfg.get("output"), loss=cfg.get("loss"),
                                     defaults=preparation.COMMAND_LINE, target=ds.target, source=cfg["data"])
    cfg["output"], cfg["loss"] = layer.output, layer.loss
    if cfg.get("standardize") is None:
        cfg["standardize"] = ds.kind != "image"
    m = ds.X.shape[0]
    n_val = _n_validation(cfg, m)
    _sized_defaults(cfg, m - n_val, n_val)
    stratified = bool(cfg.get("sized_defaults", False) and ds.task == "classification" and n_val)
    class_idx = None
    if stratified and layer.classes is not None:
        class_idx = targets.encode(ds.y, {"task": ds.task, "classes": layer.classes}, len(layer.classes),
                                   np.float32)[1]
    fit_idx, val_idx = split_rows(m, n_val, cfg["seed"], class_idx)
    names = list(ds.feature_names)

    def fit_stats(A, what):  # the command line's own words for data too large to standardize
        if what == "inputs":
            return _standardize_stats(A, names, cfg["data"])
        return _standardize_stats(A, [ds.target] * A.shape[1], cfg["data"], "target")

    prepared = preparation.prepare(ds.task, ds.X[fit_idx], ds.y[fit_idx], layer, dtype=cfg["dtype"],
                                   standardize=cfg["standardize"], standardize_targets=cfg["standardize"],
                                   fit_stats=fit_stats)
    if not prepared.standardize:
        _check_range(ds.X, names, cfg["data"], prepared.dtype)
    meta = {"task": ds.task, "feature_names": names, "target": ds.target}
    if layer.classes is not None:
        meta["classes"] = layer.classes
    meta["standardize"] = prepared.standardize
    if "target_standardize" in prepared.meta:
        meta["target_standardize"] = prepared.meta["target_standardize"]
    prep = {"meta": meta, "n_out": layer.n_out, "n_features": ds.X.shape[1], "dataset": ds,
            "split": split_record(cfg, m, stratified, val_idx)}
    X, y = ds.X, ds.y
    if X.shape[1] == 2:  # kept for the decision-boundary plot, drawn in the data's own coordinates
        prep["raw_2d"] = (X[fit_idx], y[fit_idx])
    # each part in the network's space: (X, Y, the truth to score against)
    prep["parts"] = {"train": (prepared.inputs(X[fit_idx]), *prepared.targets(y[fit_idx]))}
    if n_val:
        prep["parts"]["validation"] = (prepared.inputs(X[val_idx]), *prepared.targets(y[val_idx]))
    if ds.has_test and ds.y_test is not None:
        prep["parts"]["test"] = (prepared.inputs(ds.X_test), *prepared.targets(ds.y_test))
    prep["X"], prep["Y"] = prep["parts"]["train"][:2]
    val = prep["parts"].get("validation")
    prep["val"] = None if val is None else val[:2]
    return prep


def _n_validation(cfg, m):
    """How many of the m rows --val-fraction keeps for validation (at least one when asked)."""
    vf = cfg["val_fraction"]
    if not 0.0 <= vf < 1.0:
        raise InvalidInputError(f"--val-fraction must lie in [0, 1), got {vf:g}")
    n_val = int(round(vf * m)) if vf > 0 else 0
    if vf > 0 and n_val == 0:
        n_val = 1
    if m - n_val < 1:
        raise InvalidInputError(f"--val-fraction {vf:g} leaves no training rows of {m}")
    if cfg.get("early_stopping") is not None and cfg["early_stopping"] < 0:
        raise InvalidInputError(f"--early-stopping must be 0 (never) or a number of epochs, got "
                                f"{cfg['early_stopping']}")
    if cfg.get("early_stopping") and n_val == 0:
        raise InvalidInputError("--early-stopping watches the validation loss, but --val-fraction 0 keeps no "
                                "validation rows; give --val-fraction 0.1, or drop --early-stopping")
    return n_val


def _sized_defaults(cfg, m_fit, n_val):
    """The training settings left open, sized to the m_fit training rows (backprop.train.defaults)."""
    # runs started before the defaults were sized to the data resume with the old ones
    sized = cfg.get("sized_defaults", False)
    if cfg.get("lr") is None:
        cfg["lr"] = defaults.learning_rate(cfg["optimizer"], m_fit if sized else None)
    if cfg.get("l2") is None:
        cfg["l2"] = defaults.l2(m_fit) if sized else 0.0
    if cfg.get("l1") is None:  # runs checkpointed before --l1 existed: none
        cfg["l1"] = 0.0
    if sized and cfg.get("mode") in (None, "minibatch") and cfg.get("batch_size") is None:
        cfg["batch_size"] = defaults.batch_size(m_fit)
    if cfg.get("epochs") is None:
        B = defaults.batch_size(m_fit, cfg.get("mode"), cfg.get("batch_size") or defaults.BATCH)
        cfg["epochs"] = defaults.epochs(m_fit, B)
        # no number of epochs asked for: small data also stops when it stops improving
        if sized and cfg.get("early_stopping") is None:
            cfg["early_stopping"] = defaults.early_stopping(m_fit, n_val)


# -- the network and its trainer ----------------------------------------------------------------------
def build(cfg: dict, prep: dict, state: Any) -> tuple[Network, Trainer]:
    layers = parse_widths(cfg["layers"])
    hidden = parse_hidden(cfg["hidden"], len(layers))
    sizes = [prep["n_features"], *layers, prep["n_out"]]
    check_network_size(sizes, cfg["dtype"])
    net = Network(sizes, hidden=hidden or "relu", output=cfg["output"], seed=cfg["seed"], dtype=cfg["dtype"])
    trainer = Trainer(
        net, loss=cfg["loss"], epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"],
        mode=cfg["mode"], optimizer=cfg["optimizer"], l2=cfg["l2"], l1=cfg["l1"], seed=cfg["seed"],
        validation_data=prep["val"], early_stopping=cfg["early_stopping"] or None,
        record_gradients=bool(cfg.get("record_gradients")),
        # runs checkpointed before these options existed: the Trainer's defaults, a constant rate
        **{k: cfg[k] for k in ("schedule", "gamma", "power_t") if cfg.get(k) is not None},
    )
    if state is not None:
        trainer.load_state_dict(state)
    return net, trainer


def check_outputs(data: Any, out: str, checkpoint: str | None) -> None:
    for path, what in ((out, "--out"), (checkpoint, "--checkpoint")):
        if same_file(path, data):
            raise InvalidInputError(f"{what} {path!r} is the data file; choose another name")
    if checkpoint and (os.path.abspath(out) == os.path.abspath(checkpoint) or same_file(out, checkpoint)):
        # the model written at the end would replace the checkpoint: nothing left to resume from
        raise InvalidInputError(f"--checkpoint {checkpoint!r} is the model's --out file; choose another name")


# -- after training -----------------------------------------------------------------------------------
def scores(net: Any, prep: dict, cfg: dict, history: Any) -> dict:
    """The summary of the run: loss and accuracy / R^2 of each part of the data."""
    meta = prep["meta"]
    summary = {"data": cfg["data"], "epochs": history.epochs, "time": round(history.time, 3),
               "n_parameters": int(net.n_parameters), "sizes": list(net.sizes),
               "stopped_early": history.stopped_early, "interrupted": history.interrupted}
    for name, (X, Y, truth) in prep["parts"].items():
        summary[name], _ = network_scores(net, cfg["loss"], X, Y, truth, meta)
    return summary


def model_metadata(cfg: dict, prep: dict, history: Any, summary: dict) -> dict:
    ds = prep["dataset"]
    meta = dict(prep["meta"])
    options = dict(ds.options)
    options.pop("header", None)
    dataset = {"name": cfg["data"], "options": options, "split": prep["split"]}
    if ds.name not in datasets.BUILTINS:
        options["target"] = ds.target
        if "task" in cfg["data_options"]:
            options["task"] = cfg["data_options"]["task"]
        if cfg["data_options"].get("header") is False:  # how to read the file, beside its options
            dataset["header"] = False
    meta.update(
        loss=cfg["loss"],
        dataset=dataset,
        history=history.to_dict(),
        training={k: cfg.get(k) for k in TRAINING_KEYS},
        metrics={k: summary[k] for k in ("train", "validation", "test") if k in summary},
    )
    return meta
