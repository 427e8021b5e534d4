"""CSV/TSV text files, plain or gzip-compressed, read row by row with their line numbers.

Everything that can go wrong while reading (a truncated or corrupt gzip stream, bytes that are not
UTF-8, a NUL byte, a ragged row) is an InvalidInputError naming the file and the problem; no
zlib.error, EOFError, BadGzipFile or UnicodeDecodeError escapes. The first line is the header unless
``header=False``; a "header" that is numbers like the data is refused with a hint at --no-header.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from collections.abc import Iterator

import numpy as np

from backprop.errors import InvalidInputError

CSV_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")
GZIP_MAGIC = b"\x1f\x8b"
#: what decompressing, decoding and parsing a text file can raise
READ_ERRORS = (UnicodeDecodeError, csv.Error, OSError, EOFError, zlib.error)


def read_error(path: str, exc: BaseException, kind: str = "CSV") -> InvalidInputError:
    """The InvalidInputError that says why ``path`` could not be read as ``kind``."""
    if isinstance(exc, EOFError):  # gzip: "Compressed file ended before the end-of-stream marker"
        why = f"the gzip data is truncated ({exc}); the file was cut short, copy it again"
    elif isinstance(exc, (zlib.error, gzip.BadGzipFile)):
        why = f"the gzip data is corrupt ({exc})"
    elif isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start:exc.start + 1].hex()
        why = f"it is not UTF-8 text (byte 0x{bad}); is it a binary file? save it as UTF-8 {kind}"
    elif isinstance(exc, csv.Error):
        why = f"{exc}" + ("; is it a binary file?" if "NUL" in str(exc) else "")
    elif isinstance(exc, OSError):
        why = exc.strerror or str(exc)
    else:  # pragma: no cover - READ_ERRORS lists what reaches here
        why = str(exc)
    return InvalidInputError(f"cannot read {path} as {kind}: {why}")


#: first bytes of files that are not text, for a message better than "not UTF-8"
OTHER_FORMATS = {
    b"PK\x03\x04": "a zip archive (an .xlsx or .zip file?)",
    b"\xfd7zXZ\x00": "xz-compressed",
    b"\x28\xb5\x2f\xfd": "zstd-compressed",
    b"PAR1": "a Parquet file (name it .parquet)",
    b"\x93NUMPY": "a NumPy .npy file",
}


def _first_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(10)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _other_format(head: bytes) -> str | None:
    if head[:3] == b"BZh" and head[4:10] == b"1AY&SY":
        return "bzip2-compressed"
    return next((what for magic, what in OTHER_FORMATS.items() if head.startswith(magic)), None)


def open_text(path: str) -> io.TextIOWrapper:
    """The file as UTF-8 text (a leading BOM dropped), decompressing gzip on the fly.

    Files of other formats (zip, xz, bzip2, zstd, Parquet, .npy) are refused by their first bytes.
    """
    head = _first_bytes(path)
    other = _other_format(head)
    if other is not None:
        raise InvalidInputError(f"cannot read {path} as CSV: it is {other}; backprop reads CSV/TSV text, "
                                "plain or gzip-compressed (.csv.gz)")
    try:
        # the caller closes the text wrapper, which closes these
        raw = gzip.open(path, "rb") if head[:2] == GZIP_MAGIC else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def delimiter(path: str) -> str:
    """Tab for .tsv/.tab (also gzipped), else comma."""
    p = os.fspath(path).lower()
    p = p.removesuffix(".gz")
    return "\t" if p.endswith((".tsv", ".tab")) else ","


def _numbers(fields) -> np.ndarray | None:
    """The fields as float64, or None when one of them is empty or not a number."""
    stripped = [f.strip() for f in fields]
    if not stripped or not all(stripped):
        return None
    try:
        return np.asarray(stripped, dtype=str).astype(np.float64)
    except (ValueError, OverflowError):
        return None


def looks_headerless(header: list, first_row: list | None) -> bool:
    """Whether the first line is data rather than column names.

    It is when every field is a number and so is every field of the first data row (or there is
    none), or when the fields above the numeric columns are all numbers and one of them has a
    fraction or exponent (no one names a column "5.1"). Names that count 0, 1, 2, ..., as pandas
    writes for unnamed columns, are a header.
    """
    values = _numbers(header)
    if values is not None:
        if np.array_equal(values, np.arange(len(values))):
            return False
        return first_row is None or len(first_row) != len(header) or _numbers(first_row) is not None
    if first_row is None or len(first_row) != len(header):
        return False
    numeric = [j for j, v in enumerate(first_row) if _numbers([v]) is not None]
    above = [header[j].strip() for j in numeric]
    if not above or _numbers(above) is None:
        return False
    return any(not _is_integer_text(h) for h in above)


def _is_integer_text(s: str) -> bool:
    return s.lstrip("+-").isdigit()


class CsvReader:
    """Rows of a CSV/TSV file in chunks, with the file line number of each row (for messages).

    ``header``: None (default) reads the first line as the header and refuses one that looks like
    data (see :func:`looks_headerless`); True reads it as the header without that check; False
    reads every line as data and names the columns "0", "1", ... .
    """

    def __init__(self, path: str | os.PathLike, *, header: bool | None = None) -> None:
        self.path = os.fspath(path)
        self._f = open_text(self.path)
        self._reader = csv.reader(self._f, delimiter=delimiter(self.path))
        self._ahead: list[tuple[list, int]] = []  # rows read while looking at the header
        self._has_header = header is not False
        try:
            self.header = self._read_header(header)
        except InvalidInputError:
            self.close()
            raise
        except READ_ERRORS as exc:
            self.close()
            raise read_error(self.path, exc) from None

    def _next_row(self) -> tuple[list, int] | None:
        for row in self._reader:
            if row and not (len(row) == 1 and not row[0].strip()):
                self._check_text(row)
                return row, self._reader.line_num
        return None

    def _check_text(self, row):
        # the csv module takes NUL bytes since Python 3.11; in a "CSV" file they mean binary data
        if "\x00" in "".join(row):
            raise InvalidInputError(f"cannot read {self.path} as CSV: line {self._reader.line_num} holds a "
                                    "NUL byte; is it a binary file? save it as UTF-8 CSV")

    def _read_header(self, header):
        if header is False:
            first = self._next_row()
            if first is None:
                raise InvalidInputError(f"{self.path} is empty: it has no data rows")
            self._ahead.append(first)
            return [str(j) for j in range(len(first[0]))]
        try:
            names = next(self._reader)
        except StopIteration:
            raise InvalidInputError(f"{self.path} is empty: it needs a header line and data rows") from None
        self._check_text(names)
        names = [h.strip() for h in names]
        if not any(names):
            raise InvalidInputError(f"{self.path}: the first line must be a header naming the columns")
        if header is None:
            first = self._next_row()
            if first is not None:
                self._ahead.append(first)
            if looks_headerless(names, None if first is None else first[0]):
                shown = ",".join(names[:6]) + (",..." if len(names) > 6 else "")
                raise InvalidInputError(
                    f"{self.path} seems to have no header line: its first line ({shown}) holds "
                    "numbers like the data rather than column names; add a header line naming the "
                    "columns, or read the file with --no-header (columns are then named 0, 1, 2, ...)"
                )
        seen = set()
        for h in names:
            if h in seen:
                raise InvalidInputError(f"{self.path}: column name {h!r} appears twice in the header")
            seen.add(h)
        return names

    def rows(self) -> Iterator[tuple[list, int]]:
        """Yield (row, line number) for every data row; blank lines are skipped."""
        n = len(self.header)
        try:
            while True:
                item = self._ahead.pop(0) if self._ahead else self._next_row()
                if item is None:
                    return
                row, line = item
                if len(row) != n:
                    raise InvalidInputError(
                        f"{self.path}: line {line} has {len(row)} fields but the "
                        f"{'header' if self._has_header else 'first row'} has {n}"
                    )
                yield row, line
        except READ_ERRORS as exc:
            raise read_error(self.path, exc) from None

    def chunks(self, size: int = 8192) -> Iterator[tuple[list, list]]:
        """Yield (rows, line_numbers) with up to ``size`` rows each; blank lines are skipped."""
        rows, lines = [], []
        for row, line in self.rows():
            rows.append(row)
            lines.append(line)
            if len(rows) >= size:
                yield rows, lines
                rows, lines = [], []
        if rows:
            yield rows, lines

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
