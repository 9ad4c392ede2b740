"""A CSV log read in Arrow blocks: one pass to settle each column's type, one to convert; labels stay strings."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from sources.base import Dropped, SourceError

BLOCK_BYTES = 8 << 20  # bytes of CSV text parsed at a time
TRUE, FALSE = ("True", "TRUE", "true"), ("False", "FALSE", "false")  # the spellings pandas reads as booleans
# Type candidates in the order pandas prefers them; a column none fits stays a string column.
_CANDIDATES = (pa.int64(), pa.float64(), pa.bool_())
# Delimiters a CSV may use, by name; the first is the default. A file is read with the one that splits its
# header into the most columns (a tie keeps the earlier): a ';'-delimited export (spreadsheets where the comma
# is the decimal mark write one) has a header of one long ';'-joined name when split by ','.
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def sniff(path: Path) -> tuple[list[str], str]:
    """The header's fields and the delimiter (of DELIMITERS) that splits it into the most of them."""
    best: tuple[list[str], str] = ([], ",")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for delimiter in DELIMITERS:
                fh.seek(0)
                names = next(csv.reader(fh, delimiter=delimiter), None) or []
                if len(names) > len(best[0]):
                    best = (names, delimiter)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"cannot read {str(path)!r} as csv: {exc}") from exc
    return best


def delimiter_note(delimiter: str, n_columns: int) -> tuple[Dropped, ...]:
    """What the loader says when a CSV is not comma-delimited."""
    if delimiter == ",":
        return ()
    name = DELIMITERS[delimiter]
    return (
        Dropped(
            "the comma as the CSV delimiter",
            f"the header splits into {n_columns} columns at {delimiter!r}: read as a {name}-delimited file",
        ),
    )


def header(path: Path) -> list[str]:
    """The header's column names; an empty file, an unreadable one or a name given twice is refused."""
    return _header(path, sniff(path)[0])


def _header(path: Path, names: list[str]) -> list[str]:
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


def _reader(path: Path, names: list[str], delimiter: str) -> pacsv.CSVStreamingReader:
    """Every column as a string; only an empty field is missing ("None", "NA", "null" are values)."""
    try:
        return pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"cannot read {str(path)!r} as csv: {exc}") from exc


def _batches(path: Path, names: list[str], delimiter: str) -> Iterator[pa.RecordBatch]:
    reader = _reader(path, names, delimiter)
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


def column_types(path: Path, names: list[str], delimiter: str = ",") -> tuple[dict[str, pa.DataType], int]:
    """Each column's type over the whole file (int64, float64, bool or string, as pandas would infer it), and rows.

    Read block by block, so the file is never held whole; a column of only empty fields is float64 (all NaN).
    """
    candidates = {name: list(_CANDIDATES) for name in names}
    filled = dict.fromkeys(names, False)
    rows = 0
    for batch in _batches(path, names, delimiter):
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


def read_csv_batches(path: Path) -> tuple[pa.Schema, Iterator[pa.RecordBatch], tuple[Dropped, ...]]:
    """The CSV's schema, its rows in record batches typed by `column_types` (a first pass over the file), and notes.

    The delimiter is the one that splits the header into the most columns (DELIMITERS); the notes say so
    when it is not the comma.
    """
    fields, delimiter = sniff(path)
    names = _header(path, fields)
    types, rows = column_types(path, names, delimiter)
    if rows == 0:
        raise SourceError(f"{str(path)!r} holds a header but no rows")
    schema = pa.schema([pa.field(name, types[name]) for name in names])

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in _batches(path, names, delimiter):
            arrays = [_convert(column, types[name]) for name, column in zip(names, batch.columns)]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    return schema, batches(), delimiter_note(delimiter, len(names))
