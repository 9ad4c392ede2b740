"""The command line refuses what it cannot run with one line that says what to pass instead."""

from __future__ import annotations

from recdo.cli import main


def test_run_without_a_log_says_what_to_pass(tmp_path, capsys):
    assert main(["run", "--data", str(tmp_path / "absent.csv"), "--db", str(tmp_path / "r.duckdb")]) == 2
    assert "or --data FILE.csv|.parquet" in capsys.readouterr().err
    assert not (tmp_path / "r.duckdb").exists()


def test_effects_without_a_database_says_how_to_make_one(tmp_path, capsys):
    assert main(["effects", "--db", str(tmp_path / "absent.duckdb")]) == 2
    assert "run `recdo run --db" in capsys.readouterr().err


def test_backfill_without_a_log_says_what_to_pass(tmp_path, capsys):
    argv = ["backfill", "--start", "2024-01-01", "--end", "2024-01-02", "--data", str(tmp_path / "absent.parquet")]
    assert main([*argv, "--db", str(tmp_path / "r.duckdb")]) == 2
    assert "recdo: no log at" in capsys.readouterr().err
    assert not (tmp_path / "r.duckdb").exists()


def test_simulate_finds_its_bundled_movielens_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the repository: the default --data must not depend on the working directory
    assert main(["simulate", "--users", "5", "--impressions", "200", "--seed", "0", "--out", "sim"]) == 0
    assert (tmp_path / "sim" / "log.parquet").is_file() and (tmp_path / "sim" / "truth.json").is_file()
