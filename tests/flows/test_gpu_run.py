"""`recdo run --accelerator gpu`: the whole flow with its scorer trained on a GPU in bf16 (skipped without one)."""

from __future__ import annotations

import duckdb
import pytest
import torch

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bench/README: run on a lent H200)"),
]


def test_recdo_run_trains_its_scorer_on_the_gpu_in_bf16(tmp_path, capsys):
    from causal.sim.simulator import SimulatorConfig, simulate, write
    from recdo.cli import main

    write(simulate(SimulatorConfig(users=300, impressions=20000, seed=0)), tmp_path / "sim")
    db = tmp_path / "gpu.duckdb"
    argv = ["run", "--data", str(tmp_path / "sim"), "--db", str(db), "--work-dir", str(tmp_path / "work")]
    argv += ["--backbone", "tiny-bert", "--user-history", "none", "--treatment", "strategy", "--outcome", "click"]
    assert main([*argv, "--accelerator", "gpu", "--devices", "1", "--bootstrap", "50", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| scorer tiny-bert (finetune): auc_train=" in out

    with duckdb.connect(str(db), read_only=True) as con:
        metrics = dict(con.execute("SELECT split || ':' || metric, value FROM scorer_metrics").fetchall())
        rows_in, processed = con.execute("SELECT rows_in, rows_processed FROM runs").fetchone()
        ates = con.execute(
            "SELECT estimate, ci_low, ci_high FROM interventions WHERE method = 'bn_do' AND estimand = 'ate'"
        ).fetchall()
    assert metrics["all:bf16"] == 1.0 and metrics["all:devices"] == 1.0  # bf16 is chosen only on a GPU
    assert metrics["val:auc"] > 0.65  # it learned: the CPU run of the same settings reaches about 0.75
    assert metrics["all:samples_per_s"] > 0
    assert rows_in == processed == 20000
    assert len(ates) == 3 and all(low <= est <= high for est, low, high in ates)
