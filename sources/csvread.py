"""A CSV log read in Arrow blocks: one pass to settle each column's type, one to convert; labels stay strings."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from sources.base import SourceError

BLOCK_BYTES = 8 << 20  # bytes of CSV text parsed at a time
TRUE, FALSE = ("True", "TRUE", "true"), ("False", "FALSE", "false")  # the spellings pandas reads as booleans
# Type candidates in the order pandas prefers them; a column none fits stays a string column.
_CANDIDATES = (pa.int64(), pa.float64(), pa.bool_())


def header(path: Path) -> list[str]:
    """The header's column names; an empty file, an unreadable one or a name given twice is refused."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            names = next(csv.reader(fh), None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"cannot read {str(path)!r} as csv: {exc}") from exc
    if not names:
        raise SourceError(f"{str(path)!r} is empty: no header and no rows")
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise SourceError(
                f"{str(path)!r} names the column {name!r} twice in its header; rename one of them "
                "(every column is read by its name)"
            )
        seen.add(name)
    # pandas' names for unnamed columns (an index written with to_csv), so a column map keeps working
    return [name or f"Unnamed: {i}" for i, name in enumerate(names)]


def _reader(path: Path, names: list[str]) -> pacsv.CSVStreamingReader:
    """Every column as a string; only an empty field is missing ("None", "NA", "null" are values)."""
    try:
        return pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"cannot read {str(path)!r} as csv: {exc}") from exc


def _batches(path: Path, names: list[str]) -> Iterator[pa.RecordBatch]:
    reader = _reader(path, names)
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"cannot read {str(path)!r} as csv: {exc}") from exc
        if batch.num_rows:
            yield batch


def _fits(values: pa.Array, kind: pa.DataType) -> bool:
    """True when every (non-missing) string converts to `kind`."""
    if kind == pa.bool_():
        return bool(pc.all(pc.is_in(values, value_set=pa.array(TRUE + FALSE))).as_py())
    try:
        pc.cast(values, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def column_types(path: Path, names: list[str]) -> tuple[dict[str, pa.DataType], int]:
    """Each column's type over the whole file (int64, float64, bool or string, as pandas would infer it), and rows.

    Read block by block, so the file is never held whole; a column of only empty fields is float64 (all NaN).
    """
    candidates = {name: list(_CANDIDATES) for name in names}
    filled = dict.fromkeys(names, False)
    rows = 0
    for batch in _batches(path, names):
        rows += batch.num_rows
        for name, column in zip(names, batch.columns):
            values = column.drop_null()
            if not len(values) or not candidates[name]:
                continue
            filled[name] = True
            candidates[name] = [kind for kind in candidates[name] if _fits(values, kind)]
    types = {
        name: (candidates[name][0] if candidates[name] else pa.string()) if filled[name] else pa.float64()
        for name in names
    }
    return types, rows


def _convert(column: pa.Array, kind: pa.DataType) -> pa.Array:
    if kind == pa.string():
        return column
    if kind == pa.bool_():
        truth = pc.is_in(column, value_set=pa.array(TRUE))
        return pc.if_else(pc.is_valid(column), truth, pa.scalar(None, pa.bool_()))
    return pc.cast(column, kind)


def read_csv_batches(path: Path) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The CSV's schema and its rows in record batches, typed by `column_types` (a first pass over the file)."""
    names = header(path)
    types, rows = column_types(path, names)
    if rows == 0:
        raise SourceError(f"{str(path)!r} holds a header but no rows")
    schema = pa.schema([pa.field(name, types[name]) for name in names])

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in _batches(path, names):
            arrays = [_convert(column, types[name]) for name, column in zip(names, batch.columns)]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    return schema, batches()
