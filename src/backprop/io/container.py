"""Model files: safetensors for the arrays, JSON metadata for everything else. Never pickle.

A safetensors file is an 8-byte little-endian header length n, n bytes of JSON header, then the raw
little-endian tensor data. The header maps every tensor name to its ``dtype``, ``shape`` and
``data_offsets`` (begin, end) inside the data, and ``__metadata__`` is a str -> str dict; backprop
keeps one JSON document there under the key ``"backprop"``::

    {"format_version": 1, "library_version": "0.1.0", "kind": "network",
     "tensors": {"weights.0": {"dtype": "float32", "shape": [64, 128]}, ...},
     "meta": {...}}

What ``meta`` holds is up to the kind's own module (see :mod:`backprop.io.registry`). For a network
(:mod:`backprop.model.files`), ``meta`` holds ``"network"`` (sizes, hidden, output, dtype, seed) and
``"metadata"`` (what the caller passed: loss, task, classes, feature_names, standardize, dataset,
history, ...). Tensors are ``weights.k`` (the W^{k+1} of the reference, shape (sizes[k], sizes[k+1]))
and ``biases.k`` (the bias weights w_0j, shape (sizes[k+1],)).

Writing goes through :mod:`backprop.io.atomic` (temporary file, fsync, rename). Reading parses the
header itself, so every check happens before any array is built: the header length against the
file size and a 100 MB cap; the JSON's nesting, number of values and the memory its parse would
take, counted on the bytes before any Python object is built (:mod:`backprop.io.jsonscan`: at most
:data:`MEMORY_FACTOR` times the header's size, plus :data:`MEMORY_FLOOR`); at most
:data:`MAX_TENSORS` tensors, each of at most :data:`MAX_NDIM` dimensions below :data:`MAX_DIM`;
each tensor's byte range against its declared shape and dtype (so a huge declared shape is refused
without allocating it), and each tensor's name, shape and dtype against the JSON metadata. Every
problem raises :class:`backprop.errors.ModelFileError`. :func:`save_arrays` runs the same checks on
what it is about to write, so it never writes a file that :func:`load_arrays` refuses.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from backprop.errors import InvalidInputError, InvalidTypeError, ModelFileError
from backprop.io import jsonscan, schema
from backprop.io.atomic import atomic_write_bytes
from backprop.version import __version__

#: version of the JSON layout written; files of a newer version are refused
FORMAT_VERSION = 1
METADATA_KEY = "backprop"
#: safetensors' own limit on the JSON header
MAX_HEADER_BYTES = 100_000_000
#: most tensors in one file (a network has 2 per layer; a checkpoint up to 10 per layer)
MAX_TENSORS = 10_000
#: most dimensions of one tensor, largest dimension, most elements (zero-size tensors included)
MAX_NDIM = 8
MAX_DIM = 2**31
MAX_ELEMENTS = 2**40
#: reading a header may take at most MEMORY_FACTOR times its size in memory, plus MEMORY_FLOOR
#: (a file of MAX_TENSORS tensors has a ~1.5 MB header whose Python objects take ~10 MB)
MEMORY_FACTOR = 5
MEMORY_FLOOR = 16 << 20

#: safetensors dtype names <-> NumPy (little-endian)
ST_DTYPES = {
    "F16": "<f2", "F32": "<f4", "F64": "<f8",
    "I8": "i1", "I16": "<i2", "I32": "<i4", "I64": "<i8",
    "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8",
    "BOOL": "?",
}
_NP_TO_ST = {np.dtype(v).name: k for k, v in ST_DTYPES.items()}


def _library_version():
    return __version__


# ---------------------------------------------------------------------------------------------
# generic arrays + JSON
# ---------------------------------------------------------------------------------------------
def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def dumps_checked(meta: Any, what: str) -> str:
    try:
        return json.dumps(meta, default=_json_default, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{what} must be JSON-serializable (numbers, strings, lists, dicts): {exc}"
        ) from None


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Any | None = None, *,
                kind: str = "arrays") -> None:
    """Write ``arrays`` (name -> ndarray) and the JSON-able ``meta`` to ``path`` atomically.

    Supported dtypes: float16/32/64, (u)int8-64 and bool. ``kind`` tags the file ("network",
    "checkpoint", "estimator", ...) so that a loader can refuse a file of another kind.
    """
    import safetensors.numpy

    if not isinstance(arrays, dict):
        raise InvalidTypeError(f"arrays must be a dict of name -> NumPy array, got {type(arrays).__name__}")

    tensors, described = {}, {}
    for name, arr in arrays.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise InvalidInputError(
                f"array names must be non-empty strings (not '__metadata__'), got {name!r}"
            )
        a = np.asarray(arr)
        st = _NP_TO_ST.get(a.dtype.name)
        if st is None:
            raise InvalidInputError(
                f"array {name!r} has dtype {a.dtype}, which a model file cannot store; "
                f"use one of: {', '.join(sorted(_NP_TO_ST))}"
            )
        # astype, not ascontiguousarray: that one turns a 0-d array into shape (1,)
        tensors[name] = a.astype(np.dtype(ST_DTYPES[st]), order="C", copy=False)
        described[name] = {"dtype": a.dtype.name, "shape": list(a.shape)}
    doc = {"format_version": FORMAT_VERSION, "library_version": _library_version(), "kind": kind,
           "tensors": described, "meta": {} if meta is None else meta}
    if len(tensors) > MAX_TENSORS:
        raise InvalidInputError(f"a model file holds at most {MAX_TENSORS:,} arrays, got {len(tensors):,}")
    text = dumps_checked(doc, "metadata")
    if kind in schema.DOCUMENTS:  # the reader's schema, on what the reader will see
        try:
            schema.DOCUMENTS[kind](json.loads(text)["meta"])
        except schema.Invalid as exc:
            raise InvalidInputError(f"cannot save this {kind}: metadata {exc}") from None
    data = safetensors.numpy.save(tensors, metadata={METADATA_KEY: text})
    (n,) = struct.unpack("<Q", data[:8])
    try:  # the reader's own checks: never write what load_arrays refuses
        header, spent = _parse_header(data[8:8 + n], os.fspath(path))
        _check_entries(header, len(data) - 8 - n, os.fspath(path))
        _backprop_doc(header, os.fspath(path), _budget(n) - spent)
    except ModelFileError as exc:
        raise InvalidInputError(f"cannot save this: {exc}") from None
    atomic_write_bytes(path, data)


def load_arrays(path: str | os.PathLike, *, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save_arrays`; returns ``(arrays, meta)``.

    With ``kind`` the file must carry that tag. Raises :class:`ModelFileError` for anything that is
    not such a file or does not match its own metadata.
    """
    arrays, doc = read_file(path)
    if kind is not None and doc["kind"] != kind:
        raise ModelFileError(f"{path} holds a {doc['kind']!r}, not a {kind!r}")
    return arrays, doc["meta"]


def read_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Parse and check a backprop safetensors file: (arrays, JSON document)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8:
                raise ModelFileError(
                    f"{path} is not a safetensors model file: it is only {size} bytes long (truncated?)"
                )
            if head[:1] == b"\x80" and 2 <= head[1] <= 5:
                raise ModelFileError(f"{path} is a Python pickle; backprop never loads pickles (unsafe). "
                                     "Re-save the model as safetensors")
            if head[:4] == b"PK\x03\x04":
                raise ModelFileError(
                    f"{path} is a zip archive (a PyTorch/NumPy file?), not a safetensors model"
                )
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES:
                raise ModelFileError(f"{path} is not a safetensors file: absurd header length {n} bytes")
            if n > size - 8:
                raise ModelFileError(
                    f"{path} is truncated or not a safetensors file: header of {n} bytes declared, "
                    f"{size - 8} bytes present"
                )
            data_len = size - 8 - n
            header, spent = _parse_header(f.read(n), path)
            entries = _check_entries(header, data_len, path)
            doc = _backprop_doc(header, path, _budget(n) - spent)
            _check_against_doc(entries, doc, path)
            data = f.read(data_len)
    except FileNotFoundError:
        raise ModelFileError(f"model file {path} does not exist") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a folder, not a model file") from None
    except PermissionError:
        raise ModelFileError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from None
    if len(data) != data_len:
        raise ModelFileError(f"{path} changed while it was read")
    arrays = {}
    for name, (dtype, shape, begin, end) in entries.items():
        arr = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=begin) if end > begin \
            else np.empty(0, dtype=dtype)
        arrays[name] = arr.reshape(shape).astype(dtype.newbyteorder("="), copy=True)
    return arrays, doc


def _budget(n_header):
    """Bytes of memory that reading a header of ``n_header`` bytes may take."""
    return MEMORY_FACTOR * (n_header + 8) + MEMORY_FLOOR


def _parse_header(header_bytes, path):
    """The header's JSON object and the memory its objects take (an upper bound)."""
    n = len(header_bytes)
    try:  # the raw bytes stay alive beside what parsing them builds
        header, spent = jsonscan.loads_bounded(header_bytes, _budget(n) - n)
    except jsonscan.TooComplex as exc:
        raise ModelFileError(f"{path} is refused: its {n:,}-byte header is too complex to read safely "
                             f"({exc})") from None
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        raise ModelFileError(f"{path} is not a safetensors file: its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path} is not a safetensors file: its header is not a JSON object")
    if len(header) > MAX_TENSORS + 1:
        raise ModelFileError(f"{path} is refused: it lists {len(header) - 1:,} tensors, more than the "
                             f"{MAX_TENSORS:,} a backprop file may hold")
    return header, spent


def _check_entries(header, data_len, path):
    """name -> (dtype, shape, begin, end), each checked against the data size; no allocation."""
    entries = {}
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        entries[name] = dtype, shape, begin, end = _check_entry(name, info, data_len, path)
        if end > begin:
            spans.append((begin, end, name))
    spans.sort()
    for (_, e0, n0), (b1, _, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise ModelFileError(f"{path} is corrupt: tensors {n0!r} and {n1!r} overlap")
    return entries


def _check_entry(name, info, data_len, path):
    """One tensor's header entry: (dtype, shape, begin, end), its size checked against the data."""
    bad = f"{path}: tensor {_short(name)} has a malformed header entry"
    if not isinstance(info, dict):
        raise ModelFileError(bad)
    st, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(st, str) or st not in ST_DTYPES:
        raise ModelFileError(f"{path}: tensor {_short(name)} has an unsupported dtype {_short(st)}")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise ModelFileError(f"{bad} (shape {_short(shape)})")
    if any(d > MAX_DIM for d in shape) or math.prod(max(d, 1) for d in shape) > MAX_ELEMENTS:
        raise ModelFileError(f"{path}: tensor {name!r} declares shape {shape}, which is absurd "
                             f"(dimensions at most {MAX_DIM:,}, at most {MAX_ELEMENTS:,} elements)")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
        raise ModelFileError(f"{bad} (data_offsets {_short(offsets)})")
    begin, end = offsets
    dtype = np.dtype(ST_DTYPES[st])
    n_bytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for huge shapes
    if not 0 <= begin <= end <= data_len:
        raise ModelFileError(
            f"{path} is truncated or corrupt: tensor {name!r} lies at bytes {begin}..{end} "
            f"but the file holds {data_len} bytes of data"
        )
    if end - begin != n_bytes:
        raise ModelFileError(
            f"{path}: tensor {name!r} declares shape {shape} of {st} ({n_bytes} bytes) but "
            f"occupies {end - begin} bytes"
        )
    return dtype, tuple(shape), begin, end


def _backprop_doc(header, path, room):
    """The backprop JSON document kept in the header's metadata; parsing it may take ``room`` bytes
    (what the header's budget leaves beside the header's own objects)."""
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or not isinstance(meta.get(METADATA_KEY), str):
        raise ModelFileError(
            f"{path} is a safetensors file but not a backprop model: it has no {METADATA_KEY!r} metadata"
        )
    try:
        doc, _ = jsonscan.loads_bounded(meta[METADATA_KEY], room)
    except jsonscan.TooComplex as exc:
        raise ModelFileError(f"{path} is refused: its backprop metadata is too complex to read safely "
                             f"({exc})") from None
    except (ValueError, RecursionError):
        raise ModelFileError(f"{path}: the backprop metadata is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ModelFileError(f"{path}: the backprop metadata is not a JSON object")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path}: bad metadata: format_version is {version!r}, expected an integer >= 1")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer backprop (format version {version}, library "
            f"{doc.get('library_version', '?')}); this backprop {_library_version()} reads format "
            f"versions up to {FORMAT_VERSION}: upgrade backprop to load it"
        )
    if not isinstance(doc.get("kind"), str):
        raise ModelFileError(f"{path}: bad metadata: 'kind' is missing")
    if not isinstance(doc.get("tensors"), dict):
        raise ModelFileError(f"{path}: bad metadata: the 'tensors' table is missing")
    if len(doc["tensors"]) > MAX_TENSORS:
        raise ModelFileError(f"{path}: bad metadata: the 'tensors' table lists more than {MAX_TENSORS:,}")
    if not isinstance(doc.get("meta", {}), dict):
        raise ModelFileError(f"{path}: bad metadata: 'meta' must be a JSON object")
    doc.setdefault("meta", {})
    return doc


def _check_against_doc(entries, doc, path):
    """Every tensor named in the metadata is present with its shape and dtype, and no other."""
    declared = doc["tensors"]
    for name, info in declared.items():
        if name not in entries:
            raise ModelFileError(f"{path} is missing tensor {name!r} that its metadata lists")
        if not isinstance(info, dict):
            raise ModelFileError(f"{path}: bad metadata for tensor {name!r}")
        dtype, shape, _, _ = entries[name]
        want_shape = info.get("shape")
        if not isinstance(want_shape, list) or tuple(want_shape) != shape:
            raise ModelFileError(
                f"{path}: tensor {name!r} has shape {list(shape)} but the metadata says {want_shape!r}"
            )
        if info.get("dtype") != dtype.name:
            raise ModelFileError(
                f"{path}: tensor {name!r} has dtype {dtype.name} but the metadata says {info.get('dtype')!r}"
            )
    extra = sorted(set(entries) - set(declared))
    if extra:
        raise ModelFileError(f"{path} has tensors its metadata does not list: {', '.join(extra[:10])}")


def _short(value, limit: int = 60):
    """``repr(value)`` cut to ``limit`` characters: a crafted file's values can be long."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."

