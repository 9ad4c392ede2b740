"""Run ids: the same data and parameters give the same id; a parameter that changes results changes it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flows.params import PipelineParams


def test_run_id_depends_on_data_and_results_not_on_where_they_go():
    base = PipelineParams()
    assert base.run_id_for("h1") == PipelineParams(db="other.duckdb", io_retries=5).run_id_for("h1")
    assert base.run_id_for("h1") != base.run_id_for("h2")
    assert base.run_id_for("h1") != PipelineParams(seed=1).run_id_for("h1")
    assert PipelineParams(run_id="mine").run_id_for("h1") == "mine"


def test_bad_parameters_are_refused():
    with pytest.raises(ValidationError, match="less than 1"):
        PipelineParams(max_rejected_share=1.5)
    with pytest.raises(ValidationError, match=r"\['click'\] named as treatment and as outcome; pick two different columns"):
        PipelineParams(treatments=["click"], outcomes=["click"])
    with pytest.raises(ValidationError, match=r"baselines name \['policy'\], which are not treatments \['strategy'\]"):
        PipelineParams(treatments=["strategy"])
    with pytest.raises(ValidationError, match="name a column twice"):
        PipelineParams(outcomes=["click", "click"])
    with pytest.raises(ValidationError, match="at least 1 item"):
        PipelineParams(treatments=[])


def test_every_treatment_meets_every_outcome():
    params = PipelineParams(treatments=["strategy", "reason_shown"], outcomes=["click", "returned"], baselines={})
    assert params.pairs() == [
        ("strategy", "click"), ("strategy", "returned"), ("reason_shown", "click"), ("reason_shown", "returned")
    ]
    assert params.outcome == "click"  # the scorer learns the first outcome
