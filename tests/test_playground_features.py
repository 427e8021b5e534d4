"""The playground's TensorFlow Playground extras through its JSON API (Starlette's TestClient).

Input features (x1^2, sin(x1), ... computed here with NumPy from the raw points and standardized
here), the share of test data and the noise of the built-ins, the test loss (recomputed here from
the held-out rows), editing a weight (the next update recomputed here with NumPy from the edited
weights), and the regression sets on the plane (targets from their formulas written out here,
R^2 by scikit-learn's r2_score).
"""

from __future__ import annotations

import base64
import csv

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the playground extra (starlette) is not installed")
from starlette.testclient import TestClient

from backprop.playground import create_app
from clitools import run_cli

TOKEN = "test-token-0123456789"
AUTH = {"authorization": f"token {TOKEN}"}
RTOL = 1e-10  # float64 engine against float64 NumPy written here: rounding differences only

ALL = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]


@pytest.fixture()
def client():
    app = create_app(TOKEN, allowed_hosts=["127.0.0.1"])
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=AUTH) as c:
        yield c


def config(client, **cfg):
    r = client.post("/api/config", json=cfg)
    assert r.status_code == 200, r.text
    return r.json()


# -- independent computations ------------------------------------------------------------------------
def features_of(raw, names):
    """The feature columns written out one by one (not the playground's table)."""
    raw = np.asarray(raw, dtype=np.float64)
    x1, x2 = raw[:, 0], raw[:, 1]
    table = {"x1": x1, "x2": x2, "x1^2": x1 ** 2, "x2^2": x2 ** 2, "x1*x2": x1 * x2,
             "sin(x1)": np.sin(x1), "sin(x2)": np.sin(x2)}
    return np.column_stack([table[n] for n in names])


def standardizer(train_features):
    """(raw - mean) / sd with the training rows' mean and population sd."""
    mean, sd = train_features.mean(axis=0), train_features.std(axis=0)
    return lambda F: (F - mean) / sd


ACT = {"tanh": (np.tanh, lambda a: 1 - a * a),
       "sigmoid": (lambda h: 1 / (1 + np.exp(-h)), lambda a: a * (1 - a)),
       "identity": (lambda h: h, lambda a: np.ones_like(a))}


def forward(state, X):
    """Every layer's a for the rows X, from the state's weights (the reference's eq. for h and a)."""
    acts = [*state["hidden"], state["output"]]
    out, a = [], X
    for W, b, g in zip(state["weights"], state["biases"], acts):
        a = ACT[g][0](a @ np.asarray(W) + np.asarray(b))
        out.append(a)
    return out


def mse(Y, yhat):
    return float(((yhat - Y) ** 2).sum() / (2 * len(Y)))


def sgd_batch_step(state, X, Y, lr):
    """One batch update with MSE by eqs. (1)-(5): deltas, mean gradients, w - lr * grad."""
    acts = [*state["hidden"], state["output"]]
    a = forward(state, X)
    Ws = [np.asarray(w) for w in state["weights"]]
    bs = [np.asarray(b) for b in state["biases"]]
    delta = [None] * len(Ws)
    delta[-1] = ACT[acts[-1]][1](a[-1]) * (a[-1] - Y)  # eq. (2)
    for k in range(len(Ws) - 2, -1, -1):
        delta[k] = ACT[acts[k]][1](a[k]) * (delta[k + 1] @ Ws[k + 1].T)  # eq. (4)
    m = len(X)
    ins = [X, *a[:-1]]
    new_W = [W - lr * (ins[k].T @ delta[k]) / m for k, W in enumerate(Ws)]  # eqs. (1), (3), (5)
    new_b = [b - lr * delta[k].mean(axis=0) for k, b in enumerate(bs)]
    return new_W, new_b


# -- input features ---------------------------------------------------------------------------------
def test_the_network_is_fed_the_features_of_the_raw_points_standardized(client):
    st = config(client, data="moons", layers=[3], features=ALL, n_samples=120)
    assert st["sizes"][0] == 7 and st["data"]["features"] == ALL and st["config"]["features"] == ALL
    pts = client.get("/api/points").json()
    F = features_of(pts["raw"], ALL)
    np.testing.assert_allclose(pts["x"], standardizer(F)(F), rtol=RTOL, atol=1e-12)
    s = client.post("/api/step").json()  # the rows of an update: the same inputs
    np.testing.assert_allclose(s["x"], standardizer(F)(F)[s["batch"]], rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("features", [["x1"], ["x1^2", "x2^2"], ["x2", "x1", "x1*x2"], ALL])
def test_features_set_the_input_layer_width_in_the_order_given(client, features):
    st = config(client, data="circles", layers=[2], features=features)
    assert st["sizes"][0] == len(features) and st["data"]["features"] == features
    assert len(st["weights"][0]) == len(features)


def test_the_maps_and_the_decision_region_use_the_same_features(client):
    feats = ["x1", "sin(x2)", "x1*x2"]
    st = config(client, data="moons", layers=[3], hidden="tanh", output="sigmoid", features=feats)
    client.post("/api/run", json={"updates": 25})
    st, pts = client.get("/api/state").json(), client.get("/api/points").json()
    maps = client.get("/api/frame").json()["maps"]
    n, (x_lo, y_lo), (x_hi, y_hi) = maps["region_size"], maps["lo"], maps["hi"]
    cols = x_lo + (np.arange(n) + 0.5) * (x_hi - x_lo) / n
    rows = y_hi - (np.arange(n) + 0.5) * (y_hi - y_lo) / n  # image row 0 is the top: the largest x2
    g1, g2 = np.meshgrid(cols, rows)
    grid = np.c_[g1.ravel(), g2.ravel()]
    std = standardizer(features_of(pts["raw"], feats))
    p = forward(st, std(features_of(grid, feats)))[-1][:, 0]
    pixels = np.frombuffer(base64.b64decode(maps["region"][0]["b64"]), np.uint8) / 255
    assert np.abs(pixels - p).max() <= 0.5 / 255 + 1e-9
    assert len(maps["units"][0]) == 3  # one small map per input unit: its feature over the plane


@pytest.mark.parametrize("features, words", [
    ("x1", "features must be a list"),
    ([], "at least one input feature"),
    (["x1", "x3"], "unknown input feature 'x3'; choose from: x1, x2, x1^2"),
    (["x1", 2], "unknown input feature 2"),
    (["sin(x1)", "sin(x1)"], "'sin(x1)' is listed twice"),
])
def test_bad_features_are_400_with_a_message_and_change_nothing(client, features, words):
    before = client.get("/api/state").json()
    r = client.post("/api/config", json={"data": "xor", "features": features})
    assert r.status_code == 400 and words in r.json()["error"]
    assert client.get("/api/state").json()["config"] == before["config"]


def test_features_apply_to_data_on_the_plane_only(client):
    r = client.post("/api/config", json={"data": "sin", "features": ["x1", "x1^2"]})
    assert r.status_code == 400
    assert "apply to data on the plane" in r.json()["error"] and "1 input column" in r.json()["error"]
    st = config(client, data="sin")  # the default list is the data's own inputs
    assert st["sizes"][0] == 1 and st["data"]["dims"] == 1 and st["data"]["input_features"] is None
    body = "a,b,c,y\n" + "".join(f"{i},{i % 3},{i % 5},{i % 2}\n" for i in range(20))
    up = client.post("/api/upload?filename=three.csv", content=body.encode()).json()
    r = client.post("/api/config", json={"data": up["id"], "target": "y", "features": ["x1^2"]})
    assert r.status_code == 400
    assert "three.csv" in r.json()["error"] and "3 input columns" in r.json()["error"]


def test_a_two_column_upload_takes_features_named_after_its_columns(client):
    rows = [(i / 10, (i * 7 % 13) / 5, i % 2) for i in range(40)]
    body = "u,v,y\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)
    up = client.post("/api/upload?filename=uv.csv", content=body.encode()).json()
    st = config(client, data=up["id"], target="y", features=["x1", "x1*x2", "sin(x2)"], val_fraction=0)
    assert st["data"]["features"] == ["u", "u*v", "sin(v)"]
    pts = client.get("/api/points").json()
    F = features_of(pts["raw"], ["x1", "x1*x2", "sin(x2)"])
    np.testing.assert_allclose(pts["x"], standardizer(F)(F), rtol=RTOL, atol=1e-12)


def test_the_exported_model_takes_the_feature_columns(client, tmp_path, capsys):
    feats = ["x1", "x2", "x1^2", "sin(x1)"]
    config(client, data="moons", layers=[3], features=feats, seed=2)
    client.post("/api/run", json={"updates": 20})
    st, pts = client.get("/api/state").json(), client.get("/api/points").json()
    model = tmp_path / "m.safetensors"
    model.write_bytes(client.get("/api/export/model").content)
    import backprop

    meta = backprop.load(str(model)).metadata
    assert meta["feature_names"] == feats and meta["input_features"]["features"] == feats
    assert meta["input_features"]["computed_from"] == ["x1", "x2"] and "dataset" not in meta
    F = features_of(pts["raw"][:12], feats)  # the documented use: a CSV of the feature columns
    data = tmp_path / "features.csv"
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(feats)
        w.writerows(F.tolist())
    out = tmp_path / "p.csv"
    code, _, err = run_cli(["predict", model, data, "--proba", "--out", out], capsys)
    assert code == 0, err
    with open(out) as f:
        got = [float(r[-1]) for r in list(csv.reader(f))[1:]]
    std = standardizer(features_of(pts["raw"], feats))
    want = forward(st, std(F))[-1][:, 0]  # p(class 1) of the one sigmoid unit
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-7 + 1e-12)  # the CSV's 6 printed digits


def test_the_exported_model_records_the_noise_and_the_test_share(client, tmp_path):
    import backprop
    from backprop.data import datasets

    config(client, data="moons", noise=0.3, val_fraction=0.4, data_seed=3, n_samples=100)
    pts = client.get("/api/points").json()
    model = tmp_path / "m.safetensors"
    model.write_bytes(client.get("/api/export/model").content)
    rec = backprop.load(str(model)).metadata["dataset"]
    assert rec["name"] == "moons" and "input_features" not in backprop.load(str(model)).metadata
    ds = datasets.load(rec["name"], **rec["options"])  # the rows drawn again from the record
    np.testing.assert_array_equal(ds.X_test, pts["test_raw"])
    np.testing.assert_array_equal(ds.X, pts["raw"])


# -- test share, noise, test loss -------------------------------------------------------------------
@pytest.mark.parametrize("fraction, n_train, n_test", [(0.25, 150, 50), (0.5, 100, 100), (0.1, 180, 20),
                                                       (0.0, 200, 0)])
def test_the_test_share_of_a_built_in(client, fraction, n_train, n_test):
    st = config(client, data="circles", n_samples=200, val_fraction=fraction)
    assert (st["data"]["n_train"], st["data"]["n_val"]) == (n_train, n_test)
    pts = client.get("/api/points").json()
    assert len(pts["raw"]) == n_train and len(pts["test_raw"]) == n_test == len(pts["test_label"])
    if n_test:  # stratified: both classes held out equally
        assert sorted(pts["test_label"]).count(0) == n_test // 2
        # no row is both trained on and held out
        assert not {tuple(r) for r in pts["raw"]} & {tuple(r) for r in pts["test_raw"]}
    else:
        assert client.get("/api/frame").json()["test_loss"] is None


def test_a_test_share_that_leaves_a_part_empty_is_a_400_in_the_configs_words(client):
    r = client.post("/api/config", json={"data": "sin", "n_samples": 8, "val_fraction": 0.05})
    assert r.status_code == 400
    assert "val_fraction (the share of test data) 0.05 of 8 rows leaves an empty part" in r.json()["error"]


def test_noise_free_built_ins_lie_on_their_generators_curves(client):
    config(client, data="circles", noise=0, val_fraction=0.5)
    pts = client.get("/api/points").json()
    for raw, label in ((pts["raw"], pts["label"]), (pts["test_raw"], pts["test_label"])):
        r = np.hypot(*np.asarray(raw).T)
        np.testing.assert_allclose(r, np.where(np.asarray(label) == 0, 1.0, 0.5), rtol=1e-12)
    config(client, data="circles", noise=0.2)
    r = np.hypot(*np.asarray(client.get("/api/points").json()["raw"]).T)
    assert np.abs(r - np.round(r * 2) / 2).max() > 0.1  # noise moves points off the circles


def test_the_test_loss_is_the_training_loss_on_the_held_out_rows(client):
    st = config(client, data="xor", layers=[3], output="sigmoid", loss="mse", val_fraction=0.4,
                mode="batch", lr=0.7, seed=4)
    client.post("/api/run", json={"updates": 3})  # batch mode: 3 epochs
    st, pts = client.get("/api/state").json(), client.get("/api/points").json()
    f = client.get("/api/frame").json()
    std = standardizer(features_of(pts["raw"], ["x1", "x2"]))
    Xt = std(features_of(pts["test_raw"], ["x1", "x2"]))
    Yt = np.asarray(pts["test_label"], np.float64).reshape(-1, 1)
    want = mse(Yt, forward(st, Xt)[-1])
    assert np.isclose(f["test_loss"], want, rtol=RTOL)
    assert np.isclose(st["val_loss_history"][-1], want, rtol=RTOL)  # the curve's last point, same weights
    Xtr, Ytr = np.asarray(pts["x"]), np.asarray(pts["y"])
    assert np.isclose(f["train_loss"], mse(Ytr, forward(st, Xtr)[-1]), rtol=RTOL)
    assert len(f["val_loss_history"]["value"]) == len(f["loss_history"]["value"]) == 3


# -- editing a weight -------------------------------------------------------------------------------
def test_an_edited_weight_is_where_the_next_update_starts(client):
    config(client, data="xor", layers=[3], hidden="tanh", output="sigmoid", loss="mse", mode="batch",
           lr=0.8, seed=5, n_samples=60)
    client.post("/api/step")
    st = client.post("/api/weight", json={"layer": 0, "i": 1, "j": 2, "value": 1.25}).json()
    assert st["weights"][0][1][2] == 1.25 and st["n_edits"] == 1
    st = client.post("/api/weight", json={"layer": 1, "i": "bias", "j": 0, "value": -0.5}).json()
    assert st["biases"][1][0] == -0.5
    assert client.get("/api/frame").json()["weights"][0][1][2] == 1.25  # the drawing's weights too
    pts = client.get("/api/points").json()
    X, Y = np.asarray(pts["x"]), np.asarray(pts["y"])
    want_W, want_b = sgd_batch_step(st, X, Y, 0.8)
    s = client.post("/api/step").json()
    assert s["weights_before"][0][1][2] == 1.25 and s["biases_before"][1][0] == -0.5
    for k in range(2):
        np.testing.assert_allclose(s["weights_after"][k], want_W[k], rtol=RTOL, atol=1e-13)
        np.testing.assert_allclose(s["biases_after"][k], want_b[k], rtol=RTOL, atol=1e-13)
    panel = client.get("/api/weight?layer=0&i=1&j=2").json()
    assert panel["w_before"] == 1.25 and np.isclose(panel["w_after"], want_W[0][1, 2], rtol=RTOL)


def test_editing_during_the_phases_of_an_update_completes_it_first(client):
    config(client, data="xor", layers=[2], mode="batch", seed=1)
    client.post("/api/phase")
    assert client.get("/api/state").json()["phase"] == 1
    st = client.post("/api/weight", json={"layer": 0, "i": 0, "j": 0, "value": 0.5}).json()
    assert st["phase"] == 4 and st["n_updates"] == 1 and st["weights"][0][0][0] == 0.5
    assert client.post("/api/phase").json()["weights_before"][0][0][0] == 0.5


@pytest.mark.parametrize("body, words", [
    ({"layer": 0, "i": 0, "j": 0, "value": 1e3}, "from -100 to 100"),
    ({"layer": 0, "i": 0, "j": 0, "value": "1"}, "finite number"),
    ({"layer": 0, "i": 0, "j": 0, "value": 10**400}, "from -100 to 100"),
    ({"layer": 0, "i": 0, "j": 0}, "value is missing"),
    ({"layer": 2, "i": 0, "j": 0, "value": 1}, "layer must be an integer from 0 to 1"),
    ({"layer": 0, "i": 2, "j": 0, "value": 1}, "i must be an integer from 0 to 1"),
    ({"layer": 0, "i": 0, "j": 3, "value": 1}, "j must be an integer from 0 to 2"),
    ({"layer": 0, "i": 0, "j": 0, "value": 1, "w": 2}, "unknown key 'w'"),
])
def test_bad_weight_edits_are_400_and_change_nothing(client, body, words):
    before = config(client, data="xor", layers=[3])
    r = client.post("/api/weight", json=body)
    assert r.status_code == 400 and words in r.json()["error"], r.text
    assert client.get("/api/state").json()["weights"] == before["weights"]


def test_a_non_finite_value_is_refused_before_parsing(client):
    r = client.post("/api/weight", content=b'{"layer": 0, "i": 0, "j": 0, "value": NaN}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]


# -- regression on the plane -------------------------------------------------------------------------
def plane(X):
    return (X[:, 0] + X[:, 1]) / 2


def multigauss(X):
    bumps = [(-0.5, 0.5, 1.0), (0.5, 0.5, -1.0), (-0.5, -0.5, -1.0), (0.5, -0.5, 1.0), (0.0, 0.0, 0.5)]
    return sum(s * np.exp(-((X[:, 0] - a) ** 2 + (X[:, 1] - b) ** 2) / (2 * 0.3 ** 2)) for a, b, s in bumps)


@pytest.mark.parametrize("name, target", [("plane", plane), ("multigauss", multigauss)])
def test_regression_on_the_plane(client, name, target):
    from sklearn.metrics import r2_score

    st = config(client, data=name, noise=0, layers=[6], mode="batch", lr=0.3)
    assert st["output"] == "identity" and st["loss"] == "mse" and st["metric"] == "r2"
    assert st["data"]["task"] == "regression" and st["data"]["dims"] == 2
    pts = client.get("/api/points").json()
    for raw, label in ((pts["raw"], pts["label"]), (pts["test_raw"], pts["test_label"])):
        raw = np.asarray(raw)
        assert np.all(np.abs(raw) <= 1)
        np.testing.assert_allclose(label, target(raw), rtol=1e-12, atol=1e-15)  # exactly on the surface
    client.post("/api/run", json={"updates": 5})
    st = client.get("/api/state").json()
    std = standardizer(np.asarray(pts["raw"]))
    y = np.asarray(pts["label"])
    pred = forward(st, std(np.asarray(pts["test_raw"])))[-1][:, 0]  # in standardized target units
    want = r2_score((np.asarray(pts["test_label"]) - y.mean()) / y.std(), pred)
    assert np.isclose(st["val_metric_history"][-1], want, rtol=1e-9)
    region = client.get("/api/frame").json()["maps"]["region"]
    assert len(region) == 1  # one output: the heatmap is the predicted value


def test_the_options_list_the_features_and_the_new_built_ins(client):
    o = client.get("/api/options").json()
    assert o["features"] == ALL and {"plane", "multigauss"} <= set(o["builtins"])
    assert o["defaults"]["features"] == ["x1", "x2"]
    assert "sin" in o["builtins"] and "sin" not in o["plane_builtins"] and "plane" in o["plane_builtins"]


def test_the_weight_edit_is_an_endpoint_of_the_transport_free_api():
    """The notebook widget calls api.handle without HTTP: the edit and its errors work there too."""
    import asyncio
    import json

    from backprop.playground import api

    async def go():
        pg = api.Playground("xor")
        try:
            ok = await api.handle(pg, "POST", "/api/weight", {}, {"layer": 0, "i": 1, "j": 0, "value": -2.5})
            bad = await api.handle(pg, "POST", "/api/weight", {}, {"layer": 0, "i": 1, "j": 0, "value": 101})
            return ok, bad
        finally:
            pg.close()

    ok, bad = asyncio.run(go())
    assert ok.status == 200 and json.loads(ok.content)["weights"][0][1][0] == -2.5
    assert bad.status == 400 and "from -100 to 100" in json.loads(bad.content)["error"]
