"""Discretisation picks the right nodes, bins numerics, lumps rare levels and orders the tiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.config import CausalConfig
from causal.network.discretize import PandasSummaries, apply_plan, discretize
from causal.network.plan import exact_quantiles, make_plan, quantile_ranks

CONFIG = CausalConfig(max_levels=3, n_bins=4)


def log(n: int = 12) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": range(n),
            "user_id": [f"u{i}" for i in range(n)],
            "item_id": [i % 3 for i in range(n)],
            "user_city": ["a"] * 5 + ["b"] * 4 + ["c"] * 2 + ["d"],  # 4 values, max_levels 3 keeps a, b
            "user_age": np.arange(n, dtype=float),  # numeric: quantile bins
            "user_item_affinity": np.linspace(0, 1, n),  # not a user feature
            "item_genre": ["x"] * n,
            "policy": ["bts", "random"] * (n // 2),
            "score": np.linspace(0.05, 0.95, n),
            "position": [0, 1, 2] * (n // 3),
            "propensity": [0.5] * n,
            "click": [0, 1] * (n // 2),
        }
    )


def test_nodes_and_tiers():
    disc = discretize(log(), CONFIG)
    assert disc.tiers == (("user_city", "user_age"), ("policy",), ("score", "position"), ("click",))
    assert disc.user_features == ("user_city", "user_age")
    assert list(disc.data.columns) == list(disc.nodes)
    assert all(isinstance(v, str) for col in disc.data.columns for v in disc.data[col])


def test_rare_levels_become_other_and_numerics_quantile_bins():
    disc = discretize(log(), CONFIG)
    assert list(disc.data["user_city"]) == ["a"] * 5 + ["b"] * 4 + ["other"] * 3
    assert disc.level_maps["user_city"] == {"a": "a", "b": "b", "c": "other", "d": "other"}
    assert list(disc.data["user_age"]) == ["q1"] * 3 + ["q2"] * 3 + ["q3"] * 3 + ["q4"] * 3
    assert disc.bin_edges["user_age"] == (0.0, 2.75, 5.5, 8.25, 11.0)
    assert disc.state_names["score"] == ("q1", "q2", "q3", "q4")
    assert disc.state_names["position"] == ("0", "1", "2")
    assert disc.state_names["policy"] == ("bts", "random")
    assert list(disc.data["click"][:2]) == ["0", "1"]


def test_ties_in_frequency_are_broken_by_value():
    df = log()
    df["user_city"] = ["b", "a", "c", "d"] * 3  # all four tie
    assert discretize(df, CONFIG).level_maps["user_city"] == {"a": "a", "b": "b", "c": "other", "d": "other"}


def test_optional_columns_and_outcome_states():
    df = log().drop(columns=["score", "position"])
    df["click"] = 0
    disc = discretize(df, CONFIG)
    assert disc.tiers == (("user_city", "user_age"), ("policy",), ("click",))
    assert disc.state_names["click"] == ("0", "1")  # a log without clicks still has both states


def test_missing_values_and_integral_floats():
    df = log()
    df["user_city"] = [None] + ["a"] * 11
    df["position"] = [0.0, 1.0, 2.0] * 4
    disc = discretize(df, CONFIG)
    assert disc.data["user_city"].iloc[0] == "missing"
    assert disc.state_names["position"] == ("0", "1", "2")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.assign(click=[0, 2] * 6), r"outcome column 'click' must hold 0/1; found \['2'\]"),
        (lambda df: df.assign(policy=[None] + ["bts"] * 11), r"treatment column 'policy' has 1 missing values"),
        (lambda df: df.drop(columns=["policy"]), r"column 'policy' is not in the log"),
        (lambda df: df.iloc[:0], r"the log has no rows"),
    ],
)
def test_bad_logs(change, message):
    with pytest.raises(ValueError, match=message):
        discretize(change(log()), CONFIG)


def test_exact_quantiles_from_order_statistics_equal_numpy_bit_for_bit():
    # DuckDB and Dask read a few ranked values and interpolate here; the bins' edges must be numpy's exactly.
    rng = np.random.default_rng(0)
    for trial in range(400):
        n = int(rng.integers(1, 300))
        x = [
            rng.normal(size=n) * 10 ** rng.uniform(-5, 5),
            rng.integers(-5, 5, n).astype(float),
            rng.exponential(size=n),
            np.round(rng.uniform(0, 1, n), 2),
        ][trial % 4]
        ordered = np.sort(x)
        for n_bins in (2, 3, 4, 5, 7, 10):
            probabilities = np.linspace(0.0, 1.0, n_bins + 1)
            ranks = quantile_ranks(n, probabilities)
            assert len(ranks) <= 2 * (n_bins + 1)
            got = exact_quantiles(n, probabilities, lambda asked, s=ordered: {k: s[k] for k in asked})
            np.testing.assert_array_equal(got, np.quantile(x, probabilities))


def test_a_plan_applied_part_by_part_gives_the_whole_frame():
    # Dask applies the plan to each partition; the rows must not depend on where the frame was cut.
    df = log()
    plan = make_plan(PandasSummaries(df), CONFIG)
    parts = pd.concat([apply_plan(df.iloc[:5], plan), apply_plan(df.iloc[5:], plan)], ignore_index=True)
    pd.testing.assert_frame_equal(parts, apply_plan(df, plan))
    assert plan.nodes == discretize(df, CONFIG).nodes
