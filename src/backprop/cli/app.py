"""The ``backprop`` command line: train, evaluate, predict and inspect networks without Python.

    backprop train [DATA] [options]        train (default DATA: digits), save model.safetensors
    backprop evaluate MODEL [DATA]         loss, accuracy / R^2, confusion matrix
    backprop predict MODEL DATA [--out F]  predictions (CSV), streaming large CSV files
    backprop info MODEL                    architecture, loss, history
    backprop export MODEL --out F.onnx     the model as an ONNX file (onnxruntime, ...)
    backprop explain [options]             one backpropagation update, number by number
    backprop plot MODEL [--what W]         loss curves, decision regions, gradients, weights
    backprop playground [DATA]             the step-by-step web page
    backprop exercise [options]            backprop exercises, their answer key and key file
    backprop grade KEY ANSWERS             mark a student's answers, name the mistakes
    backprop doctor [--json]               CPU, BLAS, kernel, threads, denormals: why it may be slow

DATA is a built-in data set (see ``backprop.datasets``) or a CSV/TSV/.npz/Parquet file; MODEL a
file of ``backprop train``, ``Network.save`` or ``MLPClassifier``/``MLPRegressor.save``. Errors a
user can cause print one line ``error: ...`` on stderr and exit with status 2 (``--debug`` shows
the traceback); nothing is written then (see :mod:`backprop.cli.errors`). Output files are written
atomically. Each command is a module of this package.
"""

from __future__ import annotations

import click

from backprop.cli.common import debug_option
from backprop.cli.doctor import doctor
from backprop.cli.errors import Group
from backprop.cli.evaluate import evaluate
from backprop.cli.exercise import exercise
from backprop.cli.explain import explain
from backprop.cli.export import export
from backprop.cli.grade import grade
from backprop.cli.info import info
from backprop.cli.playground import playground
from backprop.cli.plot import plot
from backprop.cli.predict import predict
from backprop.cli.train import train
from backprop.version import __version__


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backprop")
@debug_option
def main() -> None:
    """Train feedforward networks by backpropagation, then evaluate, predict and inspect them.

    Start with `backprop train` (scikit-learn's digits), then
    `backprop evaluate model.safetensors`.
    """


for _command in (train, evaluate, predict, info, export, explain, plot, playground, exercise, grade, doctor):
    main.add_command(_command)
