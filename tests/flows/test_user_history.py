"""The users' text history: found beside a simulated log, part of the run id, and a pre-treatment node of a real run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from common.errors import InputError
from flows.params import USER_HISTORY_FILE, PipelineParams
from flows.preflight import check_params
from recdo.cli import build_parser
from recdo.cli.args import params_from_args
from tasks.text import TEXT_SUMMARY
from tests.helpers import query

HISTORY = pd.DataFrame(
    {
        "user_id": ["1", "1", "2"],
        "ts": pd.to_datetime(["2015-01-01", "2015-02-01", "2016-01-01"], utc=True),
        "text": ["Heat (1995) | Action", "Up (2009) | Comedy", "Alien (1979) | Horror"],
    }
)


@pytest.fixture()
def folder(tmp_path) -> Path:
    """A `recdo simulate`-like folder: a log and the history beside it."""
    (tmp_path / "sim").mkdir()
    log = {"user_id": ["1"], "ts": [pd.Timestamp("2024-03-01", tz="UTC")], "strategy": ["random"], "click": [0]}
    pd.DataFrame(log).to_parquet(tmp_path / "sim" / "log.parquet")
    HISTORY.to_parquet(tmp_path / "sim" / USER_HISTORY_FILE, index=False)
    return tmp_path / "sim"


def test_the_history_beside_the_log_is_the_default(folder):
    assert PipelineParams(data=str(folder)).resolved_user_history() == str(folder / USER_HISTORY_FILE)
    assert PipelineParams(data=str(folder / "log.parquet")).resolved_user_history() is None  # a file holds none
    given = PipelineParams(data=str(folder / "log.parquet"), user_history="elsewhere.csv")
    assert given.resolved_user_history() == "elsewhere.csv"
    off = PipelineParams(data=str(folder), user_history="none")  # the bundled file stays unread
    assert off.resolved_user_history() is None and check_params(off, open_db=False).user_history is None
    assert off.run_id_for("h") == PipelineParams(data="another/path").run_id_for("h")
    configs = check_params(PipelineParams(data=str(folder)), open_db=False)
    assert configs.user_history == str(folder / USER_HISTORY_FILE)
    flagged = params_from_args(build_parser().parse_args(["run", "--data", str(folder), "--user-history", "h.csv"]))
    assert flagged.user_history == "h.csv"


def test_the_run_id_follows_the_history_content_not_its_path(folder, tmp_path):
    bundled = PipelineParams(data=str(folder)).run_id_for("data-hash")
    copy = tmp_path / "copy.parquet"
    copy.write_bytes((folder / USER_HISTORY_FILE).read_bytes())
    assert PipelineParams(data=str(folder), user_history=str(copy)).run_id_for("data-hash") == bundled
    HISTORY.head(2).to_parquet(copy, index=False)  # one user's history less: other states, another run
    assert PipelineParams(data=str(folder), user_history=str(copy)).run_id_for("data-hash") != bundled
    (folder / USER_HISTORY_FILE).unlink()
    without = PipelineParams(data=str(folder)).run_id_for("data-hash")
    assert without != bundled
    assert without == PipelineParams(data="another/path").run_id_for("data-hash")  # no history: no key at all


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing.parquet", r"--user-history '.*missing.parquet' is no file"), ("h.txt", r"must be a \.csv or \.parquet")],
)
def test_a_history_that_cannot_be_read_stops_the_run_before_work(tmp_path, name, message):
    if name.endswith(".txt"):
        (tmp_path / name).write_text("user_id,ts,text\n")
    with pytest.raises(InputError, match=message):
        check_params(PipelineParams(data=str(tmp_path), user_history=str(tmp_path / name)), open_db=False)


def test_a_run_on_a_simulated_folder_makes_user_text_a_pre_treatment_node(prefect_server, tmp_path):
    from recdo.cli import main

    sim = tmp_path / "sim"
    assert main(["simulate", "--users", "6", "--impressions", "1500", "--seed", "3", "--out", str(sim)]) == 0
    history = pd.read_parquet(sim / USER_HISTORY_FILE)
    log = pd.read_parquet(sim / "log.parquet")
    assert set(history.user_id) == set(log.user_id)  # the sampled users, all of them
    assert history.ts.max() < log.ts.min()  # MovieLens ratings end in 2018; the log starts 2024-03-01

    db, work = tmp_path / "r.duckdb", tmp_path / "work"
    argv = ["run", "--data", str(sim), "--db", str(db), "--work-dir", str(work), "--backbone", "tiny-bert"]
    argv += ["--treatment", "strategy", "--outcome", "click", "--bootstrap", "20", "--retry-delay", "0"]
    assert main([*argv, "--no-progress"]) == 0
    run_id = query(db, "SELECT run_id FROM runs").run_id[0]
    said = json.loads((work / "runs" / run_id / TEXT_SUMMARY).read_text())["line"]  # the line the run logged
    assert f"user_text: 6 of 6 users have a text state from {len(history)} history rows" in said
    assert f"{history.text.nunique()} encoded, 0 cached" in said
    scored = pd.read_parquet(work / "runs" / run_id / "scored.parquet")
    assert scored.user_text.str.fullmatch(r"t\d").all()  # every user had pre-log history
    edges = query(db, "SELECT source_node, target_node FROM bn_edges")
    nodes = set(edges.source_node) | set(edges.target_node)
    assert "user_text" in nodes  # seeded: here it is a node (user_taste -> user_text), so the check below bites
    into_text = set(edges[edges.target_node == "user_text"].source_node)
    # user_text is a parent or isolated: only another pre-treatment user_* column may point into it
    assert all(parent.startswith("user_") for parent in into_text), into_text
    assert not {"strategy", "click"} & into_text
    assert "strategy" in nodes and "click" in nodes  # a real network was stored, not an empty table

    # the same run again (refresh): every history vector comes from WORK_DIR/embeddings
    assert main([*argv, "--no-progress", "--refresh"]) == 0
    said = json.loads((work / "runs" / run_id / TEXT_SUMMARY).read_text())["line"]
    assert f"0 encoded, {history.text.nunique()} cached" in said
