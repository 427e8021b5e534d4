"""backprop.plots and ``backprop plot``: every figure is a real image of the asked size.

PNGs are read back with matplotlib.image.imread and must be figsize * dpi pixels; the content
checks look for the colours the figure must contain (the TensorFlow Playground's orange and blue
on the correct side of a known decision boundary). Headless runs are checked in subprocesses, one
with MPLBACKEND=Agg and one with neither DISPLAY nor MPLBACKEND set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import backprop
from backprop.errors import InvalidInputError
from backprop.see import plots

FIGSIZE, DPI = (4.0, 3.0), 50
SHAPE = (int(FIGSIZE[1] * DPI), int(FIGSIZE[0] * DPI), 4)  # rows, columns, RGBA
ORANGE = np.array([0xF5, 0x93, 0x22]) / 255
BLUE = np.array([0x08, 0x77, 0xBD]) / 255


def read_png(path):
    import matplotlib.image as mpimg

    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(path)


def near(img, colour, tol=0.12):
    """Mask of pixels within ``tol`` (per channel) of ``colour``."""
    return np.all(np.abs(img[..., :3] - colour) < tol, axis=-1)


def toward(img, colour):
    """Mask of pixels tinted towards ``colour`` (pale blends count): their hue points at it."""
    rgb = img[..., :3]
    tint = 1.0 - rgb  # how far from white, per channel
    want = 1.0 - colour
    norm = np.linalg.norm(tint, axis=-1) * np.linalg.norm(want)
    cos = (tint @ want) / np.where(norm > 0, norm, 1)
    return (np.linalg.norm(tint, axis=-1) > 0.08) & (cos > 0.97)


@pytest.fixture(scope="module")
def trained():
    """A small run with validation data and recorded gradients, and its data."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (80, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)  # xor quadrants
    net = backprop.Network([2, 6, 1], hidden="tanh", output="sigmoid", seed=1)
    h = net.fit(X[:60], y[:60], epochs=8, lr=0.5, batch_size=8, validation_data=(X[60:], y[60:]),
                record_gradients=True)
    return net, X, y, h


# ---------------------------------------------------------------------------------------------
# the four kinds, in process
# ---------------------------------------------------------------------------------------------
def test_plot_loss_png(tmp_path, trained):
    _, _, _, h = trained
    path = plots.plot_loss(h, tmp_path / "loss.png", figsize=FIGSIZE, dpi=DPI)
    img = read_png(path)
    assert img.shape == SHAPE
    assert near(img, BLUE).sum() > 20 and near(img, ORANGE).sum() > 20  # training and validation lines
    # the History's dict works too (a saved model's metadata["history"]); without validation one panel
    d = h.to_dict()
    d["val_loss"], d["val_metric"] = [], []
    img2 = read_png(plots.plot_loss(d, tmp_path / "loss2.png", figsize=FIGSIZE, dpi=DPI))
    assert img2.shape == SHAPE and near(img2, ORANGE).sum() < 5


def test_plot_loss_svg_is_xml(tmp_path, trained):
    path = plots.plot_loss(trained[3], tmp_path / "loss.svg")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")


def test_plot_boundary_puts_the_classes_on_their_sides(tmp_path):
    # p = sigmoid(8 x_1): class 1 (blue) right of x_1 = 0, class 0 (orange) left of it
    net = backprop.Network([2, 1], output="sigmoid", seed=0, dtype="float64")
    net.weights[0][...] = [[8.0], [0.0]]
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (60, 2))
    y = (X[:, 0] > 0).astype(int)
    img = read_png(plots.plot_boundary(net, X, y, tmp_path / "b.png", figsize=(6, 4), dpi=DPI))
    assert img.shape == (4 * DPI, 6 * DPI, 4)
    # compare the plot's left and right thirds (the colour bar sits at the far right)
    w = img.shape[1]
    left, right = img[:, : w // 3], img[:, w // 3: 2 * w // 3]
    assert toward(left, ORANGE).sum() > 5 * toward(left, BLUE).sum()
    assert toward(right, BLUE).sum() > toward(right, ORANGE).sum()


def test_plot_boundary_softmax_and_regression(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 2))
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, 50)]
    net = backprop.Network([2, 5, 3], hidden="relu", output="softmax", seed=3)
    img = read_png(plots.plot_boundary(net, X, labels, tmp_path / "s.png", classes=["a", "b", "c"],
                                       figsize=FIGSIZE, dpi=DPI))
    assert img.shape == SHAPE
    reg = backprop.Network([2, 4, 1], hidden="tanh", output="identity", seed=3)
    img = read_png(plots.plot_boundary(reg, X, X[:, 0], tmp_path / "r.png", figsize=FIGSIZE, dpi=DPI))
    assert img.shape == SHAPE
    with pytest.raises(InvalidInputError, match="2 features"):
        plots.plot_boundary(net, np.zeros((5, 3)), np.zeros(5), tmp_path / "x.png")
    with pytest.raises(InvalidInputError, match="label"):
        plots.plot_boundary(net, X, labels, tmp_path / "x.png", classes=["a", "b"])


def test_plot_gradients_several_runs(tmp_path, trained):
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, (64, 2))
    y = (X.sum(axis=1) > 0).astype(float)
    runs = {}
    for act in ("sigmoid", "relu"):
        net = backprop.Network([2, 6, 6, 6, 1], hidden=act, seed=0)
        runs[act] = net.fit(X, y, epochs=4, lr=0.2, batch_size=16, record_gradients=True)
    img = read_png(plots.plot_gradients(runs, tmp_path / "g.png", figsize=(6, 4), dpi=DPI))
    assert img.shape == (4 * DPI, 6 * DPI, 4)
    img = read_png(plots.plot_gradients(trained[3], tmp_path / "g1.png", figsize=FIGSIZE, dpi=DPI))
    assert img.shape == SHAPE
    plain = backprop.Network([2, 3, 1], seed=0).fit(X, y, epochs=1)
    with pytest.raises(InvalidInputError, match="record_gradients=True"):
        plots.plot_gradients(plain, tmp_path / "none.png")
    with pytest.raises(InvalidInputError, match="labels"):
        plots.plot_gradients([runs["relu"]], tmp_path / "x.png", labels=["a", "b"])


def test_plot_weights(tmp_path):
    net = backprop.Network([3, 8, 8, 8, 8, 2], hidden="relu", seed=0)
    img = read_png(plots.plot_weights(net, tmp_path / "w.png", figsize=(8, 5), dpi=DPI))
    assert img.shape == (5 * DPI, 8 * DPI, 4)
    assert toward(img, BLUE).sum() > 100  # the histogram bars


def test_bad_file_names_and_histories(tmp_path, trained):
    with pytest.raises(InvalidInputError, match=r"\.png"):
        plots.plot_loss(trained[3], tmp_path / "loss.jpeg")
    with pytest.raises(InvalidInputError, match="no epochs"):
        plots.plot_loss({"loss": []}, tmp_path / "loss.png")
    assert not list(tmp_path.iterdir())  # nothing half-written


# ---------------------------------------------------------------------------------------------
# headless: a subprocess with MPLBACKEND=Agg and one with no display settings at all
# ---------------------------------------------------------------------------------------------
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import backprop
    from backprop.see import plots
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (40, 2)); y = (X[:, 0] > 0).astype(float)
    net = backprop.Network([2, 4, 1], hidden="tanh", seed=0)
    h = net.fit(X, y, epochs=3, lr=0.5, batch_size=8, validation_data=(X, y), record_gradients=True)
    out = sys.argv[1]
    kw = dict(figsize=(4, 3), dpi=50)
    paths = [plots.plot_loss(h, out + "/loss.png", **kw),
             plots.plot_boundary(net, X, y, out + "/b.png", **kw),
             plots.plot_gradients(h, out + "/g.png", **kw),
             plots.plot_weights(net, out + "/w.png", **kw)]
    import matplotlib
    print(json.dumps({"paths": paths, "backend": matplotlib.get_backend()}), flush=True)
    if len(sys.argv) > 2:  # then the command line itself: backprop plot MODEL ...
        try:
            from backprop.cli import main
            assert "plot" in main.commands
        except (ImportError, AssertionError):
            from backprop.cli.see import _standalone as main
        sys.argv = ["backprop"] + sys.argv[2:]
        main()
""")


def headless_env(agg):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    if agg:
        env["MPLBACKEND"] = "Agg"
    return env


def check_headless_run(r, tmp_path):
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[0])
    assert len(res["paths"]) == 4
    for p in res["paths"]:
        assert read_png(p).shape == SHAPE
    return r


def test_every_kind_with_mplbackend_agg(tmp_path):
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                       env=headless_env(True), timeout=120)
    check_headless_run(r, tmp_path)


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from backprop import datasets

    ds = datasets.load("moons", n_samples=60, seed=2)
    stats = datasets.fit_standardize(ds.X)
    Xs = datasets.apply_standardize(ds.X, stats)
    net = backprop.Network([2, 5, 2], hidden="tanh", output="softmax", seed=0)
    h = net.fit(Xs, ds.y, loss="cross_entropy", epochs=5, lr=0.3, batch_size=8,
                validation_data=(Xs, ds.y), record_gradients=True)
    path = tmp_path_factory.mktemp("model") / "moons.safetensors"
    net.save(path, loss="cross_entropy", task="classification", classes=[0, 1], standardize=stats,
             history=h.to_dict(), dataset={"name": "moons", "options": {"n_samples": 60, "seed": 2}})
    return path


def test_every_kind_and_the_cli_without_display(model_file, tmp_path):
    """No DISPLAY and no MPLBACKEND: the four kinds from Python, then `backprop plot` in the same
    subprocess (one interpreter start instead of two: they dominate this file's run time)."""
    out = tmp_path / "cli-boundary.png"
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), "plot", str(model_file), "--what",
                        "boundary", "--out", str(out), "--dpi", "50"],
                       capture_output=True, text=True, env=headless_env(False), timeout=120)
    check_headless_run(r, tmp_path)
    assert f"wrote {out}" in r.stdout
    assert read_png(out).shape == (5 * 50, 6 * 50, 4)  # plot_boundary's default figsize (6, 5)


def test_cli_plot_rejects_an_unknown_kind(model_file):
    from click.testing import CliRunner

    from backprop.cli.see import plot

    r = CliRunner().invoke(plot, [str(model_file), "--what", "nothing"])
    assert r.exit_code == 2


@pytest.mark.parametrize("what,size", [("loss", (10, 4)), ("gradients", (5.5, 6)), ("weights", (7.7, 3.6))])
def test_cli_plot_kinds(model_file, tmp_path, what, size):
    from click.testing import CliRunner

    from backprop.cli.see import plot

    out = tmp_path / f"{what}.png"
    r = CliRunner().invoke(plot, [str(model_file), "--what", what, "--out", str(out), "--dpi", "40"])
    assert r.exit_code == 0, r.output
    assert read_png(out).shape == (round(size[1] * 40), round(size[0] * 40), 4)


def test_cli_plot_default_name_and_errors(model_file, tmp_path):
    from click.testing import CliRunner

    from backprop.cli.see import plot

    bare = tmp_path / "bare.safetensors"
    backprop.Network([2, 3, 1], seed=0).save(bare)
    r = CliRunner().invoke(plot, [str(bare), "--what", "loss"])
    assert r.exit_code == 2 and "error:" in r.output and "history" in r.output
    r = CliRunner().invoke(plot, [str(bare), "--what", "boundary"])
    assert r.exit_code == 2 and "--data" in r.output
    r = CliRunner().invoke(plot, [str(bare), "--what", "weights"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "bare-weights.png").exists()
    r = CliRunner().invoke(plot, [str(tmp_path / "missing.safetensors")])
    assert r.exit_code == 2 and "error:" in r.output


# ---------------------------------------------------------------------------------------------
# legends, ticks and hints (read back from the SVG: matplotlib writes each text as a comment)
# ---------------------------------------------------------------------------------------------
def svg_texts(path, group):
    """The texts drawn inside the SVG groups whose id starts with ``group`` (e.g. legend_, xtick_)."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.parse(path, parser).getroot()
    out = []
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("id", "").startswith(group):
            out += [el.text.strip() for el in g.iter() if el.tag is ET.Comment]
    return out


def test_boundary_legend_names_each_class(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 2))
    labels = np.array(["cat", "dog", "eel"])[rng.integers(0, 3, 40)]
    soft = backprop.Network([2, 4, 3], hidden="tanh", output="softmax", seed=0)
    path = plots.plot_boundary(soft, X, labels, tmp_path / "s.svg", classes=["cat", "dog", "eel"])
    assert svg_texts(path, "legend_") == ["class", "cat", "dog", "eel"]
    # string labels without classes: sorted, as the points are numbered
    path = plots.plot_boundary(soft, X, labels, tmp_path / "s2.svg")
    assert svg_texts(path, "legend_") == ["class", "cat", "dog", "eel"]
    sig = backprop.Network([2, 3, 1], hidden="tanh", output="sigmoid", seed=0)
    y01 = (X[:, 0] > 0).astype(float)
    assert svg_texts(plots.plot_boundary(sig, X, y01, tmp_path / "b.svg"), "legend_") == ["class", "0", "1"]
    path = plots.plot_boundary(sig, X, np.where(y01 > 0, "yes", "no"), tmp_path / "b2.svg",
                               classes=["no", "yes"])
    assert svg_texts(path, "legend_") == ["class", "no", "yes"]
    # a regression network colours by value (a colour bar), no class legend
    reg = backprop.Network([2, 3, 1], hidden="tanh", output="identity", seed=0)
    assert svg_texts(plots.plot_boundary(reg, X, X[:, 0], tmp_path / "r.svg"), "legend_") == []


def _is_whole(label):
    return label.replace("\u2212", "-").lstrip("-").isdigit()


def test_epoch_axes_count_whole_epochs(tmp_path):
    # three epochs: matplotlib's default locator would put ticks at 1.25, 1.5, ...
    rng = np.random.default_rng(6)
    X = rng.uniform(-1, 1, (30, 2))
    y = (X[:, 0] > 0).astype(float)
    net = backprop.Network([2, 3, 1], hidden="tanh", seed=0)
    h = net.fit(X, y, epochs=3, lr=0.5, batch_size=10, validation_data=(X, y), record_gradients=True)
    for path in (plots.plot_loss(h, tmp_path / "loss.svg"), plots.plot_gradients(h, tmp_path / "g.svg")):
        ticks = svg_texts(path, "xtick_")
        assert len(ticks) >= 3, ticks
        assert all(_is_whole(t) for t in ticks), ticks
        assert {"1", "2", "3"} <= set(ticks)


def test_gradients_hint_names_the_cli_flag_and_the_keyword(tmp_path):
    plain = backprop.Network([2, 3, 1], seed=0).fit(np.zeros((4, 2)), np.zeros(4), epochs=1)
    with pytest.raises(InvalidInputError) as err:
        plots.plot_gradients(plain, tmp_path / "none.png")
    assert "--record-gradients" in str(err.value) and "record_gradients=True" in str(err.value)
