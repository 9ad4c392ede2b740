"""The out-of-core contingency table (DuckDB, Dask) equals the pandas discretisation's cells and counts."""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from causal.config import CausalConfig
from causal.network.discretize import Discretized, discretize
from causal.sim.simulator import SimulatorConfig, simulate
from sources.base import SourceError
from sources.counts import count_cells

CONFIGS = [
    CausalConfig(treatment="strategy", outcome="click"),
    CausalConfig(treatment="reason_shown", outcome="returned", n_bins=3, max_levels=3),
]


@pytest.fixture(scope="module")
def sim_log() -> pd.DataFrame:
    df = simulate(SimulatorConfig(impressions=5000, seed=0)).log
    rng = np.random.default_rng(0)
    df["score"] = rng.random(len(df))  # many distinct values: 5000 - 1 is not a multiple of 4 bins
    df.loc[::9, "score"] = np.nan
    df["user_age"] = rng.integers(18, 80, len(df)).astype(float)  # numeric, many values, some missing
    df.loc[::11, "user_age"] = np.nan
    df["user_city"] = rng.choice([f"c{i:02d}" for i in range(12)], len(df))  # more values than max_levels
    df.loc[::13, "user_city"] = None
    df["user_flag"] = rng.random(len(df)) < 0.3  # booleans: levels 0/1
    df["user_visits"] = pd.array(rng.integers(0, 3, len(df)), dtype="Int64")  # few ints, some missing
    df.loc[::17, "user_visits"] = pd.NA
    df["user_ratio"] = rng.choice([0.1, 0.25, 1.0], len(df)).astype(np.float32)  # few floats, one integral
    df["user_tenure"] = rng.integers(0, 1000, len(df))  # integers with many values: binned
    return df


@pytest.fixture(scope="module")
def log_files(sim_log: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The same log as one file, as a hive folder of dates and as a list of files."""
    root = tmp_path_factory.mktemp("logs")
    single = root / "log.parquet"
    sim_log.to_parquet(single)
    parts = []
    for date, rows in sim_log.groupby("partition"):
        folder = root / "hive" / f"date={date}"
        folder.mkdir(parents=True)
        rows.to_parquet(folder / "part-0.parquet")
        parts.append(str(folder / "part-0.parquet"))
    # pandas writes NaN as null; other writers keep NaN, which Parquet's min/max statistics leave out.
    table = pa.Table.from_pandas(sim_log, preserve_index=False)
    for name in ("score", "user_age"):
        nan_kept = pa.array(sim_log[name].to_numpy(dtype=float), from_pandas=False)
        table = table.set_column(table.schema.get_field_index(name), name, nan_kept)
    pq.write_table(table, root / "nan.parquet")
    return {
        "file": str(single),
        "nan": str(root / "nan.parquet"),
        "hive": str(root / "hive"),
        "list": parts,
        "glob": str(root / "hive" / "*" / "*"),
    }


def pandas_cells(disc: Discretized) -> pd.DataFrame:
    """discretize's rows grouped by the nodes: the table count_cells returns."""
    nodes = list(disc.nodes)
    return disc.data.groupby(nodes).size().reset_index(name="n").sort_values(nodes).reset_index(drop=True)


def counted_cells(disc: Discretized) -> pd.DataFrame:
    assert disc.weights is not None
    nodes = list(disc.nodes)
    frame = disc.data.assign(n=disc.weights.astype(np.int64))
    return frame.sort_values(nodes).reset_index(drop=True)


def assert_same(counted: Discretized, disc: Discretized) -> None:
    assert counted.tiers == disc.tiers
    assert counted.user_features == disc.user_features
    assert counted.state_names == disc.state_names
    assert counted.bin_edges == disc.bin_edges
    assert counted.level_maps == disc.level_maps
    assert [list(m) for m in counted.level_maps.values()] == [list(m) for m in disc.level_maps.values()]
    assert list(counted.data.columns) == list(disc.nodes)
    assert all(isinstance(v, str) for col in counted.data.columns for v in counted.data[col])
    pd.testing.assert_frame_equal(counted_cells(counted), pandas_cells(disc), check_dtype=False)


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.treatment}-{c.outcome}")
def test_count_cells_equals_pandas(sim_log, log_files, config):
    counted = count_cells(log_files["file"], config)
    disc = discretize(sim_log, config)
    assert_same(counted, disc)
    assert counted.weights.sum() == len(sim_log)
    assert counted.weights.dtype == np.float64
    # The features that make it hard: quantile bins with missing values, lumped categories, nullable ints.
    assert disc.bin_edges.keys() == {"user_age", "user_tenure", "score"}
    assert "other" in counted.state_names["user_city"] and "missing" in counted.state_names["user_visits"]
    # pandas names a float32 value by its float64 value (factorize widens it); DuckDB's names follow.
    assert counted.state_names["user_ratio"] == ("0.10000000149011612", "0.25", "1")


@pytest.mark.slow
def test_nan_in_parquet_is_missing_as_in_pandas(sim_log, log_files):
    assert pq.read_table(log_files["nan"]).column("score").null_count == 0  # NaN itself, not null
    counted = count_cells(log_files["nan"], CONFIGS[0])
    assert_same(counted, discretize(pd.read_parquet(log_files["nan"]), CONFIGS[0]))
    assert_same(counted, discretize(sim_log, CONFIGS[0]))
    assert "missing" in counted.state_names["score"]


@pytest.mark.slow  # writes a hive folder of the log: seconds
@pytest.mark.parametrize("layout", ["hive", "list", "glob"])
def test_hive_folder_list_and_glob_count_as_the_single_file(log_files, layout):
    config = CONFIGS[0]
    whole = count_cells(log_files["file"], config)
    parted = count_cells(log_files[layout], config)
    pd.testing.assert_frame_equal(parted.data, whole.data)
    np.testing.assert_array_equal(parted.weights, whole.weights)
    assert parted.state_names == whole.state_names and parted.bin_edges == whole.bin_edges


def test_counts_follow_the_cap_and_spill_folder(log_files, tmp_path):
    counted = count_cells(log_files["file"], CONFIGS[1], work_dir=tmp_path, memory_limit="64MB")
    assert counted.weights.sum() == 5000
    assert list(tmp_path.iterdir()) == []  # the spill folder is removed afterwards


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.assign(click=np.where(df.index % 50 == 0, 2, df["click"])), r"must hold 0/1; found \['2'\]"),
        (lambda df: df.assign(strategy=df["strategy"].where(df.index % 100 > 0)), r"has 50 missing values"),
        (lambda df: df.drop(columns=["strategy"]), r"column 'strategy' is not in the log"),
        (lambda df: df.iloc[:0], r"the log has no rows"),
    ],
)
def test_bad_logs_fail_as_in_pandas(sim_log, tmp_path, change, message):
    bad = change(sim_log.copy())
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=message):
        discretize(bad, CONFIGS[0])
    with pytest.raises(ValueError, match=message):
        count_cells(str(tmp_path / "bad.parquet"), CONFIGS[0])


def test_unreadable_node_types_and_paths_are_refused(sim_log, tmp_path):
    sim_log.assign(user_since=sim_log["ts"]).to_parquet(tmp_path / "ts.parquet")
    with pytest.raises(ValueError, match=r"'user_since' has Parquet type TIMESTAMP"):
        count_cells(str(tmp_path / "ts.parquet"), CONFIGS[0])
    with pytest.raises(SourceError, match=r"not found"):
        count_cells(str(tmp_path / "nothing.parquet"), CONFIGS[0])
    (tmp_path / "text.parquet").write_text("event_id,click\n1,0\n")
    with pytest.raises(SourceError, match=r"DuckDB cannot read the log"):
        count_cells(str(tmp_path / "text.parquet"), CONFIGS[0])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=r"holds no \*\.parquet"):
        count_cells(str(tmp_path / "empty"), CONFIGS[0])


@pytest.mark.slow
@pytest.mark.integration
def test_dask_cluster_counts_exactly_as_duckdb(log_files):
    from distributed import Client, LocalCluster

    from sources.counts_dask import count_cells_dask

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        for config, layout in zip(CONFIGS, ["hive", "nan"], strict=True):
            duck = count_cells(log_files[layout], config)
            dask = count_cells_dask(log_files[layout], config, client=client)
            pd.testing.assert_frame_equal(dask.data, duck.data)
            np.testing.assert_array_equal(dask.weights, duck.weights)
            assert dask.state_names == duck.state_names
            assert dask.bin_edges == duck.bin_edges
            assert dask.level_maps == duck.level_maps
            assert dask.tiers == duck.tiers


def write_synthetic(path: Path, rows: int, batch: int = 500_000, seed: int = 0) -> None:
    """A Parquet log shaped like the simulator's (12 columns), written batch by batch: never whole in memory."""
    rng = np.random.default_rng(seed)
    activity = np.array(["low", "mid", "high"], dtype=object)
    taste = np.array(["Action", "Comedy", "Drama", "Horror", "Romance"], dtype=object)
    cities = np.array([f"city{i:02d}" for i in range(40)] + [None], dtype=object)
    strategies = np.array(["collaborative", "content", "popular", "random"], dtype=object)
    with pq.ParquetWriter(path, _SYNTHETIC_SCHEMA) as writer:
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            strategy = rng.integers(0, 4, n)
            score = rng.random(n)
            click = (rng.random(n) < 0.02 + 0.05 * score * (strategy == 0)).astype(np.int64)
            columns = {
                "event_id": np.arange(start, start + n, dtype=np.int64),
                "user_id": np.char.add("u", rng.integers(0, 100_000, n).astype(str)),
                "item_id": np.char.add("i", rng.integers(0, 20_000, n).astype(str)),
                "strategy": strategies[strategy],
                "position": rng.integers(0, 5, n),
                "propensity": np.full(n, 0.25),
                "score": np.where(rng.random(n) < 0.01, np.nan, score),
                "reason_shown": rng.integers(0, 2, n),
                "click": click,
                "returned": (rng.random(n) < 0.1 + 0.2 * click).astype(np.int64),
                "user_activity": activity[rng.integers(0, 3, n)],
                "user_taste": taste[rng.integers(0, 5, n)],
                "user_city": cities[rng.integers(0, len(cities), n)],
                "user_age": rng.integers(18, 80, n).astype(float),
            }
            writer.write_table(pa.table(columns, schema=_SYNTHETIC_SCHEMA))


_SYNTHETIC_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("strategy", pa.string()),
        ("position", pa.int64()),
        ("propensity", pa.float64()),
        ("score", pa.float64()),
        ("reason_shown", pa.int64()),
        ("click", pa.int64()),
        ("returned", pa.int64()),
        ("user_activity", pa.string()),
        ("user_taste", pa.string()),
        ("user_city", pa.string()),
        ("user_age", pa.float64()),
    ]
)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


@pytest.mark.slow
def test_counting_two_million_rows_keeps_memory_flat(tmp_path):
    path = tmp_path / "big.parquet"
    write_synthetic(path, 2_000_000, batch=200_000)
    before = _peak_rss_mb()
    counted = count_cells(str(path), CausalConfig(treatment="strategy", outcome="click"), work_dir=tmp_path)
    growth = _peak_rss_mb() - before
    assert counted.weights.sum() == 2_000_000
    assert "missing" in counted.state_names["score"]  # its NaN
    assert len(counted.data) <= 3 * 5 * 6 * 4 * 4 * 5 * 5 * 2  # a table of cells, not rows
    assert growth < 400, f"peak RSS grew by {growth:.0f} MB while counting 2M rows"
