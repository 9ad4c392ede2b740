"""Parquet files read as one log in Arrow record batches: one schema over every file, hive keys as columns."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sources.base import Dropped, SourceError
from sources.detect import Layout

_INDEX = re.compile(r"^__index_level_\d+__$")  # a pandas index written as a column


def _cannot(path: Path, exc: Exception) -> SourceError:
    return SourceError(f"cannot read {str(path)!r} as parquet: {exc}")


def _plain(kind: pa.DataType) -> pa.DataType:
    """Dictionary (pandas categorical) columns are read as their values: each file has its own dictionary."""
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def file_schema(path: Path) -> tuple[pa.Schema, list[str]]:
    """One file's schema without pandas metadata, index columns or dictionary encoding; and its index columns."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _cannot(path, exc) from exc
    repeated = sorted({name for name in schema.names if schema.names.count(name) > 1})
    if repeated:
        raise SourceError(
            f"{str(path)!r} holds more than one column named {repeated[0]!r}; every column is read by its name: "
            f"rewrite the file with each column named once (rename one of them, e.g. {repeated[0] + '_2'!r})"
        )
    indexes = [f.name for f in schema if _INDEX.match(f.name)]
    return pa.schema([pa.field(f.name, _plain(f.type)) for f in schema if f.name not in indexes]), indexes


def _unify(layout: Layout, schemas: list[pa.Schema]) -> pa.Schema:
    """The columns of all files in first-seen order, each with the one type every file's values cast to."""
    types: dict[str, pa.DataType] = {}
    first: dict[str, str] = {}
    for name, schema in zip(layout.names, schemas):
        for field in schema:
            if field.name not in types:
                types[field.name], first[field.name] = field.type, name
                continue
            try:
                merged = pa.unify_schemas(
                    [pa.schema([pa.field(field.name, types[field.name])]), pa.schema([field])],
                    promote_options="permissive",
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise SourceError(
                    f"column {field.name!r} is {types[field.name]} in {first[field.name]!r} but {field.type} in "
                    f"{name!r} under {str(layout.root)!r}; write it with one type in every file ({exc})"
                ) from exc
            types[field.name] = merged.field(field.name).type
    return pa.schema([pa.field(name, kind) for name, kind in types.items()])


def read_parquet_batches(
    layout: Layout, batch_rows: int
) -> tuple[pa.Schema, Iterator[pa.RecordBatch], tuple[Dropped, ...], tuple[str, ...]]:
    """The log's schema (file columns, then hive keys as strings), its batches in file order, what was left out,
    and the hive keys that became columns.

    A hive key that a file also has as a column is left to the file's column. Files are opened one at a
    time and read `batch_rows` rows (at most) at a time.
    """
    read = [file_schema(path) for path in layout.files]
    schemas = [schema for schema, _ in read]
    schema = _unify(layout, schemas)
    dropped: list[Dropped] = []
    indexes = sorted({name for _, names in read for name in names})
    if indexes:
        dropped.append(Dropped(f"{indexes} columns", "a pandas index written into the file; read without it"))
    keys = [k for k in layout.hive_keys if k not in schema.names]
    shadowed = [k for k in layout.hive_keys if k in schema.names]
    if shadowed:
        dropped.append(Dropped(f"hive keys {shadowed} of the folder names", "the files hold columns of those names"))
    if layout.ignored:
        shown = ", ".join(layout.ignored[:5]) + (" …" if len(layout.ignored) > 5 else "")
        dropped.append(Dropped(f"{len(layout.ignored)} files that are not Parquet ({shown})", "not read"))
    full = pa.schema([*schema, *(pa.field(k, pa.string()) for k in keys)])

    def batches() -> Iterator[pa.RecordBatch]:
        for index, path in enumerate(layout.files):
            hive = layout.hive_values(index)
            try:
                reader = pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=schemas[index].names)
                for batch in reader:
                    if batch.num_rows:
                        yield _conform(batch, full, {k: hive[k] for k in keys})
            except (pa.ArrowInvalid, OSError) as exc:
                raise _cannot(path, exc) from exc

    return full, batches(), tuple(dropped), tuple(keys)


def _conform(batch: pa.RecordBatch, schema: pa.Schema, constants: dict[str, str]) -> pa.RecordBatch:
    """`batch` with every column of `schema` in its order and type: absent ones null, hive keys constant."""
    n = batch.num_rows
    arrays = []
    for field in schema:
        if field.name in constants:
            arrays.append(pa.array([constants[field.name]] * n, pa.string()))
        elif field.name in batch.schema.names:
            column = batch.column(field.name)
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            arrays.append(column if column.type == field.type else pc.cast(column, field.type))
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
