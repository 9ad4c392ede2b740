"""Bad logs end to end (issue 16): exit code, the one line the user sees, and rows in = processed + quarantined.

Each case is a real `recdo run` on a small simulated log under the session's Prefect server. A case either
completes (exit 0) with honest rows, or stops with one line naming the problem and the fix, before training.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import flows.pipeline  # noqa: F401  Prefect configures its logging on import: to the real stderr, not a test's capture
from recdo.cli import main
from tests.helpers import query

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]
LIGHT = ["--backbone", "tiny-bert", "--bootstrap", "10", "--epochs", "1", "--batch-size", "256"]
LIGHT += ["--no-off-policy", "--no-progress"]
LIGHT += ["--treatment", "strategy", "--outcome", "click", "--baseline", "strategy=random", "--retry-delay", "0"]


@pytest.fixture(scope="module")
def sim_log() -> pd.DataFrame:
    """800 simulated impressions of one day: four strategies, clicks at a few percent."""
    from causal.sim.simulator import SimulatorConfig, simulate

    return simulate(SimulatorConfig(users=150, impressions=800, seed=3, days=1)).log


def _run(tmp_path: Path, log: pd.DataFrame | Path, *flags: str, capsys=None) -> tuple[int, str, Path]:
    """`recdo run` in this process on `log`; returns the exit code, stdout+stderr and the database."""
    data = log if isinstance(log, Path) else tmp_path / "log.parquet"
    tmp_path.mkdir(parents=True, exist_ok=True)
    if not isinstance(log, Path):
        log.to_parquet(data, index=False)
    db = tmp_path / "r.duckdb"
    code = main(["run", "--data", str(data), "--db", str(db), "--work-dir", str(tmp_path / "work"), *LIGHT, *flags])
    out = capsys.readouterr() if capsys else None
    return code, (out.out + out.err) if out else "", db


def _accounted(db: Path) -> pd.Series:
    """The run's row: rows in = processed + quarantined, and the quarantine table holds exactly the quarantined."""
    run = query(db, "SELECT * FROM runs").iloc[0]
    quarantined = int(query(db, "SELECT count(*) n FROM quarantine").n[0])
    assert run.rows_in == run.rows_processed + run.rows_quarantined
    assert quarantined == run.rows_quarantined
    return run


def _last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


def test_a_stray_arm_is_reported_not_fatal_and_markup_like_values_print_as_they_are(tmp_path, sim_log, capsys):
    log = pd.concat([sim_log, sim_log.iloc[[0]].assign(event_id="stray", strategy="lonely")], ignore_index=True)
    log["strategy"] = log.strategy.replace({"content": "content[/b]", "popular": "[red]popular"})
    code, out, db = _run(tmp_path, log, capsys=capsys)
    assert code == 0, out
    run = _accounted(db)
    assert run.status == "completed" and run.rows_in == len(log)
    rows = query(db, "SELECT * FROM interventions WHERE method IN ('bn_do', 'naive', 'ab_diff')")
    lonely = rows[rows.treatment_value == "lonely"]
    assert len(lonely) and lonely.estimate.isna().all() and lonely.explanation.str.contains("lonely").all()
    others = rows[(rows.treatment_value != "lonely") & (rows.estimand == "interventional_mean")]
    assert others.estimate.notna().all()
    assert "lonely" in out
    assert "content[/b]" in out and "[red]popular" in out  # printed as they are, no markup error
    assert main(["effects", "--db", str(db)]) == 0
    assert "content[/b]" in capsys.readouterr().out


def test_an_outcome_without_positives_gives_no_number(tmp_path, sim_log, capsys):
    code, out, db = _run(tmp_path, sim_log.assign(click=0), capsys=capsys)
    assert code == 0, out
    _accounted(db)
    rows = query(db, "SELECT * FROM interventions WHERE method IN ('bn_do', 'naive', 'ab_diff') AND estimand = 'ate'")
    assert len(rows) and rows.estimate.isna().all() and rows.ci_low.isna().all()
    assert rows.explanation.notna().all()
    assert "the interval excludes 0" not in out  # no verdict drawn from the prior
    assert "auc_val=— (undefined" in out


def test_a_single_valued_treatment_stops_before_training(tmp_path, sim_log, capsys):
    code, out, db = _run(tmp_path, sim_log.assign(strategy="random"), capsys=capsys)
    assert code == 2
    assert _last_line(out).startswith("recdo: treatment 'strategy' takes only the value(s) ['random' (800 rows)]")
    run = _accounted(db)
    assert run.status == "failed" and "nothing to compare" in run.message
    assert int(query(db, "SELECT count(*) n FROM scores").n[0]) == 0  # stopped before the scorer


def test_an_absent_baseline_stops_before_training(tmp_path, sim_log, capsys):
    code, out, db = _run(tmp_path, sim_log, "--baseline", "strategy=nosuch", capsys=capsys)
    assert code == 2
    line = _last_line(out)
    assert "baseline 'nosuch' is not a value of 'strategy'" in line and "--baseline strategy=VALUE" in line
    assert int(query(db, "SELECT count(*) n FROM scores").n[0]) == 0


def test_states_named_none_and_na_are_states_in_a_csv(tmp_path, sim_log, capsys):
    log = sim_log.assign(strategy=sim_log.strategy.replace({"content": "None", "popular": "NA"}))
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    code, out, db = _run(tmp_path, path, capsys=capsys)
    assert code == 0, out
    run = _accounted(db)
    assert run.rows_quarantined == 0
    values = set(query(db, "SELECT DISTINCT treatment_value v FROM interventions").v)
    assert {"None", "NA", "random", "collaborative"} <= values


def test_a_killed_run_is_marked_interrupted_by_the_next(tmp_path, sim_log):
    """SIGKILL mid-run: the runs row says interrupted after the next run; no process is left behind."""
    data = tmp_path / "log.parquet"
    sim_log.to_parquet(data, index=False)
    db, work = tmp_path / "r.duckdb", tmp_path / "work"
    argv = ["run", "--data", str(data), "--db", str(db), "--work-dir", str(work), *LIGHT]
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # the CLI's own temporary server
    child = subprocess.Popen([sys.executable, "-m", "recdo.cli", *argv], env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in child.stderr:  # killed once the run is recorded and the scorer trains
            if "store validation" in line and "Completed" in line:
                break
        child.kill()
    finally:
        child.wait()
    code = main([*argv, "--epochs", "2"])  # another run (other parameters) on the same database
    assert code == 0
    status = dict(query(db, "SELECT run_id, status FROM runs").itertuples(index=False))
    assert sorted(status.values()) == ["completed", "interrupted"], status
    # The work dir's API supervisor stops once its last client is gone; on a loaded machine that takes a moment
    for _ in range(60):
        survivors = subprocess.run(
            ["pgrep", "-f", f"flows.server.*{work.resolve()}"], capture_output=True, text=True
        ).stdout
        if not survivors.strip():
            break
        time.sleep(0.5)
    assert not survivors.strip()


def test_nulls_in_a_feature_stop_the_gate_with_the_flag_that_keeps_them(tmp_path, sim_log, capsys):
    """30 nulls in user_activity: quarantined by name (no silent 'missing' stratum); --missing-as-state keeps them."""
    log = sim_log.copy()
    log.loc[log.index[:30], "user_activity"] = None
    code, out, db = _run(tmp_path, log, capsys=capsys)
    assert code == 2
    line = _last_line(out)
    assert "user_activity not null: 30" in line and "--missing-as-state user_activity" in line, line
    run = _accounted(db)
    assert (run.status, run.rows_quarantined) == ("failed", 30)
    assert set(query(db, "SELECT DISTINCT rule FROM quarantine").rule) == {"user_activity not null"}

    code, out, db = _run(tmp_path / "kept", log, "--missing-as-state", "user_activity", capsys=capsys)
    assert code == 0, out
    run = _accounted(db)
    assert run.rows_quarantined == 0
    means = query(db, "SELECT * FROM interventions WHERE method = 'bn_do' AND estimand = 'interventional_mean'")
    assert means.estimate.notna().all()


def test_control_characters_and_future_timestamps_are_quarantined_by_rule(tmp_path, sim_log, capsys):
    log = sim_log.copy()
    log.loc[log.index[:2], "strategy"] = "random\x00"  # would be a phantom arm
    log.loc[log.index[2:5], "ts"] = pd.Timestamp("2106-01-01", tz="UTC")  # 80 years ahead
    code, out, db = _run(tmp_path, log, "--max-rejected-share", "0.05", capsys=capsys)
    assert code == 0, out
    run = _accounted(db)
    assert run.rows_quarantined == 5
    rules = query(db, "SELECT rule, count(*) n FROM quarantine GROUP BY rule")
    assert dict(zip(rules.rule, rules.n)) == {"strategy has no control characters": 2, "ts not in the future": 3}
    arms = set(query(db, "SELECT DISTINCT treatment_value v FROM interventions").v)
    assert arms == {"collaborative", "content", "popular", "random"}  # no phantom "random\x00"


def test_a_semicolon_csv_with_epoch_milliseconds_is_read_and_a_repeated_header_refused(tmp_path, sim_log, capsys):
    path = tmp_path / "semi.csv"
    epoch_ms = sim_log.ts.astype("datetime64[ms, UTC]").astype("int64")
    sim_log.assign(ts=epoch_ms).drop(columns=["partition"]).to_csv(path, index=False, sep=";")
    code, out, db = _run(tmp_path, path, capsys=capsys)
    assert code == 0, out
    assert _accounted(db).rows_processed == len(sim_log)  # every row: no ts rejected, no column run together

    twice = tmp_path / "twice" / "log.csv"
    twice.parent.mkdir()
    sim_log.rename(columns={"returned": "click"}).to_csv(twice, index=False)
    code, out, db = _run(twice.parent, twice, capsys=capsys)
    assert code == 2
    line = _last_line(out)
    assert "'click' twice" in line and "Traceback" not in out, line


def test_ctrl_c_of_a_backfill_is_one_line_and_exit_130(tmp_path, week_log):
    """SIGINT once the first partition has finished: no traceback, exit 130, the line says how to finish."""
    import signal

    argv = ["backfill", "--data", str(week_log), "--start", "2024-03-01", "--end", "2024-03-07"]
    argv += ["--db", str(tmp_path / "r.duckdb"), "--work-dir", str(tmp_path / "work"), "--concurrency", "1", *LIGHT]
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}  # the session's server: no start-up to wait for
    child = subprocess.Popen([sys.executable, "-m", "recdo.cli", *argv], env=env, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in child.stderr:
            seen.append(line)
            if "partition run" in line and "Finished in state Completed" in line:
                child.send_signal(signal.SIGINT)
                break
        seen.extend(child.stderr)
    finally:
        code = child.wait(timeout=120)
    err = "".join(seen)
    assert code == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert _last_line(err).startswith("recdo: interrupted (Ctrl-C). Run the same command again to finish it")
