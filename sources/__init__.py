"""Loaders from real log formats (Open Bandit, CSV/Parquet) to the canonical interaction log."""

from sources.base import Dropped, LoadedLog, SourceError
from sources.obd import load_obd
from sources.table import load_table

__all__ = ["Dropped", "LoadedLog", "SourceError", "load_obd", "load_table"]
