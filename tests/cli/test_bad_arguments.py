"""Bad arguments (issue 16, item 7): each is one line naming the value, the rule and the fix, before any work starts."""

from __future__ import annotations

import os
import stat

import pytest

from recdo.cli import main

# (extra flags of `recdo run`, what the one line must say). Each is refused before Prefect starts: no server,
# no training, and the database is not even created.
BAD_FLAGS = [
    (["--max-rejected-share", "1.5"], "--max-rejected-share 1.5: Input should be less than 1"),
    (["--bootstrap", "1"], "--bootstrap 1: Input should be greater than or equal to 2"),
    (["--epochs", "0"], "--epochs 0: Input should be greater than or equal to 1"),
    (["--partition", "notadate"], "--partition 'notadate': a partition is a date YYYY-MM-DD"),
    (["--partition", "2024-02-30"], "--partition '2024-02-30': a partition is a date YYYY-MM-DD"),
    (["--run-id", "../../../../tmp/x"], "--run-id '../../../../tmp/x': a run id may hold only letters, digits"),
    (["--run-id", "/tmp/abs"], "--run-id '/tmp/abs': a run id may hold only letters"),
    (["--outcome", "user_id"], "outcomes ['user_id'] are canonical log columns"),
    (["--treatment", "click"], "named as treatment and as outcome"),
    (["--backbone", "no-such-model"], "--backbone 'no-such-model' is neither 'tiny-bert', 'minilm' nor a local"),
    (["--ope-prior", "absent.yaml"], "--ope-prior 'absent.yaml' is no file"),
    (["--baseline", "other=x"], "baselines name ['other'], which are not treatments"),
]


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one line, never a traceback
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(("flags", "said"), BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_a_bad_flag_is_one_line_before_any_work(flags, said, tmp_path, capsys, obd_csv):
    db, work = tmp_path / "r.duckdb", tmp_path / "work"
    code = main(["run", "--data", str(obd_csv), "--db", str(db), "--work-dir", str(work), *flags])
    line = _one_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith("recdo: ") and said in line, line
    assert not db.exists() and not work.exists()  # nothing written: no work started
    assert not os.path.exists("/tmp/x/runs")


@pytest.fixture
def obd_csv(tmp_path):
    """A small canonical CSV log with a policy column (the run never gets to read it)."""
    path = tmp_path / "log.csv"
    rows = ["event_id,ts,user_id,item_id,policy,click"]
    rows += [
        f"e{i},2024-03-01T00:00:{i % 60:02d}Z,u{i % 7},i{i % 5},{'random' if i % 2 else 'bts'},{i % 3 == 0:d}"
        for i in range(40)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_db_that_is_a_directory_says_so(tmp_path, capsys, obd_csv):
    code = main(["run", "--data", str(obd_csv), "--db", str(tmp_path), "--work-dir", str(tmp_path / "w")])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and "is a directory; pass a file path inside it" in line, line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_read_only_db_says_read_only_not_locked(tmp_path, capsys, obd_csv):
    import store

    db = tmp_path / "r.duckdb"
    with store.connect(db):
        pass
    db.chmod(stat.S_IRUSR)
    code = main(["run", "--data", str(obd_csv), "--db", str(db), "--work-dir", str(tmp_path / "w")])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and "is read-only here" in line and "another process" not in line, line


def test_locked_db_names_the_holder(tmp_path, capsys, obd_csv):
    import subprocess
    import sys

    db = tmp_path / "r.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(db)!r}); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main(["run", "--data", str(obd_csv), "--db", str(db), "--work-dir", str(tmp_path / "w")])
    finally:
        holder.kill()
        holder.wait()
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and f"is held by PID {holder.pid}" in line and "wait for it to finish" in line, line


def test_backfill_bad_range_is_one_line(tmp_path, capsys, obd_csv):
    argv = ["backfill", "--data", str(obd_csv), "--db", str(tmp_path / "r.duckdb"), "--start", "2024-03-05"]
    assert main([*argv, "--end", "2024-03-01"]) == 2
    assert "end 2024-03-01 is before start 2024-03-05" in _one_line(capsys.readouterr().err)
    assert main([*argv[:-1], "March", "--end", "2024-03-01"]) == 2
    assert "'March'" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "r.duckdb").exists()


def test_debug_shows_the_traceback(tmp_path, capsys, obd_csv):
    assert main(["--debug", "run", "--data", str(obd_csv), "--db", str(tmp_path / "r.duckdb"), "--bootstrap", "1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().splitlines()[-1].startswith(
        "recdo: --bootstrap 1"
    )


def test_effects_on_failed_runs_only_says_why(tmp_path, capsys):
    import store

    db = tmp_path / "r.duckdb"
    with store.connect(db) as con:
        store.upsert_run(con, "run-a", status="failed", message="GateFailed: 40% of rows quarantined")
    assert main(["effects", "--db", str(db)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "no estimates stored" in line and "run-a failed: GateFailed: 40% of rows quarantined" in line, line
    assert main(["effects", "--db", str(db), "--run-id", "run-b"]) == 2
    assert "no run 'run-b'" in _one_line(capsys.readouterr().err)


def test_report_out_directory_writes_inside_it_or_says_why(tmp_path, capsys):
    import store
    from tests.report.test_report import build_db

    empty = tmp_path / "empty.duckdb"
    with store.connect(empty):
        pass
    assert main(["report", "--db", str(empty), "--out", str(tmp_path)]) == 2  # an empty database: its own line
    assert "IsADirectoryError" not in _one_line(capsys.readouterr().err)

    build_db(tmp_path / "r.duckdb")
    out = tmp_path / "pages"
    out.mkdir()
    assert main(["report", "--db", str(tmp_path / "r.duckdb"), "--out", str(out)]) == 0
    assert (out / "report.html").is_file() and str(out / "report.html") in capsys.readouterr().out
