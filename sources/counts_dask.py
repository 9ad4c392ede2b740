"""The network's contingency table counted on a Dask cluster: the plan's summaries and groupby sizes, all exact."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from causal.config import CausalConfig
from causal.network.discretize import Discretized, apply_plan, as_floats, as_levels, discretized, is_numeric
from causal.network.plan import exact_quantiles, make_plan
from sources.duck import LogPaths, parquet_files

if TYPE_CHECKING:  # dask is imported where it is used: `import sources` stays light
    import dask.dataframe as dd
    from distributed import Client


# dask-expr caches its expressions' properties with functools.cached_property, which before Python 3.12 holds one
# lock per property shared by every expression: two threads building graphs at once (the pipeline's networks are
# prepared in parallel on one worker's threads) can each hold one property's lock and wait for the other's. Seen as
# a hang in tests/flows/test_cache_dask.py. One count at a time per process; the cluster still computes each one.
_ONE_COUNT_AT_A_TIME = threading.Lock()


def count_cells_dask(log: LogPaths, config: CausalConfig, client: Client | None = None) -> Discretized:
    """count_cells on a Dask cluster: the same files, plan, cells (sorted alike) and counts.

    Every summary is computed on the cluster, the quantile edges too: an exact distributed sort of the
    column gives the few order statistics numpy's interpolation reads (Dask's own quantile is approximate).
    Without `client`, Dask's default scheduler runs it (a Client made earlier in this process, if any).
    """
    import dask.dataframe as dd

    with _ONE_COUNT_AT_A_TIME:
        frame = dd.read_parquet(parquet_files(log))
        summaries = DaskSummaries(frame, client)
        plan = make_plan(summaries, config)
        meta = pd.DataFrame({node: pd.Series(dtype=object) for node in plan.nodes})
        cells = frame.map_partitions(apply_plan, plan, meta=meta)
        (sizes,) = summaries.compute(cells.groupby(list(plan.nodes), sort=False).size())
    sizes = sizes.sort_index()  # DuckDB's ORDER BY: str order, node by node
    index = sizes.index.to_frame(index=False)
    data = pd.DataFrame({node: np.array([str(v) for v in index[node]], dtype=object) for node in plan.nodes})
    return discretized(plan, data, sizes.to_numpy(dtype=np.float64))


class DaskSummaries:
    """The plan's column summaries of a Dask frame, each computed on the cluster."""

    def __init__(self, frame: dd.DataFrame, client: Client | None) -> None:
        self.frame = frame
        self.client = client

    def compute(self, *collections: Any) -> tuple[Any, ...]:
        """Results of Dask collections, on the client's cluster when there is one."""
        import dask

        with self._on_cluster():
            return dask.compute(*collections)

    def persist(self, collection: Any) -> Any:
        """The collection computed and kept on the cluster (client.persist(...) of a sorted frame lost its
        shuffle's tasks with distributed 2026.8; .persist() under the client as current keeps them)."""
        with self._on_cluster():
            return collection.persist()

    def _on_cluster(self) -> AbstractContextManager[object]:
        return self.client.as_current() if self.client is not None else nullcontext()

    def columns(self) -> tuple[str, ...]:
        return tuple(self.frame.columns)

    def n_rows(self) -> int:
        (n,) = self.compute(self.frame.map_partitions(len).sum())
        return int(n)

    def is_numeric(self, column: str) -> bool:
        return is_numeric(pd.Series(dtype=self.frame.dtypes[column]))

    def n_missing(self, column: str) -> int:
        (n,) = self.compute(self.frame[column].isna().sum())
        return int(n)

    def n_distinct(self, column: str, limit: int) -> int:
        # Each partition sends at most limit + 1 of its values: whether there are few is all the plan asks.
        meta = (column, self.frame.dtypes[column])
        (values,) = self.compute(self.frame[column].map_partitions(_first_distinct, limit, meta=meta))
        return min(int(values.nunique(dropna=True)), limit + 1)

    def level_counts(self, column: str) -> dict[str, int]:
        levels = self.frame[column].map_partitions(as_levels, meta=(column, object))
        (counts,) = self.compute(levels.value_counts())
        return {str(k): int(v) for k, v in counts.items()}

    def quantiles(self, column: str, probabilities: np.ndarray) -> np.ndarray:
        x = self.frame[column].map_partitions(_present_floats, meta=(column, np.float64))
        (n,) = self.compute(x.count())
        if n == 0:
            return np.array([], dtype=float)
        ordered = x.to_frame(name="v").sort_values("v")  # a shuffle: exact, each partition sorted in turn
        ordered = self.persist(ordered)
        (lengths,) = self.compute(ordered.map_partitions(len))
        ends = np.cumsum(np.asarray(lengths, dtype=np.int64))

        def order_statistics(ranks: Sequence[int]) -> dict[int, float]:
            where = {k: int(np.searchsorted(ends, k, side="right")) for k in ranks}
            parts = sorted(set(where.values()))
            found = dict(zip(parts, self.compute(*(ordered.partitions[i] for i in parts)), strict=True))
            return {k: float(found[i]["v"].iloc[k - (ends[i - 1] if i else 0)]) for k, i in where.items()}

        return exact_quantiles(int(n), probabilities, order_statistics)


def _first_distinct(series: pd.Series, limit: int) -> pd.Series:
    return pd.Series(series.dropna().unique()[: limit + 1], dtype=series.dtype, name=series.name)


def _present_floats(series: pd.Series) -> pd.Series:
    x = as_floats(series)
    return pd.Series(x[~np.isnan(x)], dtype=np.float64, name=series.name)
