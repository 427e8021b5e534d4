"""scikit-learn's own MLP test suite passes whole against our estimators.

The installed scikit-learn's ``sklearn/neural_network/tests/test_mlp.py`` (so the suite follows
the installed version) is copied into a temporary folder with its one import of the estimators
changed to ``from backprop import MLPClassifier, MLPRegressor``, and run by pytest in a fresh
interpreter with scikit-learn's conftest as a plugin (its ``global_random_seed`` fixture). Every
test it collects must pass: nothing failed, errored, was skipped or deselected.

One test function and one subprocess, so xdist runs the suite once, on one worker.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import sklearn

SUITE = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
IMPORT = re.compile(r"^from sklearn\.neural_network import MLPClassifier, MLPRegressor$", re.M)
OURS = "from backprop import MLPClassifier, MLPRegressor"
TIMEOUT_S = 900  # a bound on a hung run, not a speed requirement (the suite takes ~30 s)


def _pytest(args, cwd):
    cmd = [sys.executable, "-m", "pytest", "-p", "sklearn.conftest", "-p", "no:cacheprovider",
           "-p", "no:xdist", "-q", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not this run's options
    env["SKLEARN_SKIP_NETWORK_TESTS"] = "1"  # nothing is downloaded
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


def _counts(summary_output):
    """{outcome: n} from pytest's last summary line ("59 passed, 2 warnings in 30.1s")."""
    lines = [ln for ln in summary_output.strip().splitlines() if re.search(r"\bin [\d.]+s", ln)]
    assert lines, summary_output[-3000:]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", lines[-1])}


def test_sklearns_mlp_suite_passes_whole(tmp_path):
    assert SUITE.is_file(), f"the installed scikit-learn has no {SUITE}"
    text = SUITE.read_text(encoding="utf-8")
    rewritten, n = IMPORT.subn(OURS, text)
    assert n == 1, "the suite's import of the estimators was not found exactly once"
    assert not re.search(r"^\s*(from|import) sklearn\.neural_network\b", rewritten, re.M)  # ours only
    copy = tmp_path / "test_mlp.py"
    copy.write_text(rewritten, encoding="utf-8")
    n_functions = len(re.findall(r"^def test_\w+\(", rewritten, re.M))

    collected = _pytest(["--collect-only", copy.name], tmp_path)
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    found = _counts(collected.stdout)
    n_collected = found.get("tests", found.get("test", 0))
    assert n_collected >= n_functions > 0

    run = _pytest([copy.name], tmp_path)
    counts = _counts(run.stdout)
    assert run.returncode == 0 and not {"failed", "error", "errors"} & set(counts), (
        run.stdout[-6000:] + run.stderr[-3000:])
    assert counts.get("passed", 0) == n_collected, counts
    assert counts.get("passed", 0) >= n_functions
