"""CUPED rows of a partitioned run: narrower than plain A/B on a user-randomised day, or skipped with the reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.cuped import PRE_OFFSET, experiment
from causal.config import CausalConfig
from causal.effects.cuped import per_user_outcomes, pre_period_covariate
from causal.sim.simulator import DEFAULT_DATA, SimulatorConfig, simulate
from sources.user_outcomes import user_outcomes
from tasks.cuped import cuped_rows

DAY1, DAY2 = "2024-03-01", "2024-03-02"
PAIR = (CausalConfig(treatment="strategy", outcome="click", baseline="random"),)
IMPRESSIONS = 20_000  # per day, over all 610 users (bench/cuped.py's construction needs them all)


def on_day(log: pd.DataFrame, day: str) -> pd.DataFrame:
    """The log moved onto `day`, each impression keeping its time of day."""
    start = pd.Timestamp(day, tz="UTC")
    return log.assign(ts=start + (log.ts - log.ts.dt.floor("D")), partition=day)


@pytest.fixture(scope="module")
def two_days(tmp_path_factory) -> dict:
    """Day 1 under the confounded logging policy (the pre-period); day 2 each user served one strategy throughout.

    bench/cuped.py's experiment: users assigned once, each user's impressions taken from their arm's forced
    simulation of the same seed; its truth is each strategy's effect on clicks per user against random.
    """
    seed = 0
    pre = simulate(SimulatorConfig(impressions=IMPRESSIONS, seed=seed + PRE_OFFSET, days=1)).log
    users = pd.Index(sorted(pre.user_id.unique()), name="user_id")
    day2, truth = experiment(seed, IMPRESSIONS, DEFAULT_DATA, users)
    day2 = on_day(day2, DAY2)
    folder = tmp_path_factory.mktemp("cuped")
    pd.concat([pre, day2], ignore_index=True).to_parquet(folder / "log.parquet", index=False)
    day2.to_parquet(folder / "day2.parquet", index=False)  # what a run of --partition DAY2 reads after the gate
    return dict(pre=pre, day2=day2, truth=truth, log=str(folder / "log.parquet"), period=str(folder / "day2.parquet"))


@pytest.mark.slow
def test_cuped_rows_are_narrower_than_plain_and_cover_the_per_user_truth(two_days):
    found = cuped_rows(two_days["period"], two_days["log"], DAY2, PAIR, ())
    rows = {e.treatment_value: e for e in found.estimates}
    assert sorted(rows) == sorted(two_days["truth"])  # every strategy but the baseline
    for value, e in rows.items():
        d = e.diagnostics
        truth = two_days["truth"][value]
        width, plain = e.ci_high - e.ci_low, d["plain_high"] - d["plain_low"]
        print(f"{value}: cuped width {width:.3f}, plain {plain:.3f} ({d['width_ratio']:.1%}), truth {truth:.2f}")
        assert (e.method, e.estimand, e.outcome, e.baseline_value) == ("cuped", "ate", "click_per_user", "random")
        assert width < plain and d["width_ratio"] == pytest.approx(width / plain)
        assert d["variance_reduction"] > 0 and d["theta"] > 0  # more clicks before, more clicks during
        assert e.ci_low <= truth <= e.ci_high, (value, e.ci_low, e.ci_high, truth)
        assert d["plain_low"] <= truth <= d["plain_high"]
        assert (d["partition"], d["pre_period"], d["covariate"]) == (DAY2, DAY1, "pre_click")
        assert e.n_rows == d["n_t"] + d["n_c"]
    assert sum(e.n_rows for e in rows.values()) == 610 + 2 * d["n_c"]  # each user once, the baseline's in every row
    assert any("interval width vs plain" in n for n in found.notes), found.notes


@pytest.mark.slow
def test_the_duckdb_totals_are_the_pandas_ones_of_bench_cuped(two_days):
    found = user_outcomes(two_days["period"], two_days["log"], DAY2, "strategy", ["click"])
    assert found.reason is None and (found.pre_rows, found.pre_first, found.pre_last) == (IMPRESSIONS, DAY1, DAY1)
    users = pd.Index(sorted(two_days["day2"].user_id.unique()), name="user_id")
    expected = per_user_outcomes(two_days["day2"], "click", "strategy", users=users)
    expected["pre_click"] = pre_period_covariate(two_days["pre"], users, "click", per="user")
    pd.testing.assert_frame_equal(found.frame[expected.columns], expected, check_dtype=False)
    assert found.frame.pre_click.sum() == two_days["pre"].click.sum()  # every user of day 1 is a user of day 2


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> dict:
    """Two days under the logging policy: every user is served several strategies on each day."""
    log = simulate(SimulatorConfig(users=30, impressions=1500, seed=3, days=2)).log
    folder = tmp_path_factory.mktemp("logged")
    log.to_parquet(folder / "log.parquet", index=False)
    for day in (DAY1, DAY2):
        log[log.partition == day].to_parquet(folder / f"{day}.parquet", index=False)
    return {"log": str(folder / "log.parquet"), **{day: str(folder / f"{day}.parquet") for day in (DAY1, DAY2)}}


def test_a_partition_where_users_saw_several_values_is_skipped_with_the_reason(logged):
    found = cuped_rows(logged[DAY2], logged["log"], DAY2, PAIR, ())
    assert found.estimates == ()
    (note,) = found.notes
    assert note.startswith("cuped: skipped strategy: 30 of 30 users of partition 2024-03-02 saw several values")
    assert "CUPED needs each user assigned one value in the partition" in note


def test_the_first_partition_has_no_pre_period_and_is_skipped(logged):
    found = cuped_rows(logged[DAY1], logged[DAY1], DAY1, PAIR, ())
    assert found.estimates == ()
    assert found.notes != () and "several values" in found.notes[0]  # the design check comes first
    one_arm = pd.read_parquet(logged[DAY1]).assign(strategy="random")
    path = str(Path(logged[DAY1]).with_name("one-arm.parquet"))
    one_arm.to_parquet(path, index=False)
    found = cuped_rows(path, path, DAY1, PAIR, ())
    assert found.notes == (
        "cuped: skipped strategy: the log holds no date before partition 2024-03-01, so there is no pre-period "
        "covariate",
    )


def test_a_run_over_the_whole_log_or_an_undated_log_gives_no_rows(logged, tmp_path):
    whole = cuped_rows(logged["log"], logged["log"], None, PAIR, ())
    assert whole.estimates == () and "the run analyses the whole log" in whole.notes[0]
    undated = pd.read_parquet(logged[DAY2]).drop(columns="partition").assign(strategy="random")
    undated["ts"] = undated.ts.astype("int64") // 10**9  # epoch seconds: no date without guessing the unit
    undated.to_parquet(tmp_path / "epoch.parquet", index=False)
    found = user_outcomes(str(tmp_path / "epoch.parquet"), str(tmp_path / "epoch.parquet"), DAY2, "strategy", ["click"])
    assert found.frame is None and "no 'partition' column and its 'ts' is not a timestamp" in found.reason
