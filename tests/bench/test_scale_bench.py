"""bench/scale.py: a multi-seed log's pooled truth, per-stage figures from the child, coverage against the truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scale import covered, make_log

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # three `recdo simulate` processes
def test_a_log_above_seed_rows_is_a_folder_of_seeds_with_their_row_weighted_truth(tmp_path: Path) -> None:
    data, pooled, simulate = make_log(3001, 1500, tmp_path, seed=4)
    assert data == tmp_path and simulate["seeds"] == 3 and simulate["peak_rss"] > 0
    seeds = sorted(tmp_path.glob("seed-*/truth.json"))
    assert [p.parent.name for p in seeds] == ["seed-4", "seed-5", "seed-6"]
    truths = [json.loads(p.read_text()) for p in seeds]
    n = [1001, 1000, 1000]  # 3001 rows over three seeds, the first one row longer
    for j, row in enumerate(pooled):
        assert row["value"] == pytest.approx(sum(k * t[j]["value"] for k, t in zip(n, truths)) / 3001, abs=1e-12)
    # the folder holds only Parquet logs and their truths: recdo reads it as one Parquet dataset
    # each seed's folder: its log, and the users' text history `recdo simulate` writes beside it
    assert sorted(p.name for p in tmp_path.rglob("*.parquet")) == ["log.parquet"] * 3 + ["user_history.parquet"] * 3


def test_coverage_matches_each_ate_with_its_truth() -> None:
    truth = [
        {
            "treatment": "strategy",
            "treatment_value": "popular",
            "baseline_value": "random",
            "outcome": "click",
            "estimand": "ate",
            "value": 0.4,
        },
        {
            "treatment": "strategy",
            "treatment_value": "popular",
            "baseline_value": None,
            "outcome": "click",
            "estimand": "interventional_mean",
            "value": 0.6,
        },
    ]
    inside = {
        "treatment": "strategy",
        "treatment_value": "popular",
        "baseline_value": "random",
        "outcome": "click",
        "estimate": 0.41,
        "ci_low": 0.39,
        "ci_high": 0.43,
    }
    outside = {**inside, "ci_low": 0.405}
    assert covered([inside], truth)[0]["covered"] is True
    assert covered([outside], truth)[0] == {
        "ate": "popular - random",
        "estimate": 0.41,
        "ci": [0.405, 0.43],
        "truth": 0.4,
        "covered": False,
    }


@pytest.mark.slow
def test_the_causal_stages_are_measured_in_a_child_process(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    cmd = [sys.executable, str(REPO / "bench" / "scale.py"), "--rows", "4000", "--causal-only", "--bootstrap", "20"]
    done = subprocess.run(cmd + ["--work", str(tmp_path), "--json", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = json.loads(out.read_text())
    assert [s["stage"] for s in result["stages"]] == ["load", "gate", "counts", "network", "bootstrap", "total"]
    assert all(s["seconds"] >= 0 and s["peak_rss"] > 0 for s in result["stages"])
    assert result["peak_rss"] >= max(s["peak_rss"] for s in result["stages"]) * 0.9  # the OS's peak, whole process
    assert result["n_rows"] + result["n_quarantined"] == 4000
    assert len(result["coverage"]) == 3 and all(c["truth"] is not None for c in result["coverage"])
    assert "bn_do ATE covers" in done.stdout
