"""The playground's JSON API through Starlette's TestClient.

Access rules (token, Host, Origin), errors as 4xx with a message, upload limits, the layout of
/api/state, and one update in each mode recomputed here with plain-Python loops of the reference's
formulas -- forward pass, eqs. (2) and (4), eq. (1) per sample, eq. (3), the delta rule (5) --
never by calling the engine.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("starlette", reason="the playground extra (starlette) is not installed")
from starlette.testclient import TestClient

import backprop
from backprop.playground import create_app

TOKEN = "test-token-0123456789"
AUTH = {"authorization": f"token {TOKEN}"}
BASE = "http://127.0.0.1:8765"
REL = 1e-9  # float64 engine against float64 loops: only rounding differences


@pytest.fixture()
def client():
    app = create_app(TOKEN, allowed_hosts=["127.0.0.1"])
    with TestClient(app, base_url=BASE, headers=AUTH) as c:
        yield c


def close(a, b, rel=REL, abs_=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def assert_nested_close(got, want, what, rel=REL, abs_=1e-12):
    if isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{what}: length {len(got)} != {len(want)}"
        for n, (g, w) in enumerate(zip(got, want)):
            assert_nested_close(g, w, f"{what}[{n}]", rel, abs_)
    else:
        assert close(float(got), float(want), rel, abs_), f"{what}: {got} != {want}"


# -- the reference's formulas as plain loops ---------------------------------------------------------
G = {
    "sigmoid": (lambda h: 1.0 / (1.0 + math.exp(-h)), lambda h, a: a * (1.0 - a)),
    "tanh": (math.tanh, lambda h, a: 1.0 - a * a),
    "relu": (lambda h: max(h, 0.0), lambda h, a: 1.0 if h > 0 else 0.0),
    "identity": (lambda h: h, lambda h, a: 1.0),
}


def forward(W, b, acts, x):
    """h^k_j = sum_i a^{k-1}_i w_ij + b_j, a^k_j = g(h^k_j) for one sample."""
    hs, as_, a_prev = [], [], list(x)
    for Wk, bk, act in zip(W, b, acts):
        h = [sum(a_prev[i] * Wk[i][j] for i in range(len(a_prev))) + bk[j] for j in range(len(bk))]
        a = [G[act][0](v) for v in h]
        hs.append(h)
        as_.append(a)
        a_prev = a
    return hs, as_


def backward(W, acts, hs, as_, y):
    """MSE output error term, eq. (2), and hidden error terms, eq. (4), for one sample."""
    L = len(W)
    delta = [None] * L
    delta[L - 1] = [G[acts[-1]][1](hs[-1][j], as_[-1][j]) * (as_[-1][j] - y[j]) for j in range(len(y))]
    for k in range(L - 2, -1, -1):
        nxt = W[k + 1]
        delta[k] = [G[acts[k]][1](hs[k][j], as_[k][j])
                    * sum(delta[k + 1][q] * nxt[j][q] for q in range(len(nxt[j])))
                    for j in range(len(hs[k]))]
    return delta


def reference_update(W, b, acts, X, Y, lr, l2=0.0):
    """Everything one update of the batch (X, Y) computes, by eqs. (1)-(5)."""
    m, L = len(X), len(W)
    rows = []
    for x, y in zip(X, Y):
        hs, as_ = forward(W, b, acts, x)
        rows.append((x, hs, as_, backward(W, acts, hs, as_, y)))
    gW = [[[0.0] * len(W[k][0]) for _ in W[k]] for k in range(L)]
    gb = [[0.0] * len(b[k]) for k in range(L)]
    for x, _, as_, delta in rows:  # eq. (1) per sample, summed ...
        for k in range(L):
            a_prev = x if k == 0 else as_[k - 1]
            for i in range(len(W[k])):
                for j in range(len(W[k][i])):
                    gW[k][i][j] += delta[k][j] * a_prev[i]
            for j in range(len(b[k])):
                gb[k][j] += delta[k][j]
    gW = [[[v / m for v in r] for r in gk] for gk in gW]  # ... and divided by m: eq. (3)
    gb = [[v / m for v in gk] for gk in gb]
    W_new = [[[W[k][i][j] - lr * (gW[k][i][j] + l2 * W[k][i][j]) for j in range(len(W[k][i]))]
              for i in range(len(W[k]))] for k in range(L)]  # eq. (5), with the L2 term when set
    b_new = [[b[k][j] - lr * gb[k][j] for j in range(len(b[k]))] for k in range(L)]
    loss = sum((as_[-1][j] - y[j]) ** 2
               for (_, _, as_, _), y in zip(rows, Y) for j in range(len(y))) / (2 * m)
    return {"h": [[r[1][k] for r in rows] for k in range(L)],
            "a": [[r[2][k] for r in rows] for k in range(L)],
            "delta": [[r[3][k] for r in rows] for k in range(L)], "grad_weights": gW, "grad_biases": gb,
            "weights_after": W_new, "biases_after": b_new, "loss": loss}


# -- access rules ------------------------------------------------------------------------------------
def test_requests_without_the_token_are_refused():
    app = create_app(TOKEN, allowed_hosts=["127.0.0.1"])
    with TestClient(app, base_url=BASE) as c:
        for path in ("/", "/api/state", "/static/app.js"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert "token" in r.json()["error"]
        assert c.post("/api/step").status_code == 401
        assert c.get("/api/state", headers={"authorization": "token wrong-token-xyz"}).status_code == 403
        assert c.get("/api/state?token=wrong-token-xyz").status_code == 403


def test_the_query_token_sets_a_cookie_that_later_requests_use():
    app = create_app(TOKEN, allowed_hosts=["127.0.0.1"])
    with TestClient(app, base_url=BASE) as c:
        r = c.get(f"/?token={TOKEN}")
        assert r.status_code == 200 and "<html" in r.text
        cookie = r.headers["set-cookie"]
        assert TOKEN in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert c.get("/api/state").status_code == 200  # the client sends the cookie now
        assert c.get("/static/app.js").status_code == 200


@pytest.mark.parametrize("host", ["evil.example:8765", "127.0.0.1.evil.example", "192.168.1.10:8765", ""])
def test_a_foreign_host_header_is_refused(client, host):
    r = client.get("/api/state", headers={"host": host})
    assert r.status_code == 403
    assert "host" in r.json()["error"]


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "localhost", "[::1]:8765"])
def test_loopback_host_headers_are_accepted(client, host):
    assert client.get("/api/state", headers={"host": host}).status_code == 200


def test_a_cross_site_origin_is_refused(client):
    r = client.post("/api/step", headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and "origin" in r.json()["error"]
    assert client.post("/api/step", headers={"origin": "http://127.0.0.1:8765"}).status_code == 200


def test_create_app_needs_a_real_token():
    with pytest.raises(backprop.InvalidInputError, match="token"):
        create_app("", allowed_hosts=["127.0.0.1"])


# -- configuration errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("body, words", [
    ({"layers": "4,4"}, "layers"),
    ({"layers": [4, 0]}, "layers[1]"),
    ({"layers": [4] * 9}, "at most"),
    ({"lr": -1}, "lr"),
    ({"lr": "fast"}, "lr"),
    ({"mode": "sometimes"}, "mode"),
    ({"data": "mnist"}, "unknown data"),
    ({"hidden": "softmax"}, "hidden activation"),
    ({"hidden": ["tanh", "relu"], "layers": [4]}, "one per hidden layer"),
    ({"output": "identity", "loss": "cross_entropy"}, "does not fit"),
    ({"colour": "red"}, "unknown configuration key"),
    ({"batch_size": 0}, "batch_size"),
    ({"seed": -3}, "seed"),
])
def test_bad_configs_are_4xx_with_a_message_and_change_nothing(client, body, words):
    before = client.get("/api/state").json()
    r = client.post("/api/config", json=body)
    assert r.status_code == 400
    assert words in r.json()["error"]
    assert client.get("/api/state").json()["weights"] == before["weights"]


def test_a_body_that_is_not_a_json_object_is_400(client):
    for content in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        r = client.post("/api/config", content=content, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]


def test_unit_and_weight_before_any_update_are_409(client):
    r = client.get("/api/unit?layer=1&unit=0")
    assert r.status_code == 409 and "update" in r.json()["error"]
    client.post("/api/step")
    assert client.get("/api/unit?layer=7&unit=0").status_code == 400
    assert client.get("/api/weight?layer=0&i=x&j=0").status_code == 400


# -- uploads --------------------------------------------------------------------------------------------
def csv_bytes(rows=40):
    lines = ["f1,f2,label"] + [f"{i * 0.1:.3f},{(i % 7) * 0.5:.3f},{'yes' if i % 3 else 'no'}"
                               for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_upload_then_train_on_the_chosen_target(client):
    r = client.post("/api/upload?filename=my.csv", content=csv_bytes())
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["columns"] == ["f1", "f2", "label"] and info["rows"] == 40
    r = client.post("/api/config", json={"data": info["id"], "target": "label", "layers": [3]})
    assert r.status_code == 200, r.text
    st = r.json()
    assert st["sizes"] == [2, 3, 1] and st["data"]["classes"] == ["no", "yes"]
    assert st["data"]["n_train"] + st["data"]["n_val"] == 40
    assert client.post("/api/step").status_code == 200
    r = client.post("/api/config", json={"data": info["id"], "target": "nope"})
    assert r.status_code == 400 and "my.csv" in r.json()["error"] and "/tmp" not in r.json()["error"]


def test_uploads_over_the_limit_are_413(client):
    from backprop.playground.app import MAX_UPLOAD

    big = b"a,b\n" + b"1,2\n" * (MAX_UPLOAD // 4 + 1)
    r = client.post("/api/upload?filename=big.csv", content=big)
    assert r.status_code == 413 and "MB" in r.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        for i in range(0, len(big), 1 << 16):
            yield big[i:i + 1 << 16]

    r = client.post("/api/upload?filename=big.csv", content=chunks())
    assert r.status_code == 413
    assert client.get("/api/state").status_code == 200  # the server is fine


@pytest.mark.parametrize("name, content, words", [
    ("data.xlsx", b"PK\x03\x04", "not a CSV"),
    ("data.csv", b"", "empty"),
    ("data.csv", b"\xff\xfe\x00a,b\n", "UTF-8"),
    ("data.csv", b"a,b\n1,2\n3\n", "fields"),
    ("data.csv", b"onlyone\n1\n2\n3\n4\n", "column"),
])
def test_bad_uploads_are_400_with_a_message(client, name, content, words):
    r = client.post(f"/api/upload?filename={name}", content=content)
    assert r.status_code == 400
    assert words in r.json()["error"]


def test_a_non_numeric_feature_column_is_a_clear_config_error(client):
    data = b"city,x,y\n" + b"".join(f"c{i},{i},{i % 2}\n".encode() for i in range(20))
    info = client.post("/api/upload?filename=cities.csv", content=data).json()
    r = client.post("/api/config", json={"data": info["id"], "target": "y"})
    assert r.status_code == 400 and "city" in r.json()["error"]


# -- state layout ----------------------------------------------------------------------------------------
def test_state_layout_matches_net_weights(client):
    st = client.post("/api/config", json={"data": "moons", "layers": [5, 3], "hidden": ["tanh", "relu"],
                                          "mode": "minibatch", "batch_size": 8, "seed": 4}).json()
    assert st["sizes"] == [2, 5, 3, 1] and st["hidden"] == ["tanh", "relu"] and st["output"] == "sigmoid"
    assert st["loss"] == "mse" and st["mode"] == "minibatch" and st["batch_size"] == 8
    assert st["epoch"] == 0 and st["step"] == 0 and st["loss_history"] == []
    for k, (n_in, n_out) in enumerate(zip(st["sizes"][:-1], st["sizes"][1:])):
        assert len(st["weights"][k]) == n_in and all(len(r) == n_out for r in st["weights"][k])
        assert len(st["biases"][k]) == n_out
    # the same seed gives the engine's initial weights: weights[k][i][j] is net.weights[k][i, j]
    net = backprop.Network([2, 5, 3, 1], hidden=["tanh", "relu"], output="sigmoid", seed=4, dtype="float64")
    assert_nested_close(st["weights"], [w.tolist() for w in net.weights], "weights", rel=0, abs_=0)
    m = st["data"]["n_train"]
    assert st["updates_per_epoch"] == -(-m // 8)
    for _ in range(st["updates_per_epoch"]):
        client.post("/api/step")
    st = client.get("/api/state").json()
    assert st["epoch"] == 1 and len(st["loss_history"]) == 1 and len(st["val_loss_history"]) == 1
    assert st["delta_history"]["epoch"] == [1] and len(st["delta_history"]["value"][0]) == 3


def test_inputs_are_standardized_training_rows(client):
    client.post("/api/config", json={"data": "circles", "layers": [2]})
    pts = client.get("/api/points").json()
    raw, x = pts["raw"], pts["x"]
    m = len(raw)
    for c in range(2):
        col = [r[c] for r in raw]
        mean = sum(col) / m
        sd = math.sqrt(sum((v - mean) ** 2 for v in col) / m)
        for r, xr in zip(raw, x):
            assert close(xr[c], (r[c] - mean) / sd, rel=1e-12, abs_=1e-12)


# -- one update in each mode, recomputed -----------------------------------------------------------------
@pytest.mark.parametrize("mode, batch_size, l2", [("online", 1, 0.0), ("batch", None, 0.0),
                                                  ("minibatch", 7, 0.0), ("minibatch", 5, 0.01)])
def test_one_step_matches_the_reference_formulas(client, mode, batch_size, l2):
    cfg = {"data": "xor", "layers": [3, 2], "hidden": ["tanh", "sigmoid"], "output": "sigmoid", "loss": "mse",
           "mode": mode, "lr": 0.7, "seed": 11, "n_samples": 40, "l2": l2}
    if batch_size:
        cfg["batch_size"] = batch_size
    st = client.post("/api/config", json=cfg).json()
    pts = client.get("/api/points").json()
    m = st["data"]["n_train"]
    for n in range(2):  # the first and the second update of the epoch
        st = client.get("/api/state").json()
        W, b = st["weights"], st["biases"]
        r = client.post("/api/step")
        assert r.status_code == 200
        s = r.json()
        batch = s["batch"]
        want_size = {"online": 1, "batch": m}.get(mode, batch_size)
        assert len(batch) == want_size and len(set(batch)) == want_size
        assert s["x"] == [pts["x"][i] for i in batch] and s["y"] == [pts["y"][i] for i in batch]
        ref = reference_update(W, b, ["tanh", "sigmoid", "sigmoid"], s["x"], s["y"], 0.7, l2)
        for key in ("h", "a", "delta", "grad_weights", "grad_biases", "weights_after", "biases_after"):
            assert_nested_close(s[key], ref[key], f"{mode} update {n + 1}: {key}")
        assert close(s["loss"], ref["loss"])
        assert_nested_close(s["weights_before"], W, "weights_before", rel=0, abs_=0)
        assert_nested_close(client.get("/api/state").json()["weights"], ref["weights_after"], "state after")
        if mode == "batch":
            assert sorted(batch) == list(range(m)) and s["epoch_done"]
            assert client.get("/api/state").json()["epoch"] == n + 1


def test_minibatches_cover_the_epoch_once(client):
    st = client.post("/api/config", json={"data": "moons", "mode": "minibatch", "batch_size": 32,
                                          "layers": [3], "n_samples": 120}).json()
    m, seen = st["data"]["n_train"], []
    for _ in range(st["updates_per_epoch"]):
        seen += client.post("/api/step").json()["batch"]
    assert sorted(seen) == list(range(m))
    assert client.get("/api/state").json()["epoch"] == 1


def test_phases_reveal_one_update_in_four_parts(client):
    client.post("/api/config", json={"data": "xor", "layers": [2], "mode": "minibatch", "batch_size": 4})
    W0 = client.get("/api/state").json()["weights"]
    parts = [client.post("/api/phase").json() for _ in range(4)]
    assert [p["phase"] for p in parts] == [1, 2, 3, 4]
    assert [p["phase_name"] for p in parts] == ["forward", "backward", "aggregation", "adaptation"]
    assert len({p["n_update"] for p in parts}) == 1 and len({tuple(p["batch"]) for p in parts}) == 1
    assert "delta" not in parts[0] and "delta" in parts[1]
    assert "grad_weights" not in parts[1] and "grad_weights" in parts[2]
    assert "weights_after" not in parts[2]
    assert parts[3]["weights_after"] == client.get("/api/state").json()["weights"]
    assert parts[0]["weights_before"] == W0
    assert client.post("/api/phase").json()["n_update"] == parts[0]["n_update"] + 1  # (i) of the next update


def test_unit_and_weight_details_agree_with_the_loops(client):
    client.post("/api/config", json={"data": "xor", "layers": [3], "hidden": "tanh", "output": "sigmoid",
                                     "mode": "minibatch", "batch_size": 6, "lr": 0.3, "seed": 2})
    st = client.get("/api/state").json()
    s = client.post("/api/step").json()
    ref = reference_update(st["weights"], st["biases"], ["tanh", "sigmoid"], s["x"], s["y"], 0.3)
    u = client.get("/api/unit?layer=1&unit=2&sample=4").json()
    assert u["kind"] == "hidden" and u["eq"] == 4 and u["row"] == s["batch"][4]
    assert close(u["h"], ref["h"][0][4][2]) and close(u["a"], ref["a"][0][4][2])
    assert close(u["delta"], ref["delta"][0][4][2])
    assert close(u["g_prime"], 1 - ref["a"][0][4][2] ** 2)
    assert close(u["sum"], ref["delta"][1][4][0] * st["weights"][1][2][0])
    o = client.get("/api/unit?layer=2&unit=0&sample=1").json()
    assert o["kind"] == "output" and o["eq"] == 2 and close(o["y"], s["y"][1][0])
    assert close(o["delta"], ref["delta"][1][1][0])
    w = client.get("/api/weight?layer=0&i=1&j=2").json()
    for d, row in enumerate(w["per_sample"]):  # eq. (1) per sample
        assert close(row["grad"], ref["delta"][0][d][2] * s["x"][d][1])
    assert close(w["mean"], ref["grad_weights"][0][1][2])
    assert close(w["w_after"], ref["weights_after"][0][1][2]) and close(w["delta_rule"], w["w_after"])
    bias = client.get("/api/weight?layer=1&i=bias&j=0").json()
    assert close(bias["mean"], ref["grad_biases"][1][0])


# -- playing, streaming, exporting ------------------------------------------------------------------------
def test_play_trains_until_pause_and_the_stream_sends_frames(client):
    client.post("/api/config", json={"data": "xor", "layers": [8, 8], "mode": "online"})
    assert client.post("/api/play", json={"speed": None}).json()["playing"]
    deadline = time.monotonic() + 30
    n = 0
    while time.monotonic() < deadline and n < 50:
        time.sleep(0.05)
        n = client.get("/api/frame").json()["n_updates"]
    paused = client.post("/api/pause").json()
    assert n >= 50 and paused["n_updates"] >= n and not paused["playing"]
    assert client.get("/api/frame").json()["n_updates"] == paused["n_updates"]  # stopped
    text = client.get("/api/stream?max_frames=1").text
    assert text.startswith("event: frame\ndata: ")
    frame = json.loads(text.split("data: ", 1)[1])
    assert frame["n_updates"] == paused["n_updates"] and len(frame["maps"]["units"]) == 4
    assert client.post("/api/play", json={"speed": -1}).status_code == 400


def test_run_and_reset(client):
    cfg = {"data": "gaussians", "layers": [4], "mode": "batch", "seed": 5}
    st = client.post("/api/config", json=cfg).json()
    r = client.post("/api/run", json={"updates": 25}).json()
    assert r["updates"] == 25 and r["epoch"] == 25 and len(r["loss_history"]) == 25
    assert client.post("/api/run", json={"updates": 0}).status_code == 400
    again = client.post("/api/reset").json()
    assert again["weights"] == st["weights"] and again["epoch"] == 0 and again["config"] == st["config"]


def test_exported_model_loads_and_predicts_like_the_loops(client, tmp_path):
    client.post("/api/config", json={"data": "moons", "layers": [4], "hidden": "tanh", "seed": 1})
    client.post("/api/run", json={"updates": 30})
    st = client.get("/api/state").json()
    r = client.get("/api/export/model")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    path = tmp_path / "m.safetensors"
    path.write_bytes(r.content)
    net = backprop.load(str(path))
    assert list(net.sizes) == st["sizes"] and net.hidden == ["tanh"] and net.output == "sigmoid"
    x = client.get("/api/points").json()["x"][:5]
    got = net.predict(x)
    for row, g in zip(x, got):
        _, as_ = forward(st["weights"], st["biases"], ["tanh", "sigmoid"], row)
        assert close(float(g[0]), as_[-1][0], rel=1e-12)


def test_explain_export_of_the_current_update(client):
    client.post("/api/config", json={"data": "xor", "layers": [2], "mode": "minibatch", "batch_size": 4})
    s = client.post("/api/step").json()
    for fmt, marker in (("markdown", "$"), ("text", "η"), ("latex", "\\"), ("html", "<")):
        r = client.get(f"/api/export/explain?format={fmt}&sample=2")
        assert r.status_code == 200 and marker in r.text
        assert f"row {s['batch'][2]}" in r.text
    assert client.get("/api/export/explain?format=pdf").status_code == 400
    assert client.get("/api/export/explain?sample=99").status_code == 400


def test_divergence_is_a_message_not_a_crash(client):
    client.post("/api/config", json={"data": "sin", "layers": [8], "hidden": "relu", "mode": "online",
                                     "lr": 100})
    r = client.post("/api/run", json={"updates": 5000})
    assert r.status_code == 400 and "diverged" in r.json()["error"]
    assert client.get("/api/state").status_code == 200


# -- serve(): URL with the token, loopback, Ctrl-C ---------------------------------------------------------
def test_serve_prints_the_url_and_stops_cleanly_on_ctrl_c(tmp_path):
    import signal
    import urllib.error
    import urllib.request

    code = "from backprop.playground import serve; serve(port=0, open_browser=False)"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    stream = None
    try:
        line = p.stdout.readline()  # bounded: the process either prints or dies
        assert line.startswith("backprop playground: http://127.0.0.1:"), line + p.stderr.read()
        url = line.split(": ", 1)[1].strip()
        assert "token=" in url and len(url.split("token=")[1]) >= 20
        with urllib.request.urlopen(url, timeout=10) as r:  # no cookie jar: every request stands alone
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.split("?")[0] + "api/state", timeout=10)
        assert refused.value.code == 401
        refused.value.close()
        auth = {"authorization": "token " + url.split("token=")[1]}
        base = url.split("?")[0]
        play = urllib.request.Request(base + "api/play", data=b"{}", headers=auth)
        urllib.request.urlopen(play, timeout=10).close()
        stream = urllib.request.urlopen(urllib.request.Request(base + "api/stream", headers=auth), timeout=10)
        assert stream.readline() == b"event: frame\n"  # a stream is open and training runs: Ctrl-C now
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if stream is not None:
            stream.close()
        if p.poll() is None:
            p.kill()
            p.wait(5)
    assert p.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err and "ERROR" not in err, err


def test_serve_warns_when_not_on_loopback(capsys):
    from backprop.playground.server import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_the_start_data_can_be_a_built_in_or_a_csv_file(tmp_path):
    path = tmp_path / "points.csv"
    path.write_bytes(csv_bytes(30))
    app = create_app(TOKEN, allowed_hosts=["127.0.0.1"], data=str(path))
    with TestClient(app, base_url=BASE, headers=AUTH) as c:
        st = c.get("/api/state").json()
        assert st["data"]["target"] == "label" and st["sizes"][0] == 2
        assert st["config"]["data"].startswith("upload-")
        assert [u["filename"] for u in c.get("/api/options").json()["uploads"]] == ["points.csv"]
    app = create_app(TOKEN, allowed_hosts=["127.0.0.1"], data="spirals")
    with TestClient(app, base_url=BASE, headers=AUTH) as c:
        assert c.get("/api/state").json()["config"]["data"] == "spirals"
    with pytest.raises(backprop.InvalidInputError, match="neither a built-in"):
        create_app(TOKEN, allowed_hosts=["127.0.0.1"], data=str(tmp_path / "missing.csv"))


def test_the_decision_region_map_is_the_networks_output_over_the_plane(client):
    import base64

    client.post("/api/config", json={"data": "moons", "layers": [3], "hidden": "tanh", "output": "sigmoid"})
    client.post("/api/run", json={"updates": 40})
    st, pts, maps = client.get("/api/state").json(), client.get("/api/points").json(), \
        client.get("/api/frame").json()["maps"]
    n, (x_lo, y_lo), (x_hi, y_hi) = maps["region_size"], maps["lo"], maps["hi"]
    q = maps["region"][0]
    assert (q["lo"], q["hi"]) == (0.0, 1.0)  # probabilities keep their absolute scale
    pixels = base64.b64decode(q["b64"])
    assert len(pixels) == n * n
    raw = pts["raw"]
    mean = [sum(r[c] for r in raw) / len(raw) for c in range(2)]
    sd = [math.sqrt(sum((r[c] - mean[c]) ** 2 for r in raw) / len(raw)) for c in range(2)]
    for row, col in ((0, 0), (n - 1, n - 1), (n // 2, 7), (5, n - 3)):  # image row 0 is the top (largest x2)
        x1 = x_lo + (col + 0.5) * (x_hi - x_lo) / n
        x2 = y_hi - (row + 0.5) * (y_hi - y_lo) / n
        x = [(x1 - mean[0]) / sd[0], (x2 - mean[1]) / sd[1]]
        _, as_ = forward(st["weights"], st["biases"], ["tanh", "sigmoid"], x)
        assert abs(pixels[row * n + col] / 255 - as_[-1][0]) <= 0.5 / 255 + 1e-9


def test_json_bodies_are_size_limited_too(client):
    from backprop.playground.app import MAX_JSON

    body = b'{"data": "xor", "pad": "' + b"x" * MAX_JSON + b'"}'
    r = client.post("/api/config", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["error"]


def test_a_null_origin_is_refused(client):
    assert client.post("/api/step", headers={"origin": "null"}).status_code == 403
