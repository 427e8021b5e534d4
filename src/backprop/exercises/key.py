"""The two files of a sheet, read and validated: the key and a student's answers.

Nothing read is trusted before it is checked: the file's size is bounded before it is parsed,
every problem's ``sizes`` are checked before any array is built from them, every array is matched
entry by entry against the layout those sizes give, and the key's quantities are recomputed from
its network and must agree (a key edited by hand is refused, not graded with). Whatever is wrong raises
:class:`backprop.InvalidInputError` naming the file, the problem and the field.

Answers: the key's names and layout (``h``, ``a``, ``yhat``, ``E``, ``delta``, ``grad_weights``,
``grad_biases``, ``weights_after``, ``biases_after``), a number or ``null`` per entry, a name left
out when unanswered -- as JSON, or as CSV rows ``problem,quantity,index,value`` (``index``: the
entry's 0-based index path in the JSON layout, separated by spaces; empty for E).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from typing import Any

import numpy as np

from backprop.errors import InvalidInputError, InvalidTypeError
from backprop.exercises import misconceptions as mc
from backprop.exercises.problem import HIDDEN, LOSSES, MAX_ROWS, MAX_UNITS, MODES, OUTPUT, Problem
from backprop.exercises.sheet import ANSWERS_FORMAT, KEY_FORMAT, VERSION, Sheet

#: The largest key or answers file read (a sheet of 200 problems is well under 2 MB).
MAX_BYTES = 20 * 2**20
MAX_PROBLEMS = 200
#: An answer's value as written in a CSV: ASCII digits only (float() also takes '１' or '1_0',
#: which no grader would read as a number); nan/inf pass here to be refused as not finite.
_CSV_NUMBER = re.compile(
    r"[ \t]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)[ \t]*",
    re.IGNORECASE,
)
_OUTPUT_LOSS = {
    "mse": ("sigmoid", "tanh", "identity"),
    "binary_cross_entropy": ("sigmoid",),
    "cross_entropy": ("softmax",),
}


def _fail(where: str, msg: str):
    raise InvalidInputError(f"{where}: {msg}")


def _read_text(path, what: str) -> str:
    size = os.stat(path).st_size
    if size > MAX_BYTES:
        _fail(str(path), f"{size} bytes is too large for {what} (at most {MAX_BYTES})")
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        _fail(str(path), f"{what} must be UTF-8 text")
    raise AssertionError  # unreachable


def _check_path(source, what: str) -> None:
    # an int would be opened as a file descriptor, None fail deep in os.stat
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidTypeError(f"{what}: expected a path or its parsed JSON, got {type(source).__name__}")


def _load_json(source, what: str) -> tuple[Any, str]:
    if isinstance(source, (dict, list)):
        return source, what
    _check_path(source, what)
    text = _read_text(source, what)
    try:
        return json.loads(text, parse_constant=lambda c: _fail(str(source), f"{c} is not a number")), str(
            source
        )
    except json.JSONDecodeError as exc:
        _fail(str(source), f"{what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")
    except RecursionError:
        _fail(str(source), f"{what} is nested too deeply to be an exercise file")
    raise AssertionError


def _number(v, where: str, allow_null=False) -> float:
    if v is None and allow_null:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        _fail(where, f"expected a number{' or null' if allow_null else ''}, got {json.dumps(v)[:40]}")
    return float(v)


def _array(v, shape: tuple, where: str, allow_null=False) -> np.ndarray:
    """A nested list of exactly ``shape`` (checked level by level before anything is built)."""

    def walk(node, depth, path):
        if depth == len(shape):
            return _number(node, where + path, allow_null)
        if not isinstance(node, list) or len(node) != shape[depth]:
            got = f"a list of {len(node)}" if isinstance(node, list) else type(node).__name__
            _fail(
                where + path, f"expected a list of {shape[depth]} entries (layout {list(shape)}), got {got}"
            )
        return [walk(x, depth + 1, f"{path}[{i}]") for i, x in enumerate(node)]

    return np.asarray(walk(v, 0, ""), dtype=float).reshape(shape)


def _layout(p: Problem, name: str, v, where: str, allow_null=False):
    shapes = p.shape_of(name)
    if name == "E":
        return _number(v, where, allow_null)
    if name == "yhat":
        return _array(v, shapes[0], where, allow_null)
    if not isinstance(v, list) or len(v) != len(shapes):
        _fail(where, f"expected a list of {len(shapes)} layers")
    return [_array(x, s, f"{where}[{k}]", allow_null) for k, (x, s) in enumerate(zip(v, shapes))]


def _choice(d: dict, name: str, allowed, where: str):
    v = d.get(name)
    if v not in allowed:
        _fail(f"{where}.{name}", f"expected one of {', '.join(map(str, allowed))}, got {json.dumps(v)[:40]}")
    return v


def _int(d: dict, name: str, lo: int, hi: int, where: str) -> int:
    v = d.get(name)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        _fail(f"{where}.{name}", f"expected an integer from {lo} to {hi}, got {json.dumps(v)[:40]}")
    return int(v)  # type: ignore[arg-type]  # checked above


def _problem(d, where: str) -> Problem:
    if not isinstance(d, dict):
        _fail(where, "expected an object")
    sizes = d.get("sizes")
    if (
        not isinstance(sizes, list)
        or len(sizes) != 3
        or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_UNITS for n in sizes)
    ):
        _fail(f"{where}.sizes", f"expected three layer widths from 1 to {MAX_UNITS} (L, M, N)")
    hidden = _choice(d, "hidden", HIDDEN, where)
    output = _choice(d, "output", OUTPUT, where)
    loss = _choice(d, "loss", LOSSES, where)
    if output not in _OUTPUT_LOSS[loss]:
        _fail(f"{where}.loss", f"{loss} does not go with a {output} output")
    mode = _choice(d, "mode", MODES, where)
    lr = _number(d.get("lr"), f"{where}.lr")
    if not 0 < lr <= 10:
        _fail(f"{where}.lr", "expected a learning rate in (0, 10]")
    m = _int(d, "batch_size", 1, MAX_ROWS, where)
    tx = d.get("train_x")
    n = len(tx) if isinstance(tx, list) else 0
    if not m <= n <= MAX_ROWS:
        _fail(f"{where}.train_x", f"expected {m} to {MAX_ROWS} rows (at least batch_size)")
    if mode == "online" and m != 1:
        _fail(f"{where}.batch_size", "online mode updates on one sample (batch_size 1)")
    batch = d.get("batch")
    if not isinstance(batch, list) or [type(i) for i in batch] != [int] * m or batch != list(range(m)):
        # the update's rows: always the first batch_size (no shuffling), as the sheet states
        _fail(f"{where}.batch", f"expected the row indices 0 to {m - 1} (the first batch_size rows)")
    L, M, N = sizes
    p = Problem(
        sizes=list(sizes),
        hidden=hidden,
        output=output,
        loss=loss,
        lr=lr,
        mode=mode,
        batch_size=m,
        weights=[
            _array(w, s, f"{where}.weights[{k}]")
            for k, (w, s) in enumerate(_pairs(d.get("weights"), [(L, M), (M, N)], f"{where}.weights"))
        ],
        biases=[
            _array(b, s, f"{where}.biases[{k}]")
            for k, (b, s) in enumerate(_pairs(d.get("biases"), [(M,), (N,)], f"{where}.biases"))
        ],
        train_x=_array(tx, (n, L), f"{where}.train_x"),
        train_y=_array(d.get("train_y"), (n, N), f"{where}.train_y"),
        asked=(),
    )
    asked = d.get("asked")
    if (
        not isinstance(asked, list)
        or not asked
        or not all(isinstance(q, str) for q in asked)
        or not set(asked) <= set(mc.QUANTITIES)
    ):
        _fail(f"{where}.asked", f"expected a non-empty list of names from: {', '.join(mc.QUANTITIES)}")
    p.asked = tuple(q for q in mc.QUANTITIES if q in asked)
    for name, shape, val in (("x", (m, L), p.x), ("y", (m, N), p.y)):
        if not np.array_equal(_array(d.get(name), shape, f"{where}.{name}"), val):
            _fail(f"{where}.{name}", f"expected the first batch_size rows of train_{name}")
    p.values = {q: _layout(p, q, d.get(q), f"{where}.{q}") for q in mc.QUANTITIES}
    _consistent(p, where)
    return p


def _pairs(v, shapes, where):
    if not isinstance(v, list) or len(v) != len(shapes):
        _fail(where, f"expected a list of {len(shapes)} layers")
    return list(zip(v, shapes))


def _consistent(p: Problem, where: str):
    """The key's values must be its network's update (to rounding): a key edited by hand is refused."""
    ref = mc.cycle(p)
    for q in mc.QUANTITIES:
        for idx, _ in p.entries(q):
            a, b = p.value(q, idx), p.value(q, idx, ref)
            if not abs(a - b) <= 1e-6 * (1 + abs(b)):
                _fail(
                    f"{where}.{q}",
                    f"{a} at {list(idx)} is not this network's value ({b:.6g}); "
                    "was the key edited? make a new one with `backprop exercise --key`",
                )


def read_key(source: Any) -> Sheet:
    """The key file (a path, or its parsed JSON), validated, as a :class:`Sheet`."""
    d, where = _load_json(source, "the key file")
    if not isinstance(d, dict) or d.get("format") != KEY_FORMAT:
        _fail(where, f'not an exercise key (expected "format": "{KEY_FORMAT}")')
    if d.get("version") != VERSION:
        _fail(where, f"key version {d.get('version')!r} is not supported (this version reads {VERSION})")
    decimals = _int(d, "decimals", 3, 6, where)
    tol = d.get("tolerance")
    if not isinstance(tol, dict):
        _fail(f"{where}.tolerance", "expected an object with absolute and relative")
    relative = _number(tol.get("relative"), f"{where}.tolerance.relative")
    if not 0 <= relative <= 0.5:
        _fail(f"{where}.tolerance.relative", "expected a number from 0 to 0.5")
    absolute = tol.get("absolute")
    # the grader takes one unit in the last decimal asked; a key that says otherwise was edited
    if isinstance(absolute, bool) or not isinstance(absolute, (int, float)) or absolute != 10.0**-decimals:
        _fail(
            f"{where}.tolerance.absolute",
            f"expected 10^-decimals = {10.0**-decimals:g}, got {json.dumps(absolute)[:40]}",
        )
    probs = d.get("problems")
    if not isinstance(probs, list) or not 1 <= len(probs) <= MAX_PROBLEMS:
        _fail(f"{where}.problems", f"expected a list of 1 to {MAX_PROBLEMS} problems")
    seed = d.get("seed")
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
    problems = [_problem(x, f"{where}: problem {i + 1}") for i, x in enumerate(probs)]
    return Sheet(problems, seed=seed, decimals=decimals, relative=relative)


def _answers_problem(d, p: Problem, where: str) -> dict:
    if d is None:
        return {}
    if not isinstance(d, dict):
        _fail(where, "expected an object of quantities (or null)")
    out = {}
    for name, v in d.items():
        if name == "id":
            continue
        if name not in mc.QUANTITIES:
            _fail(f"{where}.{name}", f"unknown quantity; the names are: {', '.join(mc.QUANTITIES)}")
        if v is not None:
            out[name] = _layout(p, name, v, f"{where}.{name}", allow_null=True)
    return out


def read_answers(source: Any, sheet: Sheet) -> list[dict]:
    """A student's answers (a path to .json or .csv, or parsed JSON) for ``sheet``'s problems:
    per problem a dict name -> values in the key's layout, NaN where not answered."""
    if not isinstance(source, (dict, list)):
        _check_path(source, "the answers file")
    if not isinstance(source, (dict, list)) and os.fspath(source).lower().endswith(".csv"):
        return _answers_csv(source, sheet)
    d, where = _load_json(source, "the answers file")
    if not isinstance(d, dict) or not isinstance(d.get("problems"), list):
        _fail(where, 'expected an object with "problems": a list with one object of answers per problem')
    if "format" in d and d["format"] != ANSWERS_FORMAT:
        _fail(f"{where}.format", f'expected "{ANSWERS_FORMAT}"')
    probs = d["problems"]
    if len(probs) > len(sheet.problems):
        _fail(f"{where}.problems", f"{len(probs)} problems answered but the key has {len(sheet.problems)}")
    out = [
        _answers_problem(x, p, f"{where}: problem {i + 1}")
        for i, (x, p) in enumerate(zip(probs, sheet.problems))
    ]
    return out + [{} for _ in range(len(sheet.problems) - len(out))]


def _empty(p: Problem, name: str):
    shapes = p.shape_of(name)
    if name == "E":
        return math.nan
    if name == "yhat":
        return np.full(shapes[0], math.nan)
    return [np.full(s, math.nan) for s in shapes]


def _csv_entry(where: str, row: list[str], sheet: Sheet) -> tuple[str, str, str, tuple, str]:
    """One line's (problem, quantity, index as written, index, value), checked against ``sheet``."""
    if len(row) != 4:
        _fail(where, f"expected 4 fields (problem,quantity,index,value), got {len(row)}")
    prob, name, index, value = (c.strip() for c in row)
    if not prob.isdigit() or not 1 <= int(prob) <= len(sheet.problems):
        _fail(where, f"problem must be a number from 1 to {len(sheet.problems)}, got {prob!r}")
    p = sheet.problems[int(prob) - 1]
    if name not in mc.QUANTITIES:
        _fail(where, f"unknown quantity {name!r}; the names are: {', '.join(mc.QUANTITIES)}")
    try:
        idx = tuple(int(i) for i in index.split())
    except ValueError:
        _fail(where, f"index must be integers separated by spaces, got {index!r}")
    valid = {i for i, _ in p.entries(name)}
    if idx not in valid:
        _fail(
            where,
            f"index {index!r} is not an entry of {name} in problem {prob} "
            f"(e.g. {' '.join(map(str, next(iter(sorted(valid)))))!r})",
        )
    return prob, name, index, idx, value


def _csv_value(where: str, value: str) -> float:
    """An answer's value: a finite number (the caller skips the empty ones)."""
    if not _CSV_NUMBER.fullmatch(value):
        _fail(where, f"value must be a number (ASCII digits, e.g. 0.125 or -1.5e-3), got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        _fail(where, f"value must be a finite number, got {value!r}")
    return v


def _store(d: dict, p: Problem, name: str, idx: tuple, v: float) -> None:
    """Put one answered entry into problem ``p``'s answers ``d``, in the key's layout."""
    if name == "E":
        d["E"] = v
        return
    arr = d.setdefault(name, _empty(p, name))
    if name == "yhat":
        arr[idx] = v
    else:
        arr[idx[0]][idx[1:]] = v


def _answers_csv(path, sheet: Sheet) -> list[dict]:
    """The answers of a CSV file problem,quantity,index,value, one answered entry per line."""
    text = _read_text(path, "the answers file")
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if [h.strip() for h in (header or [])] != ["problem", "quantity", "index", "value"]:
        _fail(str(path), "the first line must be the header problem,quantity,index,value")
    out: list[dict] = [{} for _ in sheet.problems]
    seen = set()
    for n, row in enumerate(rows, start=2):
        where = f"{path}, line {n}"
        if not row or all(not c.strip() for c in row):
            continue
        prob, name, index, idx, value = _csv_entry(where, row, sheet)
        if (prob, name, idx) in seen:
            _fail(where, f"{name} {index} of problem {prob} is answered twice")
        seen.add((prob, name, idx))
        if value == "":
            continue
        _store(out[int(prob) - 1], sheet.problems[int(prob) - 1], name, idx, _csv_value(where, value))
    return out


def answers_json(values: list[dict]) -> dict:
    """An answers file from per-problem dicts of quantities (NaN or None = not answered)."""

    def clean(v, where):
        if isinstance(v, (list, tuple)):
            return [clean(x, where) for x in v]
        if isinstance(v, np.ndarray):
            return clean(v.tolist(), where)
        if v is None:
            return None
        try:  # a string is not an answer, as in a JSON file; the values are checked in read_answers
            if isinstance(v, (str, bytes)):
                raise TypeError
            x = float(v)
        except (TypeError, ValueError):
            _fail(where, f"expected a number or None, got {v!r:.40}")
        return None if math.isnan(x) else x

    return {
        "format": ANSWERS_FORMAT,
        "version": VERSION,
        "problems": [
            {k: clean(v, f"the answers: problem {i + 1}.{k}") for k, v in d.items()}
            for i, d in enumerate(values)
        ],
    }


__all__ = ["read_key", "read_answers", "answers_json", "MAX_BYTES"]
