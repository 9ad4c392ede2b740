"""`recdo decide`: rows, sentences and the allocation file from stored replicates; one real pipeline run."""

from __future__ import annotations

import json

import numpy as np
import pytest

import store
from causal.decide.replicates import ReplicateSet, frame_of
from causal.decide.run import PairReplicates, pair_policy_values
from recdo.cli import main
from tests.helpers import LIGHT, query

ROW_KEYS = {"treatment", "outcome", "segment", "value", "p_best", "expected_loss", "lift", "lift_low", "lift_high"}


def _db(tmp_path) -> str:
    """A database with one run's replicates: b is best overall and in 'high'; 'low' has a withheld value."""
    from tasks.store import store_replicates

    rng = np.random.default_rng(0)
    values = ("a", "b", "c")
    overall = np.column_stack([rng.normal(m, 0.01, 50) for m in (0.10, 0.20, 0.15)])
    low = overall.copy()
    low[:, 2] = np.nan
    sets = (
        ReplicateSet("t", "y", "a", "all", "all", 1000, values, overall),
        ReplicateSet("t", "y", "a", "seg", "high", 600, values, overall),
        ReplicateSet("t", "y", "a", "seg", "low", 400, values, low),
    )
    db = str(tmp_path / "r.duckdb")
    with store.connect(db) as con:
        store.upsert_run(con, "r1", status="completed", started_at=store.now())
    values = pair_policy_values(sets, "no log in this test")
    store_replicates.fn(db, "r1", (PairReplicates(frame=frame_of(sets), policy_values=values),))
    return db


def test_json_rows_and_allocation_from_stored_replicates(tmp_path, capsys):
    db = _db(tmp_path)
    out = tmp_path / "alloc.json"
    assert main(["decide", "--db", db, "--json", "--policy-out", str(out), "--floor", "0.09"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 9 and all(ROW_KEYS <= set(r) for r in rows)
    by_segment: dict[str, list[dict]] = {}
    for r in rows:
        by_segment.setdefault(r["segment"], []).append(r)
    assert set(by_segment) == {"all", "seg=high", "seg=low"}
    for seg in ("all", "seg=high"):
        part = by_segment[seg]
        assert sum(r["p_best"] for r in part) == pytest.approx(1.0)
        assert [r["value"] for r in part if r["recommended"]] == ["b"]
        best = min(part, key=lambda r: r["expected_loss"])
        assert best["recommended"] and best["lift_low"] < best["lift"] < best["lift_high"]
    assert not any(r["recommended"] for r in by_segment["seg=low"])
    assert all(r["p_best"] is None and "c has no replicates" in r["explanation"] for r in by_segment["seg=low"])

    alloc = json.loads(out.read_text())
    assert alloc["schema"] == "recdo.allocation/1" and alloc["run_id"] == "r1" and alloc["floor"] == 0.09
    assert alloc["segment_column"] == "seg" and set(alloc["allocation"]) == {"high", "low"}
    for probs in alloc["allocation"].values():
        assert sum(probs.values()) == pytest.approx(1.0) and min(probs.values()) >= 0.03 - 1e-12
    assert alloc["allocation"]["low"] == alloc["default"]  # no decision in 'low': served the population's


def test_table_states_the_risk_in_one_sentence(tmp_path, capsys):
    assert main(["decide", "--db", _db(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Deploy b for y: P(best)=1.00, expected loss 0.0000" in text
    assert "In seg=low: no decision for t on y: c has no replicates" in text
    assert "No segment policy for t on y: no decision in seg=low (c has no replicates" in text


def test_bad_input_is_one_line_that_says_what_to_pass(tmp_path, capsys):
    db = _db(tmp_path)
    assert main(["decide", "--db", db, "--run-id", "nope"]) == 2
    assert "run 'nope' has no stored replicates" in capsys.readouterr().err
    assert main(["decide", "--db", db, "--floor", "2"]) == 2
    assert "--floor: the exploration floor must be in [0, 1]; got 2.0" in capsys.readouterr().err
    assert main(["decide", "--db", str(tmp_path / "absent.duckdb")]) == 2
    assert "run `recdo run --db" in capsys.readouterr().err


def test_decide_on_a_real_run(prefect_server, tmp_path, week_log, capsys):
    from flows.params import PipelineParams
    from flows.pipeline import pipeline

    db = str(tmp_path / "r.duckdb")
    params = PipelineParams(data=str(week_log), db=db, work_dir=str(tmp_path / "work"), **LIGHT)
    summary = pipeline(params)
    stored = query(db, "SELECT segment, segment_value, count(*) n FROM replicates GROUP BY ALL ORDER BY ALL")
    k = query(db, "SELECT count(DISTINCT value) k FROM replicates").k[0]
    assert k == 4 and (stored.n == LIGHT["n_bootstrap"] * k).all()
    assert stored.segment.iloc[0] == "all" and len(stored) >= 2  # the population and the CATE segments
    methods = query(db, "SELECT method FROM policy_values ORDER BY method").method.tolist()
    assert methods == ["bn_do", "dr"]  # with numbers, or with why not (a thin segment arm leaves no decision)

    out = tmp_path / "alloc.json"
    assert main(["decide", "--db", db, "--json", "--policy-out", str(out)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["run_id"] for r in rows} == {summary.run_id}
    decided = {}
    for r in rows:
        if r["p_best"] is not None:
            decided.setdefault(r["segment"], []).append(r)
    assert "all" in decided
    for part in decided.values():
        assert sum(r["p_best"] for r in part) == pytest.approx(1.0)
        assert sum(r["recommended"] for r in part) == 1
        assert min(part, key=lambda r: r["expected_loss"])["recommended"]
    alloc = json.loads(out.read_text())
    assert all(sum(p.values()) == pytest.approx(1.0) for p in alloc["allocation"].values())

    pipeline(params)  # the same run again replaces its replicates
    assert query(db, "SELECT count(*) n FROM replicates").n[0] == stored.n.sum()
