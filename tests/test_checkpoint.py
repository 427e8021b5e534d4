"""Checkpoints and resumption: an interrupted run, resumed in a new Trainer (or a new process), ends with
exactly the weights of an uninterrupted run; SIGINT/SIGTERM stop cleanly; SIGKILL during a checkpoint
write never destroys the previous checkpoint; a damaged checkpoint gives a clear ModelFileError.

The oracle of every resumption test is an uninterrupted run with the same seed and settings, compared
with ``np.array_equal`` (bit for bit), never a stored number.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import backprop
from backprop.errors import InvalidInputError, ModelFileError
from backprop.fast import compiled as _compiled
from backprop.model.files import network_from_state
from backprop.train.checkpoint import checkpoint_callback, interrupt_guard, load_checkpoint, save_checkpoint
from backprop.train.trainer import Trainer

PY = sys.executable


# -- helpers ------------------------------------------------------------------------------------
def _data(m=37, n=3, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return X, y % classes


def _net(dtype="float64", seed=3):
    return backprop.Network([3, 7, 5, 3], hidden=["tanh", "relu"], output="softmax", seed=seed, dtype=dtype)


def _params(net):
    return [p.copy() for p in net.weights + net.biases]


def _same(a, b):
    return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))


def _stop_after(n):
    """on_step that asks the trainer (set later as .trainer) to stop after n updates in total."""
    def on_step(net, info):
        if on_step.trainer.history.n_updates >= n:
            on_step.trainer.stop_requested = True
    return on_step


CONFIGS = {
    "sgd-minibatch": dict(loss="cross_entropy", optimizer="sgd", batch_size=8, lr=0.1),
    "momentum-online": dict(loss="cross_entropy", optimizer="momentum", mode="online", lr=0.02),
    "nesterov-invscaling": dict(loss="mse", optimizer="nesterov", batch_size=5, lr=0.1,
                                schedule="invscaling"),
    "adam-batch-l2": dict(loss="cross_entropy", optimizer="adam", mode="batch", lr=0.01, l2=1e-3),
    "adam-noshuffle-exp": dict(loss="cross_entropy", optimizer="adam", batch_size=6, shuffle=False,
                               schedule="exponential", gamma=0.9),
    "sgd-val-early": dict(loss="cross_entropy", optimizer="sgd", batch_size=4, lr=0.3, early_stopping=2,
                          min_delta=1e-3),
    "momentum-train-early-grads": dict(loss="cross_entropy", optimizer="momentum", batch_size=16,
                                       early_stopping=3, record_gradients=True),
}


def _trainer(net, cfg, epochs, with_val, **kw):
    X, y = _data()
    opts = dict(CONFIGS[cfg])
    if with_val:
        opts["validation_data"] = (X[:9] + 0.1, y[:9])
    return Trainer(net, epochs=epochs, seed=11, **opts, **kw)


# -- in-process resumption ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cfg", sorted(CONFIGS))
def test_interrupted_and_resumed_run_matches_uninterrupted_bit_for_bit(monkeypatch, cfg, dtype, tmp_path):
    # the segments stop by an on_step hook, which keeps them off the compiled epochs of small networks;
    # the uninterrupted run must take the same path (compiled runs resume: tests/test_compiled.py)
    monkeypatch.setattr(_compiled, "ENABLED", False)
    X, y = _data()
    epochs = 6
    with_val = cfg.startswith("sgd-val")
    ref_net = _net(dtype)
    ref = _trainer(ref_net, cfg, epochs, with_val).run(X, y)
    total = ref.n_updates
    assert total > 3
    # stop after the first update, in the middle of an epoch, on an epoch's last update, near the end
    per_epoch = ref.updates_per_epoch
    stops = sorted({1, per_epoch // 2 + 1, per_epoch, 2 * per_epoch + 1, total - 1} - {0, total})
    path = tmp_path / "run.ckpt"
    state = None
    for stop in stops:
        # after the first segment, other initial weights: they must all come from the checkpoint
        net = _net(dtype, seed=3 if state is None else 99)
        step = _stop_after(stop)
        t = _trainer(net, cfg, epochs, with_val, on_step=step)
        step.trainer = t
        if state is not None:
            t.load_state_dict(state)
        h = t.run(X, y)
        if h.stopped_early and h.n_updates < stop:
            break
        assert h.interrupted and h.n_updates == stop
        save_checkpoint(path, t, extra={"stop": stop})
        state, extra = load_checkpoint(path)  # a fresh Trainer in a fresh network continues from here
        assert extra == {"stop": stop}
    final_net = network_from_state(state)
    final = _trainer(final_net, cfg, epochs, with_val)
    final.load_state_dict(state)
    h = final.run(X, y)
    assert not h.interrupted
    assert _same(_params(final_net), _params(ref_net))
    assert h.loss == ref.loss and h.val_loss == ref.val_loss and h.val_metric == ref.val_metric
    assert h.n_updates == ref.n_updates and h.epochs == ref.epochs
    assert h.stopped_early == ref.stopped_early and h.best_epoch == ref.best_epoch
    assert h.grad_norm == ref.grad_norm and h.mean_abs_delta == ref.mean_abs_delta


def test_epoch_end_checkpoint_callback_resumes_exactly(tmp_path):
    X, y = _data()
    ref_net = _net()
    Trainer(ref_net, loss="cross_entropy", optimizer="adam", epochs=7, batch_size=8, seed=2).run(X, y)

    path = tmp_path / "every2.ckpt"
    net = _net()
    t = Trainer(net, loss="cross_entropy", optimizer="adam", epochs=7, batch_size=8, seed=2)
    seen = []
    t.callbacks.append(checkpoint_callback(path, t, every=2, extra=lambda: {"n": len(seen)}))
    t.callbacks.append(lambda n, info: seen.append(load_checkpoint(path)[0]["meta"]["epoch"])
                       if path.exists() else seen.append(None))
    t.callbacks.append(lambda n, info: info["epoch"] < 5)  # "crash" after epoch 5
    t.run(X, y)
    assert seen == [None, 2, 2, 4, 4]  # written after epochs 2 and 4 only
    state, extra = load_checkpoint(path)
    assert extra == {"n": 3}
    resumed = network_from_state(state)
    t2 = Trainer(resumed, loss="cross_entropy", optimizer="adam", epochs=7, batch_size=8, seed=2)
    t2.load_state_dict(state)
    t2.run(X, y)
    assert t2.history.epochs == 7
    assert _same(_params(resumed), _params(ref_net))


def test_checkpoints_name_optimizer_state_like_estimator_files_and_old_names_still_load(tmp_path):
    """One scheme (opt.<slot>.w.<k>) in checkpoints and estimator files; a checkpoint written with
    the names of backprop 0.1 (opt.<slot>.('w', <k>)) resumes to the same weights."""
    from backprop.io.container import load_arrays, save_arrays

    X, y = _data()
    kw = dict(loss="cross_entropy", optimizer="adam", epochs=4, batch_size=8, seed=2)
    ref_net = _net()
    Trainer(ref_net, **kw).run(X, y)
    t = Trainer(_net(), **kw)
    t.callbacks.append(lambda n, info: info["epoch"] < 2)
    t.run(X, y)
    path = tmp_path / "new.ckpt"
    save_checkpoint(path, t)
    arrays, doc = load_arrays(path)
    opt_names = sorted(n for n in arrays if n.startswith("opt."))
    assert opt_names and all(re.fullmatch(r"opt\.(m|v)\.(w|b)\.\d+", n) for n in opt_names)
    old = {re.sub(r"\.(w|b)\.(\d+)$", lambda m: f".('{m[1]}', {m[2]})", n) if n.startswith("opt.") else n: a
           for n, a in arrays.items()}
    old_path = tmp_path / "old.ckpt"
    save_arrays(old_path, old, doc, kind="checkpoint")
    state, _ = load_checkpoint(old_path)
    resumed = network_from_state(state)
    t2 = Trainer(resumed, **kw)
    t2.load_state_dict(state)
    t2.run(X, y)
    assert _same(_params(resumed), _params(ref_net))


def test_resuming_with_more_epochs_continues_the_same_run():
    X, y = _data()
    ref_net = _net()
    Trainer(ref_net, loss="cross_entropy", epochs=5, batch_size=8, seed=4).run(X, y)
    net = _net()
    t = Trainer(net, loss="cross_entropy", epochs=3, batch_size=8, seed=4)
    t.run(X, y)
    state = {"meta": json.loads(json.dumps(t.state_dict()["meta"])), "arrays": t.state_dict()["arrays"]}
    t2 = Trainer(net.copy(), loss="cross_entropy", epochs=5, batch_size=8, seed=4)
    t2.load_state_dict(state)
    t2.run(X, y)
    assert _same(_params(t2.net), _params(ref_net))


def test_checkpoint_records_architecture_settings_and_extra(tmp_path):
    X, y = _data()
    net = _net("float32")
    t = Trainer(net, loss="cross_entropy", optimizer="nesterov", epochs=2, batch_size=8, lr=0.05, seed=4)
    t.run(X, y)
    p = save_checkpoint(tmp_path / "c.safetensors", t, extra={"args": {"layers": [7, 5]}, "data": "x.csv"})
    state, extra = load_checkpoint(p)
    assert extra == {"args": {"layers": [7, 5]}, "data": "x.csv"}
    assert state["network"] == {"sizes": [3, 7, 5, 3], "hidden": ["tanh", "relu"], "output": "softmax",
                                "dtype": "float32", "seed": 3}
    assert state["trainer"]["optimizer"] == "nesterov" and state["trainer"]["loss"] == "cross_entropy"
    assert state["trainer"]["lr"] == 0.05 and state["trainer"]["batch_size"] == 8
    rebuilt = network_from_state(state)
    assert rebuilt.sizes == net.sizes and rebuilt.hidden == net.hidden and rebuilt.dtype == net.dtype
    assert _same(_params(rebuilt), _params(net))
    # an independent reader: the file is plain safetensors with our JSON in its metadata
    from safetensors import safe_open
    with safe_open(str(p), framework="np") as f:
        doc = json.loads(f.metadata()["backprop"])
        assert doc["kind"] == "checkpoint" and doc["meta"]["format"] == "backprop-checkpoint"
        assert doc["meta"]["state"]["epoch"] == 2
        np.testing.assert_array_equal(f.get_tensor("weights.1"), net.weights[1])


def test_extra_must_be_json(tmp_path):
    X, y = _data()
    t = Trainer(_net(), loss="cross_entropy", epochs=1)
    t.run(X, y)
    with pytest.raises(InvalidInputError, match="extra must be JSON"):
        save_checkpoint(tmp_path / "c", t, extra={"f": object()})
    with pytest.raises(TypeError, match="extra must be a dict"):
        save_checkpoint(tmp_path / "c", t, extra=[1])
    assert not (tmp_path / "c").exists()
    assert os.listdir(tmp_path) == []  # no temporary file left behind


# -- states that do not fit -------------------------------------------------------------------------
def _saved_state(tmp_path, **kw):
    X, y = _data()
    net = _net(**kw)
    t = Trainer(net, loss="cross_entropy", optimizer="adam", epochs=2, batch_size=8, seed=1,
                on_step=None)
    t.run(X, y)
    p = save_checkpoint(tmp_path / "s.ckpt", t)
    return load_checkpoint(p)[0]


@pytest.mark.parametrize("make, match", [
    (lambda: backprop.Network([3, 8, 3], output="softmax"), "made for the network"),
    (lambda: backprop.Network([3, 7, 5, 3], hidden="tanh", output="softmax"), "made for the network"),
    (lambda: _net("float32"), "made for the network"),
])
def test_state_of_another_network_is_refused_and_nothing_changes(tmp_path, make, match):
    state = _saved_state(tmp_path)
    net = make()
    before = _params(net)
    t = Trainer(net, loss="cross_entropy", optimizer="adam")
    with pytest.raises(InvalidInputError, match=match):
        t.load_state_dict(state)
    assert _same(_params(net), before) and t.epoch == 0 and t.history.n_updates == 0


def test_state_of_another_optimizer_or_loss_is_refused(tmp_path):
    state = _saved_state(tmp_path)
    with pytest.raises(InvalidInputError, match="optimizer 'adam'"):
        Trainer(_net(), loss="cross_entropy", optimizer="sgd").load_state_dict(state)
    with pytest.raises(InvalidInputError, match="loss 'cross_entropy'"):
        Trainer(_net(), loss="mse", optimizer="adam").load_state_dict(state)


def test_in_memory_state_with_missing_or_bad_arrays_is_refused():
    X, y = _data()
    t = Trainer(_net(), loss="cross_entropy", optimizer="momentum", epochs=1, batch_size=8)
    t.run(X, y)
    good = t.state_dict()
    for mutate, match in [
        (lambda s: s["arrays"].pop("biases.1"), "biases.1"),
        (lambda s: s["arrays"].__setitem__("weights.0", np.zeros((2, 7))), "weights.0"),
        (lambda s: s["arrays"].__setitem__("perm", np.zeros(37, np.int64)), "perm"),
        (lambda s: s["arrays"].__setitem__("opt.velocity.('w', 9)", np.zeros(3)), "names no parameter"),
        (lambda s: s["meta"].__setitem__("rng", {"bit_generator": "nope"}), "random generator"),
        (lambda s: s["meta"].__setitem__("epoch", -1), "epoch"),
        (lambda s: s["meta"].pop("history"), "history"),
        (lambda s: s.pop("meta"), "meta"),
    ]:
        s = {"meta": json.loads(json.dumps(good["meta"])), "arrays": dict(good["arrays"])}
        mutate(s)
        with pytest.raises(InvalidInputError, match=match):
            Trainer(_net(), loss="cross_entropy", optimizer="momentum").load_state_dict(s)


def test_resuming_mid_epoch_on_other_data_or_batch_size_is_refused():
    X, y = _data()
    step = _stop_after(2)
    t = Trainer(_net(), loss="cross_entropy", epochs=3, batch_size=8, on_step=step)
    step.trainer = t
    t.run(X, y)
    state = t.state_dict()
    t2 = Trainer(_net(), loss="cross_entropy", epochs=3, batch_size=8)
    t2.load_state_dict(state)
    with pytest.raises(InvalidInputError, match="same training data"):
        t2.run(X[:30], y[:30])
    t3 = Trainer(_net(), loss="cross_entropy", epochs=3, batch_size=4)
    t3.load_state_dict(state)
    with pytest.raises(InvalidInputError, match="same batch size"):
        t3.run(X, y)


# -- damaged files ----------------------------------------------------------------------------------
def _good_file(tmp_path):
    X, y = _data()
    t = Trainer(_net(), loss="cross_entropy", optimizer="adam", epochs=1, batch_size=8)
    t.run(X, y)
    p = tmp_path / "good.ckpt"
    save_checkpoint(p, t, extra={"k": "v"})
    return p


def _rewrite(data, mutate_header=None, mutate_doc=None):
    """Re-encode a file's bytes with its safetensors header or its JSON document changed.

    The document is backprop.io's (format_version, kind, tensors, meta); the checkpoint's own
    fields are in its "meta".
    """
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    if mutate_doc is not None:
        doc = json.loads(header["__metadata__"]["backprop"])
        mutate_doc(doc)
        header["__metadata__"]["backprop"] = json.dumps(doc)
    if mutate_header is not None:
        mutate_header(header)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data[8 + n:]


def test_damaged_checkpoints_give_model_file_errors(tmp_path):
    from backprop.io.container import load_arrays, save_arrays

    good = _good_file(tmp_path)
    data = good.read_bytes()
    arrays, doc = load_arrays(good)
    model = tmp_path / "model.safetensors"
    backprop.save(_net(), model)

    def with_arrays(**change):
        """A checkpoint file whose arrays are changed (written as a valid file by backprop.io)."""
        arrs = {k: np.array(v) for k, v in arrays.items()}
        for k, v in change.items():
            name = k.replace("__", ".")
            if v is None:
                arrs.pop(name)
            else:
                arrs[name] = v
        p = tmp_path / "tmp.bin"
        save_arrays(p, arrs, doc, kind="checkpoint")
        return p.read_bytes()

    def meta(**change):
        return lambda d: d["meta"].update(change)

    def network(**change):
        return lambda d: d["meta"]["network"].update(change)

    cases = {
        "missing": (None, "does not exist"),
        "empty": (b"", "truncated"),
        "seven-bytes": (data[:7], "truncated"),
        "truncated-header": (data[:100], "truncated or not a safetensors"),
        "truncated-data": (data[:-10], "truncated or corrupt"),
        "text": (b"sizes = [2, 3, 1]\nweights = ...\n" * 3, "not a safetensors"),
        "pickle": (b"\x80\x04\x95" + b"\x00" * 40 + b"cos\nsystem\n", "pickle"),
        "header-not-json": (struct.pack("<Q", 4) + b"{{{{", "not valid JSON"),
        "header-list": (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        "no-metadata": (_rewrite(data, mutate_header=lambda h: h.pop("__metadata__")), "not a backprop"),
        "meta-not-json": (_rewrite(data, mutate_header=lambda h: h["__metadata__"].update(backprop="{oops")),
                          "not valid JSON"),
        "a-model-not-a-checkpoint": (model.read_bytes(), "not a 'checkpoint'"),
        "other-format": (_rewrite(data, mutate_doc=meta(format="something-else")),
                         "not a backprop checkpoint"),
        "newer-file-format": (_rewrite(data, mutate_doc=lambda d: d.update(format_version=99)),
                              "newer backprop"),
        "newer-checkpoint": (_rewrite(data, mutate_doc=meta(checkpoint_version=99)),
                             "newer than this backprop"),
        "no-network": (_rewrite(data, mutate_doc=lambda d: d["meta"].pop("network")), "'network'"),
        "bad-sizes": (_rewrite(data, mutate_doc=network(sizes=[3, 0, 3])), "sizes"),
        "bad-activation": (_rewrite(data, mutate_doc=network(output="swish")), "output"),
        "bad-dtype-meta": (_rewrite(data, mutate_doc=network(dtype="int8")), "dtype"),
        "dtype-code": (_rewrite(data, mutate_header=lambda h: h["weights.0"].update(dtype="BF16")), "dtype"),
        "shape-lies": (_rewrite(data, mutate_header=lambda h: h["weights.0"].update(shape=[3, 8])),
                       "declares shape"),
        "huge-shape": (_rewrite(data, mutate_header=lambda h: h["weights.0"].update(shape=[2**40, 2**40])),
                       "declares shape"),
        "offsets-outside": (_rewrite(data, mutate_header=lambda h: h["weights.0"].update(
            data_offsets=[0, 2**62])), "truncated or corrupt"),
        "missing-tensor": (with_arrays(weights__1=None), "'weights.1' is missing"),
        "wrong-shape": (with_arrays(weights__1=np.zeros((5, 4))), "'weights.1' has shape"),
        "wrong-dtype": (with_arrays(biases__0=np.zeros(7, np.float32)), "dtype float32"),
        "nan-weight": (with_arrays(weights__2=np.full((5, 3), np.nan)), "NaN"),
        "foreign-tensor": (with_arrays(evil=np.zeros(3)), "unexpected arrays"),
        "bad-perm": (with_arrays(perm=np.arange(37) * 2), "permutation"),
        "bad-rng": (_rewrite(data, mutate_doc=lambda d: d["meta"]["state"].update(rng={"state": 1})),
                    "random generator"),
        "bad-history": (_rewrite(data, mutate_doc=lambda d: d["meta"]["state"]["history"].update(loss=3)),
                        "'state.history.loss'"),
    }
    for name, (content, match) in cases.items():
        p = tmp_path / f"{name}.ckpt"
        if content is not None:
            p.write_bytes(content)
        with pytest.raises(ModelFileError, match=match):
            load_checkpoint(p)
    with pytest.raises(ModelFileError, match="folder"):
        load_checkpoint(tmp_path)


# -- signals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_guard_turns_a_signal_into_a_clean_stop(sig, status):
    X, y = _data()
    net = _net()
    t = Trainer(net, loss="cross_entropy", epochs=50, batch_size=4)

    def on_step(net, info):
        if t.history.n_updates == 12:
            os.kill(os.getpid(), sig)  # delivered at once, in the main thread, mid-epoch

    t.on_step = on_step
    before = signal.getsignal(sig)
    with interrupt_guard(t) as guard:
        h = t.run(X, y)
    # 37 samples in batches of 4: 10 updates per epoch, so 2 batches into the second epoch
    assert h.interrupted and h.n_updates == 12 and t.epoch == 1 and t.pos == 8
    assert guard.signum == sig and guard.exit_status == status
    assert signal.getsignal(sig) is before  # handlers restored


def test_interrupt_guard_second_signal_is_not_swallowed():
    t = Trainer(_net(), loss="cross_entropy", epochs=1)
    with pytest.raises(KeyboardInterrupt):
        with interrupt_guard(t) as guard:
            os.kill(os.getpid(), signal.SIGINT)
            assert t.stop_requested and guard.signum == signal.SIGINT
            os.kill(os.getpid(), signal.SIGINT)  # the user insists: the old handler raises
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupt_guard_leaves_ignored_signals_ignored_and_clears_an_old_stop():
    t = Trainer(_net(), loss="cross_entropy", epochs=1)
    t.stop_requested = True  # left over from an earlier interruption
    old = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with interrupt_guard(t) as guard:
            assert not t.stop_requested
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGINT) == guard._handle
            os.kill(os.getpid(), signal.SIGTERM)  # ignored, as the caller wanted
            time.sleep(0.05)
            assert not t.stop_requested and guard.signum is None
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, old)


def test_interrupt_guard_without_signal_reports_nothing():
    t = Trainer(_net(), loss="cross_entropy", epochs=1)
    X, y = _data()
    with interrupt_guard(t) as guard:
        h = t.run(X, y)
    assert guard.signum is None and guard.exit_status is None and not h.interrupted


# -- in new processes --------------------------------------------------------------------------------
TRAIN_SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import backprop
    from backprop.train.trainer import Trainer
    from backprop.model.files import network_from_state
    from backprop.train.checkpoint import interrupt_guard, load_checkpoint, save_checkpoint

    ckpt, out, slow, resume = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "resume"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)

    def on_step(net, info):
        if info["epoch"] == 2 and info["step"] == 1:
            print("training", flush=True)
        time.sleep(slow)  # time only: the numbers do not depend on it

    net = backprop.Network([4, 16, 8, 2], hidden="tanh", output="softmax", seed=5, dtype="float32")
    t = Trainer(net, loss="cross_entropy", optimizer="adam", epochs=40, batch_size=6, lr=0.01,
                on_step=on_step)
    if resume:
        state, extra = load_checkpoint(ckpt)
        net = t.net = network_from_state(state)
        t.load_state_dict(state)
    with interrupt_guard(t) as guard:
        h = t.run(X, y)
    if h.interrupted:
        save_checkpoint(ckpt, t, extra={"argv": sys.argv[1:]})
    np.save(out, np.concatenate([p.ravel() for p in net.weights + net.biases]))
    print(json.dumps({"interrupted": h.interrupted, "n_updates": h.n_updates}), flush=True)
    sys.exit(guard.exit_status or 0)
""")


def _run_script(tmp_path, *args, timeout=60):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    return subprocess.run([PY, str(script), *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_in_a_subprocess_then_resume_in_another_gives_the_same_weights(tmp_path, sig, status):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    ckpt = tmp_path / "run.ckpt"
    # the uninterrupted run, side by side
    straight = subprocess.Popen([PY, str(script), tmp_path / "unused.ckpt", tmp_path / "c.npy", "0", "new"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = subprocess.Popen([PY, str(script), ckpt, tmp_path / "a.npy", "0.003", "new"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "training"  # inside epoch 2 now: 400 updates to go
        time.sleep(random.uniform(0.0, 0.2))
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["interrupted"] and 10 < summary["n_updates"] < 400
    state, extra = load_checkpoint(ckpt)
    assert state["meta"]["history"]["n_updates"] == summary["n_updates"]
    assert extra["argv"][-1] == "new"

    resumed = _run_script(tmp_path, ckpt, tmp_path / "b.npy", 0, "resume")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.strip().splitlines()[-1]) == {"interrupted": False, "n_updates": 400}
    _, err = straight.communicate(timeout=120)
    assert straight.returncode == 0, err
    assert not (tmp_path / "unused.ckpt").exists()
    a, b = np.load(tmp_path / "b.npy"), np.load(tmp_path / "c.npy")
    assert a.dtype == np.float32 and np.array_equal(a, b)


KILL_SCRIPT = textwrap.dedent("""
    # One import, many victims: each round forks a writer that saves checkpoints in a loop and kills it
    # with SIGKILL at a random moment, then checks what is on disk. Prints one JSON line per round.
    import json, os, random, signal, sys, time, warnings
    import numpy as np
    import backprop
    from backprop.train.trainer import Trainer
    from backprop.train.checkpoint import load_checkpoint, save_checkpoint

    warnings.simplefilter("ignore")
    path, rounds, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    folder = os.path.dirname(path)
    rng = random.Random(seed)
    net = backprop.Network([1000, 1000, 4], dtype="float64", seed=0)   # ~8 MB of weights, x3 with Adam
    t = Trainer(net, loss="mse", optimizer="adam", epochs=1, batch_size=2)
    t.run(np.ones((2, 1000)) / 1000, np.zeros((2, 4)))
    for r in range(rounds):
        before = set(os.listdir(folder))
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:  # the writer: checkpoint after checkpoint, each tensor filled with its number
            os.close(rd)
            i = 1000 * (r + 1)
            while True:
                i += 1
                for p in net.weights + net.biases:
                    p[...] = i
                save_checkpoint(path, t, extra={"i": i})
                os.write(wr, (str(i) + chr(10)).encode())
        os.close(wr)
        reader = os.fdopen(rd)
        first = int(reader.readline())          # one complete write of this round exists
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        done = [first] + [int(v) for v in reader.read().split()]
        reader.close()
        state, extra = load_checkpoint(path)    # must always load
        arrays_match = all((a == extra["i"]).all() for n, a in state["arrays"].items()
                           if n.startswith(("weights", "biases")))
        leftovers = sorted(set(os.listdir(folder)) - before - {os.path.basename(path)})
        print(json.dumps({"killed": os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
                          "loaded": extra["i"], "last_reported": max(done), "arrays_match": arrays_match,
                          "tmp_left": any(n.endswith(".tmp") for n in leftovers)}), flush=True)
""")


def test_sigkill_during_checkpoint_writes_never_damages_the_previous_checkpoint(tmp_path):
    script = tmp_path / "killer.py"
    script.write_text(KILL_SCRIPT)
    path = tmp_path / "ck" / "run.ckpt"
    path.parent.mkdir()
    rounds = 12
    proc = subprocess.run([PY, str(script), str(path), str(rounds), "1234"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == rounds
    for r in results:
        assert r["killed"]
        # the checkpoint on disk is the last completed write (or one completed just before the kill
        # whose number was not yet reported), and its tensors belong to the same write as its metadata
        assert r["loaded"] in (r["last_reported"], r["last_reported"] + 1), r
        assert r["arrays_match"], r
    # at least one kill landed inside a write (its temporary file was left behind): the test did hit the
    # dangerous moment, and the previous checkpoint survived it
    assert any(r["tmp_left"] for r in results), results
    state, extra = load_checkpoint(path)  # and this process can read it too
    assert extra["i"] == results[-1]["loaded"]


# -- through the command line --------------------------------------------------------------------------------
def _console_script():
    exe = os.path.join(os.path.dirname(PY), "backprop")
    return [exe] if os.path.exists(exe) else [PY, "-m", "backprop"]


# spirals: 405 training rows in batches of 8 = 51 updates per epoch; 150 epochs last a few seconds
CLI_RUN = ["train", "spirals", "--layers", "32,16", "--batch-size", "8", "--epochs", "150", "--seed", "3",
           "--quiet"]


def _wait_for_new_file(path, proc, old_inode=None, timeout=120):
    """Wait until ``path`` is (re)written by ``proc``: a checkpoint exists and training is under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.stat(path).st_ino != old_inode:
                return
        except FileNotFoundError:
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError(f"{path} was not written within {timeout} s")


def _weights(path):
    net = backprop.load(path)
    return [p for p in net.weights + net.biases]


@pytest.mark.parametrize("sig, status, name",
                         [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_cli_signal_writes_checkpoint_and_model_and_resume_matches_an_uninterrupted_run(tmp_path, sig, status,
                                                                                           name):
    cli = _console_script()
    ckpt, out = tmp_path / "run.ckpt", tmp_path / "interrupted.safetensors"
    straight = None
    if sig == signal.SIGINT:  # the reference run, side by side
        straight = subprocess.Popen([*cli, *CLI_RUN, "--out", tmp_path / "straight.safetensors"],
                                    cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = subprocess.Popen([*cli, *CLI_RUN, "--out", out, "--checkpoint", ckpt, "--checkpoint-every", "1"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_new_file(ckpt, proc)  # epoch 1 is done: training is under way
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"interrupted by {name}") and "Traceback" not in err
    assert str(ckpt) in line and str(out) in line and f"--resume {ckpt}" in line
    state, extra = load_checkpoint(ckpt)
    assert 1 <= state["meta"]["epoch"] < 150 and state["meta"]["history"]["interrupted"] is True
    assert extra["train_config"]["data"] == "spirals"
    # the model written on interruption holds the same weights as the checkpoint
    model = _weights(out)
    assert _same(model, [state["arrays"][f"{k}.{i}"] for k in ("weights", "biases") for i in range(3)])
    if straight is None:
        return

    resumed = subprocess.run([*cli, "train", "--resume", ckpt, "--out", tmp_path / "resumed.safetensors",
                              "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    _, err = straight.communicate(timeout=180)
    assert straight.returncode == 0, err
    assert _same(_weights(tmp_path / "resumed.safetensors"), _weights(tmp_path / "straight.safetensors"))
    info = backprop.load(tmp_path / "resumed.safetensors").metadata["history"]
    assert info["epochs"] == 150 and info["n_updates"] == 150 * info["updates_per_epoch"]
    assert not info["interrupted"]


def _cli(args, capsys):
    """The command line's entry point, in this process: (status, stderr)."""
    from backprop.cli import main

    with pytest.raises(SystemExit) as info:
        main.main(args=[str(a) for a in args])
    return info.value.code, capsys.readouterr().err


def test_cli_resume_refuses_a_changed_run_and_a_damaged_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "run.ckpt"
    status, err = _cli(["train", "xor", "--layers", "4", "--epochs", "2", "--quiet", "--out",
                        tmp_path / "m.safetensors", "--checkpoint", ckpt], capsys)
    assert status == 0, err
    status, err = _cli(["train", "--resume", ckpt, "--layers", "8", "--out", tmp_path / "m2.safetensors"],
                       capsys)
    assert status == 2 and err.startswith("error: --layers 8 differs from the checkpoint's")
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    status, err = _cli(["train", "--resume", ckpt, "--out", tmp_path / "m2.safetensors"], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "truncated" in err
    assert not (tmp_path / "m2.safetensors").exists()


def test_cli_sigkill_during_training_and_checkpoint_writes_leaves_a_resumable_checkpoint(tmp_path):
    """Kill `backprop train` (4 MB checkpoints every epoch) at random moments, resuming each time from
    whatever checkpoint is on disk: it always loads, and the run keeps going forward."""
    cli = _console_script()
    ckpt = tmp_path / "run.ckpt"
    args = ["train", "spirals", "--layers", "512,512", "--mode", "batch", "--epochs", "100000", "--quiet",
            "--out", tmp_path / "m.safetensors", "--checkpoint", ckpt]
    rng = random.Random(7)
    epochs_seen = []
    inode = None
    for round_ in range(3):
        resume = ["train", "--resume", ckpt, "--out", tmp_path / "m.safetensors", "--quiet"]
        cmd = [*cli, *(args if round_ == 0 else resume)]
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_new_file(ckpt, proc, inode)
            time.sleep(rng.uniform(0.05, 0.6))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == -signal.SIGKILL
        state, extra = load_checkpoint(ckpt)
        epochs_seen.append(state["meta"]["epoch"])
        inode = os.stat(ckpt).st_ino
    assert epochs_seen == sorted(epochs_seen) and epochs_seen[0] >= 1
    assert not (tmp_path / "m.safetensors").exists()  # killed runs never got to write a model


class _StopAfterReads(Trainer):
    """A Trainer whose ``stop_requested`` turns True after ``reads`` reads of it: the fast online path
    (pure Python, no on_step hook) reads it after every update, so this stops it at an arbitrary step."""

    def __init__(self, *args, reads, **kw):
        self._reads_left, self._flag = reads, False
        super().__init__(*args, **kw)

    @property
    def stop_requested(self):
        self._reads_left -= 1
        return self._flag or self._reads_left < 0

    @stop_requested.setter
    def stop_requested(self, value):
        self._flag = value


@pytest.mark.parametrize("dtype, reads",
                         [("float32", 1000), ("float32", 4321), ("float64", 77), ("float64", 9000)])
def test_stop_anywhere_in_the_fast_online_path_resumes_exactly(monkeypatch, tmp_path, dtype, reads):
    """Tiny networks trained online with plain SGD take a pure-Python path: a stop in the middle of it,
    a checkpoint, and a new Trainer give the same bits as the uninterrupted run."""
    monkeypatch.setattr(_compiled, "ENABLED", False)  # the generated-Python path (compiled: test_compiled.py)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(64, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    kw = dict(loss="binary_cross_entropy", mode="online", lr=0.1, epochs=200, seed=2)

    def net():
        return backprop.Network([2, 4, 1], hidden="tanh", output="sigmoid", seed=1, dtype=dtype)

    ref_net = net()
    ref = Trainer(ref_net, **kw)
    ref.run(X, Y)
    assert ref._tiny is not None  # the fast path did run
    t = _StopAfterReads(net(), reads=reads, **kw)
    h = t.run(X, Y)
    assert t._tiny is not None and h.interrupted and 0 < h.n_updates < 200 * 64
    save_checkpoint(tmp_path / "tiny.ckpt", t)
    state, _ = load_checkpoint(tmp_path / "tiny.ckpt")
    resumed = Trainer(network_from_state(state), **kw)
    resumed.load_state_dict(state)
    resumed.run(X, Y)
    assert _same(_params(resumed.net), _params(ref_net))
    assert resumed.history.loss == ref.history.loss
