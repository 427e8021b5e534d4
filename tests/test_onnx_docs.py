"""The ONNX snippets of README.md and docs/onnx.md run as written: the onnxruntime snippet on the
file `backprop export` writes for `backprop train iris`, the skl2onnx pipeline on its own."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from clitools import run_cli

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", (ROOT / path).read_text(), flags=re.S)


def _runtime_snippet(path):
    blocks = [b for b in _python_blocks(path) if 'InferenceSession("model.onnx"' in b]
    assert len(blocks) == 1, path
    return blocks[0]


@pytest.mark.parametrize("doc", ["README.md", "docs/onnx.md"])
def test_the_onnxruntime_snippet_runs_on_an_exported_iris_model(doc, tmp_path, capsys, monkeypatch):
    snippet = _runtime_snippet(doc)
    monkeypatch.chdir(tmp_path)
    assert run_cli(["train", "iris", "--out", "model.safetensors", "--quiet"], capsys)[0] == 0
    command = re.search(r"backprop (export model\.safetensors --format onnx --out model\.onnx)",
                        (ROOT / doc).read_text()).group(1)
    assert run_cli(command.split(), capsys)[0] == 0
    ns: dict = {}
    exec(compile(snippet, doc, "exec"), ns)  # noqa: S102 -- our own documentation
    assert ns["label"].tolist() == ["setosa", "virginica"]  # what its comment promises
    np.testing.assert_allclose(ns["proba"].sum(axis=1), 1.0, rtol=1e-6)
    out = capsys.readouterr().out
    assert "setosa" in out


def test_the_skl2onnx_pipeline_snippet_runs():
    blocks = [b for b in _python_blocks("docs/onnx.md") if "skl2onnx.to_onnx(pipe" in b]
    assert len(blocks) == 1
    ns: dict = {}
    exec(compile(blocks[0], "docs/onnx.md", "exec"), ns)  # noqa: S102 -- its own assert checks the labels
    assert len(ns["proba"]) == len(ns["X"]) and set(ns["proba"][0]) == {0, 1, 2}
