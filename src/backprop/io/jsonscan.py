"""Parse untrusted JSON in bounded memory: count what it would build before building it.

``json.loads`` of a crafted text can take 20-30 times the text's size (``[[],[],...]`` builds one
list per 3 bytes) and recurse as deep as the text nests. :func:`loads_bounded` first scans the
text at C speed (regular expressions and ``bytes.count``; no Python objects per value): strings
are cut out, then the brackets, commas and colons that remain say how many containers, list items
and object members the parse would create and how deep it would nest. The cost estimate below
bounds what CPython allocates for each (measured with tracemalloc, with a margin); a text whose
estimate exceeds the caller's budget, or that nests deeper than :data:`MAX_DEPTH`, or holds more
than :data:`MAX_VALUES` values, is refused before it is parsed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

#: deepest nesting of arrays/objects accepted (backprop's own documents nest 6 deep)
MAX_DEPTH = 32
#: most JSON values in one document
MAX_VALUES = 2_000_000

# bytes CPython allocates per piece, an upper bound (tracemalloc, CPython 3.11: a list 56-72,
# a dict 64-232, a float 24 + its 8-byte slot, a short string 49 + its length)
_PER_OBJECT = 200  # a dict of up to 5 members (184) and its slot
_PER_ARRAY = 80  # a list (56) with its slack and its slot
_PER_ITEM = 36  # each comma: one more value (a float: 24) and its slot
_PER_MEMBER = 40  # each colon: one more key/value pair in a dict, beyond the first 5
_PER_STRING = 60  # each string, besides its characters

_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)  # possessive: linear, no backtracking
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_WIDE = re.compile(rb"\\u(?:0[1-9a-fA-F]|[1-9a-fA-F])")  # an escape of U+0100 and above: 2 bytes a char
_ASTRAL = re.compile(rb"\\u[dD][89abAB]")  # a surrogate pair: 4 bytes a character
#: scanning keeps a slice per string (about 45 bytes) until it joins them
_SCAN_PER_QUOTE = 25


class TooComplex(ValueError):
    """The text would take more memory or nest deeper than allowed; the message says which."""


def char_width(text: bytes) -> int:
    """Bytes per character of the strings that parsing ``text`` builds (CPython's str kinds)."""
    if not text.isascii():
        return 4  # beyond ASCII: assume the widest kind
    return 4 if _ASTRAL.search(text) else 2 if _WIDE.search(text) else 1


def _depth(brackets: bytes, block: int = 1 << 16) -> int:
    """The deepest nesting of a string of brackets: the running sum of +1 (open) and -1 (close),
    in blocks (small temporaries)."""
    deepest = level = 0
    for s in range(0, len(brackets), block):
        b = np.frombuffer(brackets, dtype=np.uint8, count=min(block, len(brackets) - s), offset=s)
        step = ((b == ord("[")) | (b == ord("{"))).astype(np.int8) * np.int8(2) - np.int8(1)
        run = np.cumsum(step, dtype=np.int64) + level
        deepest, level = max(deepest, int(run.max())), int(run[-1])
    return deepest


def cost(text: bytes, budget: int) -> int:
    """An upper bound on the bytes ``json.loads(text)`` allocates for its result (not counting
    ``text`` itself). Raises :class:`TooComplex` past :data:`MAX_DEPTH` or :data:`MAX_VALUES`, or
    when scanning alone would take more than ``budget`` bytes."""
    if _SCAN_PER_QUOTE * text.count(b'"') + len(text) > budget:
        raise TooComplex("it holds too many strings for its size")
    width = char_width(text)
    bare, n_strings = _STRING.subn(b"", text)
    string_chars = len(text) - len(bare)
    n_items, n_members = bare.count(b","), bare.count(b":")
    number_bytes = len(bare)  # (and brackets, separators, spaces: an upper bound)
    brackets = bare.translate(None, _NOT_BRACKETS)
    del bare
    n_objects, n_arrays = brackets.count(b"{"), brackets.count(b"[")
    n_values = n_objects + n_arrays + n_items + n_members + 1
    if n_values > MAX_VALUES:
        raise TooComplex(f"it holds more than {MAX_VALUES:,} JSON values")
    depth = _depth(brackets)
    if depth > MAX_DEPTH:
        raise TooComplex(f"it nests {depth} levels deep (at most {MAX_DEPTH} are read)")
    # a string with escapes is built in a growing buffer, then copied: twice its characters;
    # a long int takes about 0.42 bytes a digit
    return (2 * width * string_chars + number_bytes // 2 + _PER_OBJECT * n_objects + _PER_ARRAY * n_arrays
            + _PER_ITEM * n_items + _PER_MEMBER * n_members + _PER_STRING * n_strings)


def loads_bounded(text: bytes | str, budget: int) -> Any:
    """``json.loads(text)``, refused with :class:`TooComplex` when scanning it or its estimated
    :func:`cost` (plus the decoded copy that parsing bytes makes) exceeds ``budget`` bytes.

    Returns ``(value, cost)``: ``cost`` bounds the memory ``value`` takes. Invalid JSON raises
    ``ValueError`` as ``json.loads`` does.
    """
    if isinstance(text, str):  # scanned as UTF-8 bytes: a transient copy
        raw = text.encode("utf-8", "surrogatepass")
        built = need = cost(raw, budget - len(raw))
        del raw
    else:
        built = cost(text, budget)
        need = built + char_width(text) * len(text)  # the decoded copy, alive while it is parsed
    if need > budget:
        raise TooComplex(f"reading it would take about {need:,} bytes of memory, more than the "
                         f"{budget:,} allowed for a file of this size")
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # strictly UTF-8, as safetensors requires
    return json.loads(text), built
