"""Loaders from real log formats (Open Bandit, CSV/Parquet files and folders) to the canonical interaction log."""

from sources.base import Dropped, LoadedLog, SourceError
from sources.detect import Layout, detect, layout_for, source_kind
from sources.obd import load_obd
from sources.stream import CanonicalLog, write_canonical
from sources.table import load_table

__all__ = [
    "count_cells",
    "count_cells_dask",
    "CanonicalLog",
    "Dropped",
    "Layout",
    "LoadedLog",
    "SourceError",
    "detect",
    "layout_for",
    "load_obd",
    "load_table",
    "source_kind",
    "write_canonical",
]

# The contingency-table counters import DuckDB (count_cells_dask: Dask too): loaded on first use, so that
# `import sources` stays light.
_LAZY = {"count_cells": "sources.counts", "count_cells_dask": "sources.counts_dask"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sources' has no attribute {name!r}")
