"""End-to-end flow runs under a real (temporary) Prefect server on small slices of the real OBD log."""

from __future__ import annotations

import json
import re

import duckdb
import numpy as np
import pandas as pd
import pytest

import expectations
from flows.params import PipelineParams
from flows.pipeline import pipeline
from tests.conftest import OBD

FAST = dict(n_bootstrap=30, backbone="tiny-bert", max_epochs=1, batch_size=128, progress=False, io_retry_delay_s=0.0)


def _params(tmp_path, data, **overrides) -> PipelineParams:
    settings = {"db": str(tmp_path / "r.duckdb"), "work_dir": str(tmp_path / "work"), **FAST, **overrides}
    return PipelineParams(data=str(data), source="table", **settings)


def _query(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def _break_rows(log: pd.DataFrame, share: float, seed: int = 0) -> tuple[pd.DataFrame, int]:
    """Break `share` of the rows, one rule each, in the ways the issue lists."""
    rng = np.random.default_rng(seed)
    bad = log.copy()
    bad["click"] = bad["click"].astype("float64")
    bad["position"] = bad["position"].astype("float64")
    idx = rng.choice(np.arange(1, len(bad)), size=int(round(share * len(bad))), replace=False)
    for k, i in enumerate(idx):
        kind = k % 5
        if kind == 0:
            bad.loc[i, "user_id"] = None
        elif kind == 1:
            bad.loc[i, "click"] = 2
        elif kind == 2:
            bad.loc[i, "position"] = -1
        elif kind == 3:
            bad.loc[i, "propensity"] = 0.0
        else:
            bad.loc[i, "event_id"] = bad.loc[0, "event_id"]  # a duplicate of the first row's id
    return bad, len(idx)


INTERVENTION_COLUMNS = [
    "run_id",
    "source",
    "partition",
    "treatment",
    "treatment_value",
    "baseline_value",
    "outcome",
    "estimand",
    "method",
    "estimate",
    "ci_low",
    "ci_high",
    "n_rows",
    "adjustment_set",
    "created_at",
    "diagnostics",
    "explanation",
    "segment",
]


def test_pipeline_stores_estimates_and_rerun_replaces(prefect_server, tmp_path, obd_slice, capsys):
    obd_slice.to_parquet(tmp_path / "log.parquet", index=False)
    params = _params(tmp_path, tmp_path / "log.parquet", ope_prior=str(OBD / "bts_prior.yaml"), ope_refits=3)
    summary = pipeline(params)
    db = tmp_path / "r.duckdb"

    rows = _query(db, "SELECT * FROM interventions")
    got = {(r.method, r.estimand, r.treatment_value) for r in rows.itertuples()}
    for method in ("bn_do", "naive", "ab_diff"):
        assert {
            (method, "interventional_mean", "random"),
            (method, "interventional_mean", "bts"),
            (method, "ate", "bts"),
        } <= got

    # ab_diff is the plain difference in click rates, computed here from the frame itself.
    ctr = obd_slice.groupby("policy")["click"].mean()
    ab = rows[(rows.method == "ab_diff") & (rows.estimand == "ate")].iloc[0]
    assert ab.estimate == pytest.approx(ctr["bts"] - ctr["random"], abs=1e-12)
    assert ab.ci_low < ab.estimate < ab.ci_high
    bn = rows[(rows.method == "bn_do") & (rows.estimand == "ate")].iloc[0]
    assert ab.ci_low <= bn.estimate <= ab.ci_high  # the network agrees with the randomised comparison
    assert json.loads(rows[rows.method == "bn_do"].iloc[0].adjustment_set) == list(summary.adjustment_set)

    # Off-policy: the BTS policy's click rate from the random rows, every estimator stored with diagnostics.
    ope = rows[rows.method.isin(["ipw", "snipw", "dm", "dr", "sndr", "switch_dr", "dr_os", "bn_policy"])]
    assert sorted(ope.method) == sorted(["ipw", "snipw", "dm", "dr", "sndr", "switch_dr", "dr_os", "bn_policy"])
    assert (
        (ope.treatment_value == "bts").all()
        and (ope.ci_low <= ope.estimate).all()
        and (ope.estimate <= ope.ci_high).all()
    )
    ipw = json.loads(ope[ope.method == "ipw"].diagnostics.iloc[0])
    assert ipw["support_ok"] is True and ipw["logged_policy"] == "random" and 0 < ipw["ess"] <= 2500
    assert ipw["on_policy_value"] == pytest.approx(ctr["bts"])
    verdict = json.loads(ab.diagnostics)["verdict"]
    assert verdict.startswith("cannot tell the arms apart")

    runs = _query(db, "SELECT * FROM runs")
    assert runs.status.tolist() == ["completed"] and runs.data_hash.iloc[0]
    assert _query(db, "SELECT count(*) n FROM scores").n[0] == len(obd_slice)
    assert _query(db, "SELECT count(*) n FROM bn_edges WHERE source_node='policy' AND target_node='click'").n[0] == 1

    # `recdo effects --json` prints the same rows, keyed by the interventions columns of DESIGN.md.
    from recdo.cli import main

    capsys.readouterr()
    assert main(["effects", "--db", str(db), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed) == len(rows) and all(list(r) == INTERVENTION_COLUMNS for r in printed)
    bn_ate = next(r for r in printed if r["method"] == "bn_do" and r["estimand"] == "ate")
    assert bn_ate["estimate"] == pytest.approx(
        rows.query("method == 'bn_do' and estimand == 'ate'").estimate.iloc[0], rel=1e-12
    )

    # The same parameters again: same run id, same rows, no duplicates.
    again = pipeline(params)
    assert again.run_id == summary.run_id
    rerun = _query(db, "SELECT * FROM interventions")
    assert len(rerun) == len(rows)
    cols = ["method", "estimand", "treatment_value", "estimate", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(
        rerun[cols].sort_values(cols[:3]).reset_index(drop=True),
        rows[cols].sort_values(cols[:3]).reset_index(drop=True),
    )
    assert _query(db, "SELECT count(*) n FROM scores").n[0] == len(obd_slice)


def test_broken_rows_are_quarantined_and_the_threshold_is_enforced(prefect_server, tmp_path, obd_slice):
    broken, n_broken = _break_rows(obd_slice, 0.03)
    broken.to_parquet(tmp_path / "broken.parquet", index=False)

    summary = pipeline(_params(tmp_path, tmp_path / "broken.parquet", max_rejected_share=0.05))
    db = tmp_path / "r.duckdb"
    assert summary.n_quarantined == n_broken
    assert summary.n_in == summary.n_clean + summary.n_quarantined == len(obd_slice)
    quarantine = _query(db, "SELECT rule, row_json FROM quarantine")
    assert len(quarantine) == n_broken
    rules = " ".join(quarantine.rule)
    for rule in ("user_id not null", "click in {0,1}", "position >= 0", "propensity in (0,1]", "event_id unique"):
        assert rule in rules
    assert _query(db, "SELECT count(*) n FROM scores").n[0] == summary.n_clean

    with pytest.raises(expectations.GateFailed, match=r"click in \{0,1\}: \d+"):
        pipeline(_params(tmp_path, tmp_path / "broken.parquet", db=str(tmp_path / "strict.duckdb")))
    strict = tmp_path / "strict.duckdb"
    assert _query(strict, "SELECT count(*) n FROM quarantine").n[0] == n_broken  # stored before failing
    assert _query(strict, "SELECT status FROM runs").status.tolist() == ["failed"]
    assert _query(strict, "SELECT count(*) n FROM scores").n[0] == 0


def test_missing_required_column_fails_before_training(prefect_server, tmp_path, obd_slice):
    obd_slice.drop(columns=["user_id"]).to_parquet(tmp_path / "nouser.parquet", index=False)
    with pytest.raises(expectations.DatasetError, match="user_id"):
        pipeline(_params(tmp_path, tmp_path / "nouser.parquet"))
    db = tmp_path / "r.duckdb"
    assert _query(db, "SELECT count(*) n FROM scores").n[0] == 0
    assert "user_id" in _query(db, "SELECT message FROM runs").message[0]


def test_a_simulation_folder_runs_every_treatment_against_every_outcome(prefect_server, tmp_path, capsys):
    from causal.sim.simulator import SimulatorConfig, simulate, write
    from recdo.cli import main

    write(simulate(SimulatorConfig(users=120, impressions=4000, seed=1)), tmp_path / "sim")
    db = tmp_path / "sim.duckdb"
    argv = ["run", "--data", str(tmp_path / "sim"), "--db", str(db), "--work-dir", str(tmp_path / "work")]
    assert main(argv + ["--bootstrap", "20", "--retry-delay", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    # the default backbone is the pretrained MiniLM on frozen embeddings, and the run says so beside its AUC
    assert "| scorer minilm (frozen): auc_train=" in out
    for treatment, outcome in (
        ("strategy", "click"),
        ("strategy", "returned"),
        ("reason_shown", "click"),
        ("reason_shown", "returned"),
    ):
        assert f"what {treatment} does to {outcome}" in out

    rows = _query(db, "SELECT * FROM interventions WHERE method = 'bn_do'")
    pairs = set(zip(rows.treatment, rows.outcome))
    assert pairs == {
        ("strategy", "click"),
        ("strategy", "returned"),
        ("reason_shown", "click"),
        ("reason_shown", "returned"),
    }
    ates = rows[rows.estimand == "ate"]
    assert set(ates[ates.treatment == "strategy"].baseline_value) == {"random"}
    assert set(ates[ates.treatment == "reason_shown"].baseline_value) == {"0"}
    assert (
        ates.diagnostics.map(lambda d: set(json.loads(d)["refutations"]))
        == {"placebo", "random_common_cause", "random_halves"}
    ).all()
    assert set(rows[rows.estimand == "cate"].segment) >= {"user_activity=low", "user_activity=high"}
    edges = _query(db, "SELECT DISTINCT treatment, outcome FROM bn_edges")
    assert len(edges) == 4

    assert main(["effects", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert "refutations 3/3" in table or "refutations 2/3" in table
    assert "user_activity" in table  # the adjustment set is shown

    # --truth puts the simulator's exact answer beside each estimate, marked where the interval covers it
    assert main(["effects", "--db", str(db), "--truth", str(tmp_path / "sim")]) == 0
    beside = capsys.readouterr().out
    truth = json.loads((tmp_path / "sim" / "truth.json").read_text())
    ate = next(r for r in truth if (r["treatment"], r["outcome"], r["estimand"]) == ("strategy", "click", "ate"))
    assert re.search(rf"{ate['value']:.5f} [✓✗]", beside)  # "0.01234 ✓" in the truth column
    assert len(re.findall(r"-?\d\.\d{5} [✓✗]", beside)) >= 8


def test_campaign_reaches_off_policy_evaluation(prefect_server, tmp_path, capsys):
    """`recdo run --campaign men` evaluates the men campaign's Bernoulli-TS policy, not campaign "all"."""
    import shutil

    from recdo.cli import main

    data = tmp_path / "obd"
    for policy in ("random", "bts"):
        rows = pd.read_csv(OBD / policy / "all" / "all.csv", index_col=0)
        rows = rows[rows.item_id < 34].head(3000)  # the men campaign's prior holds 34 items; 3,000 rows: 5+ clicks
        (data / policy / "men").mkdir(parents=True)
        rows.to_csv(data / policy / "men" / "men.csv")
        items = pd.read_csv(OBD / policy / "all" / "item_context.csv", index_col=0)
        items[items.item_id < 34].to_csv(data / policy / "men" / "item_context.csv")
    shutil.copy(OBD / "bts_prior.yaml", data / "bts_prior.yaml")
    db = tmp_path / "men.duckdb"
    argv = ["run", "--data", str(data), "--campaign", "men", "--db", str(db), "--work-dir", str(tmp_path / "work")]
    argv += ["--backbone", "tiny-bert"]
    assert main(argv + ["--bootstrap", "20", "--ope-refits", "2", "--retry-delay", "0", "--no-progress"]) == 0
    capsys.readouterr()

    off_policy = _query(db, "SELECT method, diagnostics FROM interventions WHERE method IN ('ipw', 'dr', 'bn_policy')")
    assert len(off_policy) == 3
    assert {json.loads(d)["target_policy"] for d in off_policy.diagnostics} == {"bernoulli_ts_prior:men"}
