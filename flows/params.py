"""The pipeline's parameters: one pydantic model, shown with defaults and descriptions in the Prefect UI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Parameters that change where things go or how hard I/O is retried, not what is computed:
# they are left out of the run id so a retry with more patience is still the same run.
_NOT_IN_RUN_ID = {"db", "run_id", "work_dir", "io_retries", "io_retry_delay_s", "progress"}


class PipelineParams(BaseModel):
    """Everything a run depends on. Equal parameters on equal data give the same run id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field("data/obd-sample", description="An Open Bandit directory (DIR/<policy>/<campaign>/<campaign>.csv) or a canonical CSV/Parquet log.")
    source: Literal["auto", "obd", "table"] = Field("auto", description="How to read `data`: auto picks obd for a directory, table for a file.")
    campaign: str = Field("all", description="Open Bandit campaign (all, men, women).")
    column_map: dict[str, str] = Field(default_factory=dict, description="Rename the file's columns to canonical names, {file_column: canonical_column}.")
    treatment: str = Field("policy", description="The column whose intervention is asked about.")
    outcome: str = Field("click", description="The binary outcome column.")
    baseline: str | None = Field("random", description="Treatment value the ATEs are taken against; null = first value in sorted order.")
    max_rejected_share: float = Field(0.01, ge=0.0, lt=1.0, description="Fail the run when more than this share of rows breaks a validation rule.")
    backbone: str = Field("tiny-bert", description="Scorer backbone: 'tiny-bert' (a tiny random BERT built locally) or a local transformers model directory.")
    max_epochs: int = Field(1, ge=1, description="Scorer training epochs.")
    batch_size: int = Field(256, ge=1, description="Scorer batch size.")
    accelerator: str = Field("auto", description="Lightning accelerator: auto, cpu, gpu.")
    n_bootstrap: int = Field(200, ge=2, description="Bootstrap replicates for the intervals.")
    equivalent_sample_size: float = Field(
        1.0,
        gt=0.0,
        description="BDeu prior strength of the network's CPDs. Kept small because clicks are rare: 10 pseudo-rows would lift a 0.4% click rate by several percent.",
    )
    off_policy: bool = Field(True, description="Also estimate the target policy's click rate off-policy from the logged policy's rows (needs propensities and a target policy).")
    ope_prior: str | None = Field(None, description="Bernoulli-TS prior YAML defining the target policy; default: DATA/bts_prior.yaml when `data` is an Open Bandit directory holding one.")
    ope_logged: str = Field("random", description="Treatment value whose rows are the logged data for off-policy evaluation.")
    ope_target: str = Field("bts", description="Name under which the target policy's estimates are stored (treatment_value).")
    ope_refits: int = Field(30, ge=2, description="Resamples with the reward model refitted, for the intervals of DM, DR, SNDR, Switch-DR, DRos.")
    seed: int = Field(0, description="Seed for the split, the scorer and the bootstrap.")
    db: str = Field("recdo.duckdb", description="DuckDB file the results go to.")
    run_id: str | None = Field(None, description="Run id; by default derived from the data hash and the parameters, so a re-run replaces its rows.")
    work_dir: str = Field(".recdo", description="Directory for intermediate files (canonical log, scores, checkpoints).")
    io_retries: int = Field(2, ge=0, description="Retries of the I/O tasks (load, store).")
    io_retry_delay_s: float = Field(2.0, ge=0.0, description="Seconds between I/O retries.")
    progress: bool = Field(True, description="Show progress bars for training and the bootstrap.")

    @model_validator(mode="after")
    def _check_outcome_is_not_treatment(self) -> "PipelineParams":
        if self.treatment == self.outcome:
            raise ValueError(f"treatment and outcome are both {self.treatment!r}; pick two different columns")
        return self

    def resolved_source(self) -> Literal["obd", "table"]:
        if self.source != "auto":
            return self.source
        return "obd" if Path(self.data).is_dir() else "table"

    def resolved_ope_prior(self) -> str | None:
        """The target policy's prior file, or None when off-policy evaluation does not apply."""
        if not self.off_policy:
            return None
        if self.ope_prior:
            return self.ope_prior
        bundled = Path(self.data) / "bts_prior.yaml"
        return str(bundled) if self.resolved_source() == "obd" and bundled.is_file() else None

    def run_id_for(self, data_hash: str) -> str:
        """The run id: given, or a hash of the data and of every parameter that changes the result."""
        if self.run_id:
            return self.run_id
        relevant = self.model_dump(exclude=_NOT_IN_RUN_ID)
        relevant["data"] = data_hash  # the content, not the path, identifies the data
        digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()
        return f"run-{digest[:12]}"
