"""One playground session: a network, its trainer and the last update, as JSON-able dicts.

Everything is computed by the engine -- :class:`backprop.Network` and :meth:`backprop.Trainer.step`
-- and handed to the page as plain numbers; the page only draws them. Layer numbering follows the
reference: layer 0 is the input (a^0 = x), layer k = 1..L is the layer that ``weights[k-1]`` feeds,
so ``h[k-1]``, ``a[k-1]`` and ``delta[k-1]`` of a step are the reference's h^k, a^k and delta^k.
"""

from __future__ import annotations

import base64
import collections
import math
import time
from typing import Any

import numpy as np

from backprop.errors import DivergenceError, InvalidInputError
from backprop.model.network import Network
from backprop.playground import config as _config
from backprop.playground import features as _features
from backprop.train.trainer import Trainer

PHASES = ("forward", "backward", "aggregation", "adaptation")
REGION_RESOLUTION = 48  # the decision-region plot (2-D data): one forward pass over this grid ...
MAP_RESOLUTION = 24  # ... whose 2 x 2 blocks averaged are the small map drawn inside each unit
MAP_SHARE = 0.2  # while playing, the maps are redrawn at most so often that they take this share of time
CURVE_POINTS = 96  # 1-D data: points of each unit's curve
MAX_HISTORY = 400  # points of a loss curve sent to the page (thinned evenly beyond that)
RECENT = 300  # batch losses of the last updates, for the loss path
MAX_EDIT = 100.0  # |w| a weight may be set to on the page (tanh and sigmoid saturate long before)


def _tolist(arrays):
    return [np.asarray(a, dtype=np.float64).tolist() for a in arrays]


def _whole(v, name, n):
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < n:
        raise InvalidInputError(f"{name} must be an integer from 0 to {n - 1}, got {v!r:.40}")
    return v


def _stride(epoch):
    """Every epoch up to 200, then every 2nd, 4th, ... (about 100 entries per doubling): the |delta|
    pass over all training rows stays a small share of the work when an epoch is one update."""
    return 1 if epoch <= 200 else 1 << (epoch // 100).bit_length() - 1


def _thin(values, n=MAX_HISTORY):
    """(1-based epochs, values) with at most n points, the last one always kept."""
    m = len(values)
    if m <= n:
        return list(range(1, m + 1)), list(values)
    idx = np.unique(np.linspace(0, m - 1, n).round().astype(int))
    return (idx + 1).tolist(), [values[i] for i in idx]


class Session:
    """A configured network and its training state (``cfg`` is checked by :func:`config.check_config`)."""

    def __init__(self, raw: dict | None = None, uploads: dict | None = None, network: Network | None = None):
        """``network``: train this network (its weights as they are) instead of a new one of the seed;
        its sizes and activations must be those of the configuration (the notebook widget's own network)."""
        cfg = _config.check_config(raw or {}, uploads)
        self.data = _config.prepare(cfg, uploads)
        self.cfg = cfg
        d = self.data
        sizes = [d.X.shape[1], *cfg["layers"], d.n_out]
        if network is None:
            self.net = Network(sizes, hidden=cfg["hidden"], output=d.output, seed=cfg["seed"],
                               dtype="float64")
        else:
            _check_network(network, sizes, cfg["hidden"], d)
            self.net = network
        m = d.X.shape[0]
        cfg["batch_size"] = min(cfg["batch_size"], m)  # a small uploaded file: one batch of all rows
        self.trainer = Trainer(
            self.net, loss=d.loss, epochs=_config.EPOCHS, lr=cfg["lr"], mode=cfg["mode"],
            batch_size=cfg["batch_size"] if cfg["mode"] == "minibatch" else None,
            optimizer=cfg["optimizer"], momentum=cfg["momentum"], l2=cfg["l2"], l1=cfg["l1"],
            shuffle=cfg["shuffle"],
            seed=cfg["seed"],
            validation_data=None if d.X_val is None or d.Y_val is None else (d.X_val, d.Y_val),
        )
        self.trainer.start(d.X, d.Y)
        self.last: dict | None = None  # the last traced update (arrays), see step()
        self.last_step: Any = None  # what Trainer.step(trace=True) returned for it
        self.phase = 0  # phases of self.last shown so far (4: the whole update)
        # (update number, batch loss) of the last updates: the loss path
        self.recent: collections.deque[tuple[int, float]] = collections.deque(maxlen=RECENT)
        self.delta_epochs: list[int] = []  # epochs with an entry in delta_history (see _stride)
        self.delta_history: list[list[float]] = []  # mean |delta| of each layer after those epochs
        self.probe_row = 0
        self.n_updates = 0
        self.n_edits = 0  # weights set by hand (set_weight)
        self.over = False  # the trainer will make no more updates
        self.divergence: dict | None = None  # where and how training diverged (see _diverged)
        self._delta_at = 0  # the update whose epoch end added the last delta_history entry
        self._grid = self._make_grid()
        self._maps: dict | None = None
        self._maps_at, self._maps_cost = 0.0, 0.0
        self._losses: dict | None = None  # the last current_losses() while playing, and when and its cost
        self._losses_at, self._losses_cost = 0.0, 0.0

    # -- training -------------------------------------------------------------------------------
    def _record(self, st):
        self.n_updates += 1
        self.recent.append((self.n_updates, float(st.loss)))
        self.probe_row = int(st.batch[0])
        e = self.trainer.epoch
        if st.epoch_done and e % _stride(e) == 0:
            # mean |delta^k| over all training rows on the epoch's final weights: small values in the
            # first layers of a deep sigmoid network are the vanishing gradients
            tr = self.net.trace(self.data.X, self.data.Y, self.data.loss)
            self.delta_epochs.append(e)
            self.delta_history.append([float(np.abs(d).mean()) for d in tr.delta])
            self._delta_at = self.n_updates
        if st.done:
            self.over = True

    def _diverged(self, exc: DivergenceError) -> None:
        """Keep where training diverged, for the state and the page: the engine's message, the
        epoch and step, the update's number, and the largest |w| of each layer on the weights the
        engine left (the layer whose weights grew most is the likely culprit)."""
        biggest = []
        for w in self.net.weights:
            finite = np.abs(w[np.isfinite(w)])
            biggest.append(float(finite.max()) if finite.size else None)
        known = [(v, k) for k, v in enumerate(biggest) if v is not None]
        message = str(exc)
        what = message.split(": ", 1)[1].split(";", 1)[0] if ": " in message else message
        self.divergence = {
            "epoch": exc.epoch, "step": exc.step, "n_update": self.n_updates + 1, "what": what,
            "lr": float(self.cfg["lr"]), "max_abs_weight": biggest,
            "layer": max(known)[1] + 1 if known else None, "message": message,
        }

    def step(self) -> dict:
        """One update in the configured mode, with every quantity of the reference (JSON-able)."""
        self._finish_phases()
        self._traced_step()
        self.phase = 4
        return self.step_json()

    def next_phase(self) -> dict:
        """Show one phase more of an update: the first call makes the update, the next three reveal
        (ii) backward, (iii) aggregation and (iv) adaptation of that same update."""
        if self.last is None or self.phase >= 4:
            self._traced_step()
            self.phase = 1
        else:
            self.phase += 1
        return self.step_json()

    def _finish_phases(self):
        if self.last is not None:
            self.phase = 4

    def _traced_step(self):
        try:
            st = self.trainer.step(trace=True)
        except DivergenceError as exc:
            self._diverged(exc)
            raise
        t = st.trace
        self.last_step = st
        self.last = {
            "epoch": int(st.epoch), "step": int(st.step), "batch": np.asarray(st.batch, np.int64),
            "loss": float(st.loss), "lr": float(st.lr), "epoch_done": bool(st.epoch_done),
            "x": t.x, "y": self.data.Y[np.asarray(st.batch)], "h": t.h, "a": t.a, "delta": t.delta,
            "grad_weights": t.grad_weights, "grad_biases": t.grad_biases,
            "weights_before": st.weights_before, "biases_before": st.biases_before,
            "weights_after": st.weights_after, "biases_after": st.biases_after,
            "n_update": self.n_updates + 1,
        }
        self._record(st)

    def run(self, n: int, budget: float | None = None) -> int:
        """Up to n updates without traces (playing); returns how many were made. With ``budget``
        (seconds) it returns once that time is spent, so that the server can answer in between."""
        self._finish_phases()
        done = 0
        t0 = time.perf_counter()
        while done < n and not self.over:
            try:
                st = self.trainer.step()
            except DivergenceError as exc:
                self._diverged(exc)
                raise
            self._record(st)
            done += 1
            if budget is not None and time.perf_counter() - t0 >= budget:
                break
        return done

    # -- JSON views -------------------------------------------------------------------------------
    def step_json(self) -> dict:
        s = self.last
        if s is None:
            raise InvalidInputError("no update yet: make one update (or one phase) first")
        out = {"phase": self.phase, "phase_name": PHASES[self.phase - 1], "epoch": s["epoch"],
               "step": s["step"], "n_update": s["n_update"], "batch": s["batch"].tolist(),
               "loss": s["loss"], "lr": s["lr"], "epoch_done": s["epoch_done"],
               "x": s["x"].tolist(), "y": s["y"].tolist(), "h": _tolist(s["h"]), "a": _tolist(s["a"]),
               "weights_before": _tolist(s["weights_before"]), "biases_before": _tolist(s["biases_before"])}
        if self.phase >= 2:
            out["delta"] = _tolist(s["delta"])
        if self.phase >= 3:
            out["grad_weights"] = _tolist(s["grad_weights"])
            out["grad_biases"] = _tolist(s["grad_biases"])
        if self.phase >= 4:
            out["weights_after"] = _tolist(s["weights_after"])
            out["biases_after"] = _tolist(s["biases_after"])
        return out

    def state(self) -> dict:
        """The configuration, the network's parameters and the training history."""
        net, tr, hist, d = self.net, self.trainer, self.trainer.history, self.data
        return {
            "config": dict(self.cfg), "sizes": list(net.sizes), "hidden": net.hidden, "output": net.output,
            "loss": d.loss, "lr": float(self.cfg["lr"]), "optimizer": self.cfg["optimizer"],
            "mode": self.cfg["mode"], "batch_size": int(tr.batch_size), "l2": self.cfg["l2"],
            "l1": self.cfg["l1"], "n_edits": self.n_edits,
            "updates_per_epoch": int(tr.updates_per_epoch), "epoch": int(tr.epoch),
            "step": self._step_in_epoch(),
            "n_updates": self.n_updates, "phase": self.phase if self.last else 0,
            "weights": _tolist(net.weights), "biases": _tolist(net.biases),
            "loss_history": [float(v) for v in hist.loss],
            "val_loss_history": [float(v) for v in hist.val_loss],
            "val_metric_history": [float(v) for v in hist.val_metric], "metric": hist.metric,
            "delta_history": {"epoch": self.delta_epochs, "value": self.delta_history},
            "data": self.data_info(), "divergence": self.divergence,
        }

    def _step_in_epoch(self):
        tr = self.trainer
        return -(-int(tr.pos) // int(tr.batch_size)) if tr.pos else 0

    def data_info(self) -> dict:
        d = self.data
        return {"name": self.cfg["data"], "task": d.task, "classes": d.classes, "features": d.feature_names,
                "target": d.target, "n_train": int(d.X.shape[0]),
                "n_val": 0 if d.X_val is None else int(d.X_val.shape[0]), "n_out": d.n_out,
                "dims": int(d.X_raw.shape[1]), "input_features": d.features}

    def points(self) -> dict:
        """The training rows: raw features (plot coordinates), network inputs, targets, labels."""
        d = self.data
        out = {"raw": d.X_raw.tolist(), "x": d.X.tolist(), "y": d.Y.tolist(),
               "label": np.asarray(d.labels).tolist(), "task": d.task, "classes": d.classes}
        return {**out, **self.test_points()}

    # -- TensorFlow Playground's extras: test points, test loss, editing a weight ----------------
    def test_points(self) -> dict:
        """The held-out (test) rows: ``test_raw`` (plot coordinates) and ``test_label`` (empty when the
        test part is 0 %)."""
        d = self.data
        if d.X_val_raw is None or d.labels_val is None:
            return {"test_raw": [], "test_label": []}
        return {"test_raw": d.X_val_raw.tolist(), "test_label": np.asarray(d.labels_val).tolist()}

    def current_losses(self, weights: list[np.ndarray] | None = None,
                       biases: list[np.ndarray] | None = None) -> dict:
        """E over all training rows and over all test rows (the training loss, on the held-out
        rows; None without them), on the network's weights or on the ones given."""
        d, net = self.data, self.net
        if weights is not None and weights is not net.weights:
            net = net.copy()
            net.weights = [np.array(w, net.dtype) for w in weights]
            net.biases = [np.array(b, net.dtype) for b in (self.net.biases if biases is None else biases)]

        def loss(X, Y):
            out = net.forward_all(X, Y=Y, loss=self.trainer.loss, check_finite=False)
            assert out.loss is not None  # (asked for with Y)
            return float(out.loss)

        return {"train_loss": loss(d.X, d.Y),
                "test_loss": None if d.X_val is None or d.Y_val is None else loss(d.X_val, d.Y_val)}

    def _losses_for_frame(self, playing):
        """Fresh training and test losses, except while playing: then as rarely as the maps (a pass
        over every row costs more than an update), the latest ones in between."""
        now = time.perf_counter()
        if playing and self._losses is not None and now - self._losses_at < self._losses_cost / MAP_SHARE:
            return self._losses
        self._losses = self.current_losses()
        self._losses_at = time.perf_counter()
        self._losses_cost = self._losses_at - now
        return self._losses

    def set_weight(self, layer: object, i: object, j: object, value: object) -> dict:
        """Set ``weights[layer][i][j]`` (``i="bias"``: ``biases[layer][j]``) to ``value``; the next
        update starts from it. An update shown phase by phase is completed first. Returns the state."""
        net = self.net
        k = _whole(layer, "layer", net.n_layers)
        bias = i == "bias"
        row = -1 if bias else _whole(i, "i", net.sizes[k])
        col = _whole(j, "j", net.sizes[k + 1])
        # the range first: float() of a huge int overflows
        if isinstance(value, bool) or not isinstance(value, (int, float)) or abs(value) > MAX_EDIT \
                or not math.isfinite(value):
            raise InvalidInputError(f"a weight's value must be a finite number from {-MAX_EDIT:g} to "
                                    f"{MAX_EDIT:g}, got {value!r:.40}")
        self._finish_phases()
        if bias:
            net.biases[k][col] = value
        else:
            net.weights[k][row, col] = value
        self._maps = self._losses = None  # those of the old weights are stale
        self.n_edits += 1
        return self.state()

    def frame(self, playing: bool = False, rate: float = 0.0) -> dict:
        """What the page redraws while playing: parameters, curves, maps, one sample's pass.

        While phases (i)-(iii) of an update are shown, the frame is the state *before* that update
        (``pending`` names it): the weights change only at (iv), and so do the counters and curves.
        """
        net, hist = self.net, self.trainer.history
        s = self.last if self.last is not None and self.phase < 4 else None
        losses, val_losses, val_metric = list(hist.loss), list(hist.val_loss), list(hist.val_metric)
        deltas = list(zip(self.delta_epochs, self.delta_history))
        recent = [list(p) for p in self.recent]
        epoch, step, n_updates = int(self.trainer.epoch), self._step_in_epoch(), self.n_updates
        weights, biases = net.weights, net.biases
        if s is not None:  # the update being shown has not happened yet for the counters and curves
            if s["epoch_done"]:
                losses, val_losses, val_metric = losses[:-1], val_losses[:-1], val_metric[:-1]
                if deltas and self._delta_at == self.n_updates:
                    deltas = deltas[:-1]
            recent = recent[:-1]
            epoch, step, n_updates = s["epoch"] - 1, s["step"] - 1, self.n_updates - 1
            weights, biases = s["weights_before"], s["biases_before"]
        ep, loss = _thin([float(v) for v in losses])
        vep, vloss = _thin([float(v) for v in val_losses])
        dep, dvals = _thin(deltas)
        dep, dvals = [e for e, _ in dvals], [v for _, v in dvals]
        if s is not None:  # the shown update's first sample, on the weights it used
            probe = {"row": int(s["batch"][0]), "h": [v[0].tolist() for v in s["h"]],
                     "a": [v[0].tolist() for v in s["a"]], "delta": [v[0].tolist() for v in s["delta"]],
                     "x": s["x"][0].tolist(), "y": s["y"][0].tolist()}
        else:
            tr = net.trace(self.data.X[self.probe_row:self.probe_row + 1],
                           self.data.Y[self.probe_row:self.probe_row + 1], self.data.loss)
            probe = {"row": self.probe_row, "h": [v[0].tolist() for v in tr.h],
                     "a": [v[0].tolist() for v in tr.a], "delta": [v[0].tolist() for v in tr.delta],
                     "x": tr.x[0].tolist(), "y": self.data.Y[self.probe_row].tolist()}
        return {
            "playing": playing, "rate": rate, "epoch": epoch, "step": step,
            "n_updates": n_updates, "updates_per_epoch": int(self.trainer.updates_per_epoch),
            "pending": None if s is None else {"n_update": s["n_update"], "phase": self.phase},
            "weights": _tolist(weights), "biases": _tolist(biases),
            "loss_history": {"epoch": ep, "value": loss}, "val_loss_history": {"epoch": vep, "value": vloss},
            "val_metric": float(val_metric[-1]) if val_metric else None,
            "delta_history": {"epoch": dep, "value": dvals},
            "recent": recent, "probe": probe,
            **(self.current_losses(weights, biases) if s is not None else self._losses_for_frame(playing)),
            "maps": self.maps(weights, biases) if s is not None else self._maps_for_frame(playing),
            "divergence": self.divergence,
        }

    def _maps_for_frame(self, playing):
        """Fresh maps, except while playing: then at most as often as keeps them at MAP_SHARE of the
        time (a wide network's maps cost more than its updates), the latest ones in between."""
        now = time.perf_counter()
        if playing and self._maps is not None and now - self._maps_at < self._maps_cost / MAP_SHARE:
            return self._maps
        self._maps = self.maps()
        self._maps_at = time.perf_counter()
        self._maps_cost = self._maps_at - now
        return self._maps

    # -- maps: every unit's output over the input plane (2-D) or line (1-D) ---------------------
    def _make_grid(self):
        d = self.data
        n_in = d.X_raw.shape[1]  # the plane or the line of the raw data, whatever the input features
        if n_in not in (1, 2):
            return None
        lo, hi = d.X_raw.min(axis=0), d.X_raw.max(axis=0)
        pad = 0.08 * np.where(hi > lo, hi - lo, 1.0)
        lo, hi = lo - pad, hi + pad
        if n_in == 1:
            raw = np.linspace(lo[0], hi[0], CURVE_POINTS).reshape(-1, 1)
            return {"dims": 1, "lo": lo.tolist(), "hi": hi.tolist(), "raw": raw, "x": self._inputs(raw)}
        # row r of the image is y from hi (top) to lo; column c is x from lo to hi (cell centres)
        n = REGION_RESOLUTION
        xs = lo[0] + (np.arange(n) + 0.5) * (hi[0] - lo[0]) / n
        ys = hi[1] - (np.arange(n) + 0.5) * (hi[1] - lo[1]) / n
        gx, gy = np.meshgrid(xs, ys)
        x = self._inputs(np.c_[gx.ravel(), gy.ravel()])
        return {"dims": 2, "lo": lo.tolist(), "hi": hi.tolist(), "x": x}

    def _inputs(self, raw):
        """The network's inputs a^0 for raw points: their input features, then standardized."""
        if self.data.features is not None:
            raw = _features.compute(raw, self.data.features)
        s = self.data.standardize
        return (raw - np.asarray(s["mean"])) / np.asarray(s["scale"])

    def _forward_all(self, X, weights=None, biases=None):
        """Every layer's a over the rows of X (``Network.forward_all``), on the network's weights or
        on the ones given (a step's weights before its update); NaN and infinity as they are."""
        net = self.net
        if weights is not None or biases is not None:
            net = net.copy()
            net.weights = [np.array(w, net.dtype) for w in (self.net.weights if weights is None else weights)]
            net.biases = [np.array(b, net.dtype) for b in (self.net.biases if biases is None else biases)]
        return net.forward_all(np.asarray(X, net.dtype), layers=True, check_finite=False).layers

    def maps(self, weights: list[np.ndarray] | None = None,
             biases: list[np.ndarray] | None = None) -> dict | None:
        """Every unit's output over the grid, on the network's weights or on the ones given."""
        g = self._grid
        if g is None:
            return None
        if g["dims"] == 1:
            layers = [g["x"], *self._forward_all(g["x"], weights, biases)]
            out = {"dims": 1, "lo": g["lo"], "hi": g["hi"], "x": g["raw"][:, 0].tolist(),
                   "units": [np.round(a.T, 5).tolist() for a in layers]}
            ts = self.data.target_standardize
            if self.data.task == "regression" and ts and self.net.output == "identity":
                out["prediction"] = (layers[-1][:, 0] * ts["scale"][0] + ts["mean"][0]).tolist()
            return out
        n, r = MAP_RESOLUTION, REGION_RESOLUTION // MAP_RESOLUTION
        layers = [g["x"], *self._forward_all(g["x"], weights, biases)]
        small = [a.reshape(n, r, n, r, -1).mean(axis=(1, 3)).reshape(n * n, -1) for a in layers]
        units = [[_quantize(a[:, j]) for j in range(a.shape[1])] for a in small]
        region = layers[-1]
        return {"dims": 2, "lo": g["lo"], "hi": g["hi"], "size": n, "units": units,
                "region_size": REGION_RESOLUTION,
                "region": [_quantize(region[:, j]) for j in range(region.shape[1])]}


def _check_network(net: Network, sizes: list, hidden: list, data) -> None:
    """A network given to train: the data's inputs and outputs, the configuration's activations."""
    if not isinstance(net, Network):
        raise InvalidInputError(f"network must be a backprop.Network, got {type(net).__name__}")
    if net.sizes[0] != sizes[0]:
        raise InvalidInputError(f"the network has {net.sizes[0]} inputs but the data have {sizes[0]} "
                                f"features: build it as Network([{sizes[0]}, ...])")
    if net.sizes[-1] != sizes[-1] or net.output != data.output:
        raise InvalidInputError(
            f"the network's output layer is {net.sizes[-1]} {net.output} unit(s); these data ({data.task}"
            + (f", {len(data.classes)} classes" if data.classes else "")
            + f") need {sizes[-1]} {data.output} unit(s)")
    if list(net.sizes) != sizes or net.hidden != list(hidden):
        raise InvalidInputError(f"the network's hidden layers {net.sizes[1:-1]} {net.hidden} are not the "
                                f"configuration's {sizes[1:-1]} {list(hidden)}")


def _quantize(v):
    """A unit's values as base64 bytes 0..255 over [lo, hi] (compact; the page decodes them)."""
    v = np.nan_to_num(np.asarray(v, np.float64), nan=0.0, posinf=1e6, neginf=-1e6)
    lo, hi = float(v.min()), float(v.max())
    if 0.0 <= lo and hi <= 1.0:
        lo, hi = 0.0, 1.0  # probabilities and sigmoid units keep their absolute scale
    elif -1.0 <= lo and hi <= 1.0:
        lo, hi = -1.0, 1.0
    span = hi - lo if hi > lo else 1.0
    q = np.clip(np.round((v - lo) / span * 255), 0, 255).astype(np.uint8)
    return {"lo": lo, "hi": hi, "b64": base64.b64encode(q.tobytes()).decode("ascii")}
