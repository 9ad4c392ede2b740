"""on_new_data's parameters and the watcher's flags, without a server: what an arrival's run is asked to estimate."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import InputError
from flows.arrival import arrival_params, on_new_data
from recdo.cli import build_parser, main
from recdo.watch import run_settings


def _deployment(params: dict) -> object:
    """The deployment's params as the worker builds them: from the stored JSON, through Prefect's validation."""
    return on_new_data.validate_parameters({"file": "x.parquet", "params": params})["params"]


def test_a_deployment_at_its_defaults_runs_a_simulated_day_with_derived_settings(sim_day, capsys):
    params = _deployment({"n_bootstrap": 10, "db": "recdo.duckdb"})
    assert params.treatments == ["policy"]  # PipelineParams' default: the old deployment failed every strategy log
    run = arrival_params(params, str(sim_day), "2024-03-01")
    assert (run.treatments, run.outcomes) == (["strategy", "reason_shown"], ["click", "returned"])
    assert run.baselines == {"strategy": "random", "reason_shown": "0"}
    assert (run.data, run.source, run.partition, run.n_bootstrap) == (str(sim_day), "table", "2024-03-01", 10)
    line = capsys.readouterr().out
    assert "treatments ['strategy', 'reason_shown'] (derived)" in line
    assert f"results go to {Path('recdo.duckdb').resolve()}" in line  # relative: said where it lands


def test_a_pooling_arrival_in_a_hive_folder_reads_its_dataset_root(sim_day, tmp_path):
    day = tmp_path / "logs" / "date=2024-03-01"
    day.mkdir(parents=True)
    arrived = day / "part-0.parquet"
    arrived.write_bytes(Path(sim_day).read_bytes())
    params = _deployment({"n_bootstrap": 10})
    run = arrival_params(params, str(arrived), "2024-03-01", pool_since="2024-02-25")
    assert (run.data, run.partition, run.pool_since) == (str(tmp_path / "logs"), "2024-03-01", "2024-02-25")
    alone = arrival_params(params, str(arrived), "2024-03-01")  # not pooling: the file that arrived, as before
    assert (alone.data, alone.pool_since) == (str(arrived), None)
    flat = tmp_path / "incoming"  # a watched folder of daily drops: the folder holds the earlier days
    flat.mkdir()
    dropped = flat / "2024-03-01.parquet"
    dropped.write_bytes(Path(sim_day).read_bytes())
    assert arrival_params(params, str(dropped), "2024-03-01", pool_since="2024-02-25").data == str(flat)


def test_the_event_wins_over_the_deployment_which_wins_over_the_columns(sim_day, tmp_path):
    named = _deployment({"treatments": ["reason_shown"], "baselines": {"reason_shown": "1"}, "db": "deployment.duckdb"})
    run = arrival_params(named, str(sim_day), "2024-03-01")
    assert (run.treatments, run.outcomes) == (["reason_shown"], ["click", "returned"])  # outcomes: not named, derived
    assert (run.baselines, run.db) == ({"reason_shown": "1"}, "deployment.duckdb")
    db, work = str(tmp_path / "r.duckdb"), str(tmp_path / "w")
    run = arrival_params(named, str(sim_day), None, ["strategy"], ["click"], None, db, work)
    # the deployment's baseline of a treatment this run does not estimate is dropped, not an error
    assert (run.treatments, run.outcomes, run.baselines) == (["strategy"], ["click"], {})
    assert (run.db, run.work_dir, run.partition) == (db, work, None)
    run = arrival_params(named, str(sim_day), None, ["strategy", "reason_shown"], None, {"strategy": "popular"})
    assert run.baselines == {"strategy": "popular"}  # the event's baselines replace the deployment's


def test_a_renamed_column_is_derived_under_its_canonical_name(tmp_path):
    import pandas as pd

    path = tmp_path / "day.csv"
    pd.DataFrame({"ts": ["2024-03-01T00:00:00Z"], "arm": ["a"], "click": [1]}).to_csv(path, index=False)
    run = arrival_params(_deployment({"column_map": {"arm": "policy"}}), str(path), "2024-03-01")
    assert (run.treatments, run.baselines) == (["policy"], {"policy": "random"})
    with pytest.raises(InputError, match=r"neither a 'strategy' nor a 'policy' column \(its columns are \['ts', 'arm'"):
        arrival_params(_deployment({}), str(path), "2024-03-01")


def test_watch_flags_become_the_events_run_fields(tmp_path):
    args = build_parser().parse_args(
        ["watch", str(tmp_path), "--treatment", "strategy", "--outcome", "click", "--baseline", "popular"]
        + ["--db", str(tmp_path / "r.duckdb"), "--work-dir", str(tmp_path / "w")]
    )
    assert run_settings(args).payload(args.db) == {
        "db": str(tmp_path / "r.duckdb"),
        "treatments": ["strategy"],
        "outcomes": ["click"],
        "baselines": {"strategy": "popular"},  # a bare value is the first --treatment's, as in `recdo run`
        "work_dir": str(tmp_path / "w"),
    }
    ingest_args = build_parser().parse_args(["ingest", "f.parquet", "--baseline", "strategy=none"])
    assert run_settings(ingest_args).payload(ingest_args.db) == {
        "db": str(Path("recdo.duckdb").resolve()),
        "baselines": {},
    }


@pytest.mark.parametrize("command", ["watch", "ingest"])
def test_a_bad_run_flag_is_refused_before_any_server_is_needed(command, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main([command, str(tmp_path), "--baseline", "popular"]) == 2
    assert "write it as TREATMENT=VALUE, e.g. --baseline strategy=random" in capsys.readouterr().err
