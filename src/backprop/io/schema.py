"""A tiny declarative validator for the JSON kept in backprop's files, and the schema of a network's
metadata.

A schema is a tree of small spec objects -- :class:`Str`, :class:`Int`, :class:`Num`,
:class:`Bool`, :class:`Null`, :class:`List`, :class:`Obj`, :class:`Map`, :class:`OneOf` -- each
of which checks a type, a length, the elements' type and a range. ``spec.check(value, field)``
returns ``value`` or raises :class:`Invalid` naming the field (``history.loss[3]``) and the
problem; the readers turn that into a ``ModelFileError`` naming the file. Cross-field lengths
(``feature_names`` has one name per input) are parameters of the schema:
:func:`network_metadata` builds the schema for a network of given input and output widths.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from backprop.core.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from backprop.core.losses import LOSSES

#: longest string and list accepted anywhere in metadata (a class list, a feature name)
MAX_STR = 100_000
MAX_LIST = 10_000_000
#: largest layer width and number of layers in a file
MAX_WIDTH = 2**31
MAX_LAYERS = 10_000


class Invalid(ValueError):
    """A value does not fit its schema: ``field`` says where, ``problem`` what."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field!r} {problem}")
        self.field, self.problem = field, problem


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _same_kind(spec: Spec, value: Any) -> bool:
    """Is ``value`` of the JSON type ``spec`` takes (its content aside)?"""
    kinds = {Obj: dict, Map: dict, List: list, Str: str}
    for cls, kind in kinds.items():
        if isinstance(spec, cls):
            return isinstance(value, kind)
    return False


class Spec:
    what = "a value"

    def check(self, value: Any, field: str) -> Any:
        raise NotImplementedError

    def fail(self, value: Any, field: str, problem: str | None = None) -> NoReturn:
        raise Invalid(field, problem or f"must be {self.what}, got {_show(value)}")


class Anything(Spec):
    def check(self, value: Any, field: str) -> Any:
        return value


class Null(Spec):
    what = "null"

    def check(self, value: Any, field: str) -> Any:
        if value is not None:
            self.fail(value, field)
        return value


class Exactly(Spec):
    def __init__(self, value: Any) -> None:
        self.value, self.what = value, repr(value)

    def check(self, value: Any, field: str) -> Any:
        if value is not self.value and not (type(value) is type(self.value) and value == self.value):
            self.fail(value, field)
        return value


class Bool(Spec):
    what = "true or false"

    def check(self, value: Any, field: str) -> Any:
        if not isinstance(value, bool):
            self.fail(value, field)
        return value


class Str(Spec):
    def __init__(self, choices: Iterable[str] | None = None, max_len: int = MAX_STR) -> None:
        self.choices = None if choices is None else tuple(choices)
        self.max_len = max_len
        self.what = "a string" if self.choices is None else "one of " + ", ".join(map(repr, self.choices))

    def check(self, value: Any, field: str) -> Any:
        if not isinstance(value, str) or (self.choices is not None and value not in self.choices):
            self.fail(value, field)
        if len(value) > self.max_len:
            self.fail(value, field, f"is {len(value):,} characters long (at most {self.max_len:,})")
        return value


class Int(Spec):
    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self.lo, self.hi = lo, hi
        bounds = (f" from {lo} to {hi}" if lo is not None and hi is not None
                  else f" >= {lo}" if lo is not None else f" <= {hi}" if hi is not None else "")
        self.what = "an int" + bounds

    def check(self, value: Any, field: str) -> Any:
        if not _is_int(value) or (self.lo is not None and value < self.lo) \
                or (self.hi is not None and value > self.hi):
            self.fail(value, field)
        return value


class Num(Spec):
    """A number; ``finite`` refuses NaN and infinity, ``gt``/``ge``/``le`` bound it."""

    def __init__(self, *, finite: bool = True, gt: float | None = None, ge: float | None = None,
                 le: float | None = None) -> None:
        self.finite, self.gt, self.ge, self.le = finite, gt, ge, le
        self.what = ("a finite number" if finite else "a number") + (f" > {gt}" if gt is not None else "") \
            + (f" >= {ge}" if ge is not None else "") + (f" <= {le}" if le is not None else "")

    def check(self, value: Any, field: str) -> Any:
        if not _is_num(value):
            self.fail(value, field)
        try:
            x = float(value)
        except OverflowError:  # an int beyond float's range: float(value) would fail where it is used
            self.fail(value, field, f"is an int too large for a float, {_show(value)}")
        if (self.finite and not math.isfinite(x)) or (self.gt is not None and not x > self.gt) \
                or (self.ge is not None and not x >= self.ge) or (self.le is not None and not x <= self.le):
            self.fail(value, field)
        return value


class OneOf(Spec):
    def __init__(self, *options: Spec) -> None:
        self.options = options
        self.what = " or ".join(o.what for o in options)

    def check(self, value: Any, field: str) -> Any:
        errors = []
        for o in self.options:
            try:
                return o.check(value, field)
            except Invalid as exc:
                if _same_kind(o, value):
                    errors.append(exc)
        if len(errors) == 1:  # one option of the value's own type: its message says more
            raise errors[0]
        self.fail(value, field)


def Optional(spec: Spec) -> Spec:
    return OneOf(Null(), spec)


class List(Spec):
    """A list of ``item``; ``length`` (with ``why``, e.g. "the network has 4 inputs") fixes its
    length, ``unique`` refuses repeated elements; ``noun`` names the elements in messages."""

    def __init__(self, item: Spec, *, length: int | None = None, why: str = "", min_len: int = 0,
                 max_len: int = MAX_LIST, unique: bool = False, noun: str = "items") -> None:
        self.item, self.length, self.why = item, length, why
        self.min_len, self.max_len, self.unique, self.noun = min_len, max_len, unique, noun
        self.what = f"a list of {noun}"

    def check(self, value: Any, field: str) -> Any:
        if not isinstance(value, list):
            self.fail(value, field)
        n = len(value)
        if self.length is not None and n != self.length:
            self.fail(value, field, f"has {n} {self.noun} but {self.why or f'{self.length} are needed'}")
        if not self.min_len <= n <= self.max_len:
            self.fail(value, field, f"has {n:,} {self.noun}; it needs {self.min_len} to {self.max_len:,}")
        for k, v in enumerate(value):
            self.item.check(v, f"{field}[{k}]")
        # equal as Python (and NumPy) compare them: 1, 1.0 and true are one label, "1" another
        if self.unique and len({(isinstance(v, str), v) for v in value}) != n:
            self.fail(value, field, f"repeats some of its {self.noun}")
        return value


class Obj(Spec):
    """An object with known ``fields`` (name -> spec); names in ``required`` must be present.
    ``extra`` is the spec of any other member (None: other members are refused)."""

    def __init__(self, fields: dict[str, Spec], *, required: Sequence[str] = (),
                 extra: Spec | None = None) -> None:
        self.fields, self.required, self.extra = fields, tuple(required), extra
        self.what = "an object"

    def check(self, value: Any, field: str) -> Any:
        if not isinstance(value, dict):
            self.fail(value, field)
        for name in self.required:
            if name not in value:
                raise Invalid(f"{field}.{name}" if field else name, "is missing")
        for name, v in value.items():
            spec = self.fields.get(name, self.extra)
            where = f"{field}.{name}" if field else name
            if spec is None:
                raise Invalid(field, f"has an unknown member {_show(name)}")
            spec.check(v, where)
        return value


class Map(Spec):
    """An object of any string keys whose values all fit ``value``; at most ``max_len`` members."""

    def __init__(self, value: Spec, max_len: int = MAX_LIST) -> None:
        self.value, self.max_len = value, max_len
        self.what = "an object"

    def check(self, value: Any, field: str) -> Any:
        if not isinstance(value, dict):
            self.fail(value, field)
        if len(value) > self.max_len:
            self.fail(value, field, f"has {len(value):,} members (at most {self.max_len:,})")
        for name, v in value.items():
            self.value.check(v, f"{field}.{name}" if field else name)
        return value


# -- the pieces of backprop's files ------------------------------------------------------------------
SCALAR = OneOf(Null(), Bool(), Int(), Num(finite=False), Str())
#: a class label: a string, an int, a finite number or a boolean
LABEL = OneOf(Str(), Bool(), Int(), Num())
COUNT = Int(lo=0)


def _label_kind(v: Any) -> str:
    return "strings" if isinstance(v, str) else "booleans" if isinstance(v, bool) else "numbers"


class Labels(List):
    """A list of distinct class labels all of one kind: strings, numbers or booleans (scikit-learn
    refuses a mix of label types, and a mix sorts and compares in no useful order)."""

    def __init__(self, *, length: int | None = None, why: str = "", min_len: int = 0):
        super().__init__(LABEL, length=length, why=why, min_len=min_len, unique=True, noun="classes")

    def check(self, value: Any, field: str) -> Any:
        super().check(value, field)
        kinds = sorted({_label_kind(v) for v in value})
        if len(kinds) > 1:
            self.fail(value, field, f"mixes {' and '.join(kinds)}; class labels are all of one kind")
        return value

NUMBERS = List(Num(finite=False), noun="numbers")  # a history: NaN is a real value of a loss there


def architecture() -> Obj:
    """A network's :meth:`~backprop.model.network.Network.config`."""
    return Obj({"sizes": List(Int(lo=1, hi=MAX_WIDTH), min_len=2, max_len=MAX_LAYERS + 1, noun="widths"),
                "hidden": List(Str(HIDDEN_ACTIVATIONS), noun="activations"),
                "output": Str(ACTIVATIONS),
                "dtype": Str(("float32", "float64")),
                "seed": Optional(Int(lo=0))},
               required=("sizes", "hidden", "output", "dtype"))


def history() -> Obj:
    """A :class:`backprop.train.history.History` as ``to_dict`` gives it."""
    return Obj({"loss": NUMBERS, "val_loss": NUMBERS, "val_metric": NUMBERS, "lr": NUMBERS,
                "metric": Optional(Str()), "n_updates": COUNT, "updates_per_epoch": COUNT,
                "batch_size": Optional(COUNT), "epochs": COUNT, "best_epoch": Optional(COUNT),
                "stopped_early": Bool(), "interrupted": Bool(), "time": Num(ge=0),
                "mean_abs_delta": List(NUMBERS, noun="lists of numbers"),
                "grad_norm": List(NUMBERS, noun="lists of numbers")},
               extra=Anything())


def _stats(n: int, what: str) -> Obj:
    """Standardization statistics of ``n`` columns: means and scales (> 0), all finite."""
    why = f"the network has {n} {what}"
    return Obj({"mean": List(Num(), length=n, why=why, noun="means"),
                "scale": List(Num(gt=0), length=n, why=why, noun="scales")},
               required=("mean", "scale"), extra=Anything())


#: the options a model's ``dataset`` may record: the keywords of backprop.datasets.load (a test
#: keeps the two lists equal), since the CLI passes them to it
DATASET_OPTIONS = Obj({
    "target": OneOf(Null(), Str(), List(Str(), noun="names")),
    "task": Optional(Str(("classification", "regression"))),
    "test_fraction": Optional(Num(gt=0, le=1)), "test_file": Optional(Str()), "data_dir": Optional(Str()),
    "n_samples": Optional(Int(lo=1, hi=2**31)), "noise": Optional(Num(ge=0)),
    "seed": Optional(Int(lo=0)), "classes": Optional(Int(lo=1, hi=2**31)),
    "split_seed": Optional(Int(lo=0)), "header": Optional(Bool()), "require_target": Optional(Bool()),
    "feature_names": Optional(List(Str(), noun="names")),
})


#: the settings of a training run (``backprop train`` records its options): the ones read back
#: (explain takes the model's learning rate, info shows them) typed, any others scalars or lists
TRAINING = Obj({
    "lr": Optional(Num(gt=0)), "optimizer": Optional(Str()), "schedule": Optional(Str()),
    "mode": Optional(Str()), "epochs": Optional(COUNT), "batch_size": Optional(COUNT),
    "seed": Optional(Int(lo=0)), "l2": Optional(Num(ge=0)), "l1": Optional(Num(ge=0)),
    "val_fraction": Optional(Num(ge=0, le=1)),
    "gamma": Optional(Num(gt=0)), "power_t": Optional(Num(ge=0)),
}, extra=OneOf(SCALAR, List(SCALAR)))


class Digest(Str):
    """A SHA-256 digest: 64 lowercase hexadecimal digits."""

    def __init__(self):
        super().__init__(max_len=64)
        self.what = "a SHA-256 digest (64 hexadecimal digits)"

    def check(self, value: Any, field: str) -> Any:
        super().check(value, field)
        if len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
            self.fail(value, field)
        return value


class _Split(Obj):
    """A model's record of its training data's split (``backprop train``): the number of rows, the
    seed and fraction of the validation rows and their digest, the data file's fingerprint."""

    def __init__(self):
        super().__init__({
            "rows": Int(lo=1, hi=2**62), "validation_rows": COUNT, "seed": Int(lo=0, hi=2**64 - 1),
            "val_fraction": Num(ge=0, le=1), "stratified": Bool(), "validation_sha256": Digest(),
            "file": Obj({"bytes": Int(lo=0, hi=2**62), "sha256": Digest()}, required=("bytes", "sha256")),
        }, required=("rows", "validation_rows", "seed", "val_fraction", "stratified", "validation_sha256"))

    def check(self, value: Any, field: str) -> Any:
        super().check(value, field)
        if value["validation_rows"] >= value["rows"]:
            raise Invalid(f"{field}.validation_rows",
                          f"is {value['validation_rows']} of {value['rows']} rows; none left to train on")
        return value


SPLIT = _Split()


def network_metadata(n_in: int, n_out: int, output: str) -> Obj:
    """The schema of the ``metadata`` of a network with ``n_in`` inputs, ``n_out`` outputs and
    output activation ``output``. Members it does not name are the caller's, any JSON."""
    losses = tuple(name for name, cls in LOSSES.items() if cls.outputs is None or output in cls.outputs)
    n_classes = 2 if n_out == 1 else n_out
    why_classes = ("the network has 1 output (two classes)" if n_out == 1
                   else f"the network has {n_out} outputs")
    return Obj({
        "task": Optional(Str(("classification", "regression"))),
        "loss": Optional(Str(losses)),
        "classes": Optional(Labels(length=n_classes, why=why_classes)),
        # unique: the data readers refuse a header that names a column twice
        "feature_names": Optional(List(Str(), length=n_in, why=f"the network has {n_in} inputs",
                                       unique=True, noun="names")),
        "target": OneOf(Null(), Str(), List(Str(), length=n_out, why=f"the network has {n_out} outputs",
                                            noun="names")),
        "standardize": OneOf(Null(), Exactly(False), _stats(n_in, "inputs")),
        "target_standardize": OneOf(Null(), Exactly(False), _stats(n_out, "outputs")),
        "dataset": Optional(Obj({"name": Str(), "options": Optional(DATASET_OPTIONS), "split": SPLIT},
                                required=("name",), extra=Anything())),
        "history": Optional(history()),
        "training": Optional(TRAINING),
        "metrics": Optional(Map(Optional(Map(SCALAR)))),
        "format_version": Anything(), "library_version": Anything(),  # the loader sets these two
    }, extra=Anything())


def network_document(meta: Any) -> tuple[dict, dict]:
    """Check the ``meta`` of a network file (``{"network": config, "metadata": {...}}``) and return
    ``(config, metadata)``; raises :class:`Invalid`."""
    Obj({"network": architecture(), "metadata": Map(Anything())}, required=("network",),
        extra=Anything()).check(meta, "")
    arch = meta["network"]
    sizes, hidden = arch["sizes"], arch["hidden"]
    if len(hidden) != len(sizes) - 2:
        raise Invalid("network.hidden", f"names {len(hidden)} activations but the sizes {sizes} have "
                                        f"{len(sizes) - 2} hidden layers")
    user = meta.get("metadata", {})
    network_metadata(sizes[0], sizes[-1], arch["output"]).check(user, "")
    return arch, user


#: the check of each file kind's document that io.container runs before it writes one
DOCUMENTS = {"network": network_document}
