"""Every pipeline flag, once: the table `recdo run` and `recdo backfill` build their parsers from."""

from __future__ import annotations

import argparse
import glob
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Flag:
    """One command-line flag of the pipeline and the PipelineParams field it sets.

    `field` None: the flag feeds a derived field (treatments, outcomes, baselines, column_map). `invert`:
    a store_true flag that sets the boolean field to False (--no-progress). `run_only`: not a flag of
    backfill, which sets that field itself, with the reason.
    """

    flag: str
    field: str | None
    help: str
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    repeat: bool = False
    invert: bool = False
    switch: bool = False
    metavar: str | None = None
    run_only: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


FLAGS: tuple[Flag, ...] = (
    Flag(
        "--data",
        "data",
        "the log: a CSV or Parquet file, a folder or quoted glob of Parquet files (flat or hive date=YYYY-MM-DD/), "
        "an Open Bandit directory or a `recdo simulate` folder; told apart by content",
    ),
    Flag("--source", "source", "how to read --data", choices=("auto", "obd", "table")),
    Flag("--campaign", "campaign", "Open Bandit campaign whose log is read and whose prior defines the target policy"),
    Flag("--map", None, "rename a column (repeatable)", repeat=True, metavar="FILE_COL=CANONICAL_COL"),
    Flag(
        "--treatment",
        None,
        "treatment column (repeatable); default, from the log's columns: strategy and reason_shown when it has "
        "`strategy` (a simulated log), else policy",
        repeat=True,
    ),
    Flag(
        "--outcome",
        None,
        "0/1 outcome column (repeatable); default: click, and returned too for a log with `strategy`",
        repeat=True,
    ),
    Flag(
        "--baseline",
        None,
        "value ATEs are taken against (repeatable; a bare VALUE is the first treatment's; "
        "'none': the first value, in sorted order, with enough outcomes); default: policy=random, or "
        "strategy=random and reason_shown=0 for a log with `strategy`",
        repeat=True,
        metavar="[TREATMENT=]VALUE",
    ),
    Flag("--db", "db", "DuckDB file for the results"),
    Flag("--work-dir", "work_dir", "directory for intermediate files"),
    Flag(
        "--run-id",
        "run_id",
        "run id; default: derived from the data hash and parameters",
        run_only="each partition of a backfill gets its own run id from the data, parameters and partition",
    ),
    Flag(
        "--partition",
        "partition",
        "only this date partition (YYYY-MM-DD) of the log",
        run_only="a backfill runs each partition from --start to --end",
    ),
    Flag(
        "--pool-since",
        "pool_since",
        "with --partition: pool every dated partition from this date (YYYY-MM-DD) up to it into one analysis",
        run_only="a backfill analyses each partition alone; pool with `recdo run --partition D --pool-since S`",
    ),
    Flag("--bootstrap", "n_bootstrap", "bootstrap replicates (B)", type=int),
    Flag(
        "--bootstrap-chunk",
        "bootstrap_chunk",
        "bootstrap replicates per seeded chunk, the unit of parallel work (the intervals depend on it)",
        type=int,
    ),
    Flag("--equivalent-sample-size", "equivalent_sample_size", "BDeu prior strength of the network's CPDs", type=float),
    Flag(
        "--min-arm-events",
        "min_arm_events",
        "positives and negatives a treatment value needs for an estimate; fewer: rows say why there is no number",
        type=int,
    ),
    Flag("--epochs", "max_epochs", "scorer training epochs", type=int),
    Flag("--batch-size", "batch_size", "scorer batch size, per device", type=int),
    Flag(
        "--learning-rate",
        "learning_rate",
        "scorer learning rate; default: 5e-5 when fine-tuning a pretrained backbone (every weight moves), 1e-3 "
        "otherwise (a head on frozen embeddings, LoRA adapters, the random tiny-bert)",
        type=float,
    ),
    Flag(
        "--scorer-train-rows",
        "scorer_train_rows",
        "a longer log trains the scorer on a seeded, outcome-stratified sample of this many rows, then scores all",
        type=int,
    ),
    Flag(
        "--backbone",
        "backbone",
        "'auto' (minilm when installed, else tiny-bert), 'minilm', 'tiny-bert' or a local transformers model directory",
    ),
    Flag(
        "--scorer-mode",
        "scorer_mode",
        "train the backbone, a head on frozen cached embeddings, or LoRA adapters ('auto': frozen for a "
        "pretrained backbone, finetune for tiny-bert)",
        choices=("auto", "finetune", "frozen", "lora"),
    ),
    Flag(
        "--calibration",
        "calibration",
        "how the scorer's probabilities are calibrated on the validation split",
        choices=("temperature", "isotonic", "none"),
    ),
    Flag("--accelerator", "accelerator", "Lightning accelerator for the scorer: auto, cpu, gpu"),
    Flag(
        "--devices",
        "devices",
        "Lightning devices for the scorer (several: DDP in a worker process, each device on its share of rows)",
        type=int,
    ),
    Flag(
        "--strategy",
        "strategy",
        "Lightning strategy for the scorer, passed through (e.g. ddp; spawn and fork strategies are refused)",
    ),
    Flag("--max-rejected-share", "max_rejected_share", "fail when a larger share of rows is quarantined", type=float),
    Flag(
        "--missing-as-state",
        "missing_as_state",
        "keep nulls of this user_*/item_* feature column as the state 'missing' instead of quarantining them "
        "(repeatable)",
        repeat=True,
        metavar="COLUMN",
    ),
    Flag("--no-off-policy", "off_policy", "skip off-policy evaluation of the target policy", switch=True, invert=True),
    Flag(
        "--ope-prior", "ope_prior", "Bernoulli-TS prior YAML defining the target policy; default: DATA/bts_prior.yaml"
    ),
    Flag(
        "--user-history",
        "user_history",
        "CSV/Parquet of the users' histories as text (user_id, ts, text); rows before the log's first impression "
        "become each user's user_text state; default: DATA/user_history.parquet when --data is a folder holding one; "
        "'none': no text features",
        metavar="FILE",
    ),
    Flag(
        "--user-text-representation",
        "user_text_representation",
        "how a history becomes the user_text state: mean embedding clusters, the dominant item-text cluster, or the "
        "text's prediction of the first treatment (propensity; reads the logged treatment, never an outcome), or "
        "that prediction's text part alone (text_logit)",
        choices=("mean", "dominant", "propensity", "text_logit"),
    ),
    Flag("--ope-logged", "ope_logged", "treatment value whose rows are the logged data for off-policy evaluation"),
    Flag("--ope-target", "ope_target", "name the target policy's estimates are stored under"),
    Flag("--ope-refits", "ope_refits", "reward-model refits for the DM/DR-family intervals", type=int),
    Flag(
        "--ope-max-rows",
        "ope_max_rows",
        "logged rows OPE reads into memory; above: IPW/SNIPW from counts of every row, the other estimators on a "
        "seeded sample of this many",
        type=int,
    ),
    Flag("--seed", "seed", "seed of the split, the scorer and the bootstrap", type=int),
    Flag("--retries", "io_retries", "retries of the I/O tasks", type=int),
    Flag("--retry-delay", "io_retry_delay_s", "seconds between I/O retries", type=float),
    Flag("--no-progress", "progress", "no progress bars", switch=True, invert=True),
    Flag(
        "--refresh",
        "refresh",
        "recompute the cached stages (scorer, structure and effects) even on unchanged inputs",
        switch=True,
    ),
    Flag(
        "--task-runner",
        "task_runner",
        "run the estimate tasks (each pair's network and bootstrap chunks) and backfill partitions on threads or Dask",
        choices=("thread", "dask"),
    ),
    Flag(
        "--dask-address",
        "dask_address",
        "scheduler of a running Dask cluster (tcp://host:8786); default with --task-runner dask: a local cluster",
    ),
    Flag("--max-workers", "max_workers", "estimate tasks (networks, bootstrap chunks) running at once", type=int),
)


def _default_text(flag: Flag) -> str:
    """The default shown in --help, read from PipelineParams (the one place defaults live)."""
    from flows.params import PipelineParams

    if flag.field is None:
        return ""
    default = PipelineParams.model_fields[flag.field].default
    if flag.switch:
        return ""
    return f" (default: {default})" if default not in (None, "") else ""


def add_pipeline_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """Add every flag of the table that `command` ("run" or "backfill") takes; defaults stay None (= params' own)."""
    for flag in FLAGS:
        if command != "run" and flag.run_only:
            continue
        kwargs: dict[str, Any] = {"dest": flag.dest, "help": flag.help + _default_text(flag)}
        if flag.switch:
            kwargs["action"] = "store_true"
        elif flag.repeat:
            kwargs.update(action="append", default=[])
        else:
            kwargs["default"] = None
        if flag.type is not None:
            kwargs["type"] = flag.type
        if flag.choices is not None:
            kwargs["choices"] = flag.choices
        if flag.metavar is not None:
            kwargs["metavar"] = flag.metavar
        parser.add_argument(flag.flag, **kwargs)


def parse_map(pairs: Sequence[str]) -> dict[str, str]:
    """--map FILE_COL=CANONICAL_COL pairs as a {file column: canonical column} dict."""
    mapping = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"recdo: --map expects FILE_COLUMN=CANONICAL_COLUMN, got {pair!r}")
        src, dst = pair.split("=", 1)
        mapping[src.strip()] = dst.strip()
    return mapping


def treatments_outcomes(args: argparse.Namespace, data: str, column_map: dict[str, str], source: str) -> dict:
    """treatments, outcomes, baselines from --treatment/--outcome/--baseline, the rest derived from the log's columns.

    The same derivation as an event-driven run's (flows.defaults): a log with `strategy` is asked about the
    simulation's treatments and outcomes, one with `policy` about the Open Bandit policies. A --data that names
    nothing derives nothing: data_missing says so next.
    """
    from flows.defaults import columns_of, derived_defaults, parse_baselines

    need = not (args.treatment and args.outcome and args.baseline)
    exists = os.path.exists(data) or bool(glob.glob(data))
    derived = None
    if need and exists:
        from sources.base import SourceError

        try:
            columns = columns_of(data, column_map, source)
        except SourceError:  # unreadable as asked: the load stage says why, in its own one line
            columns = None
        derived = derived_defaults(columns) if columns is not None else None
    treatments = list(args.treatment or (derived.treatments if derived else ["policy"]))
    outcomes = list(args.outcome or (derived.outcomes if derived else ["click"]))
    if args.baseline:
        baselines = parse_baselines(args.baseline, treatments)
    else:
        baselines = {t: v for t, v in (derived.baselines if derived else {}).items() if t in treatments}
    return dict(treatments=treatments, outcomes=outcomes, baselines=baselines)


def params_from_args(args: argparse.Namespace):
    """The PipelineParams the flags ask for: given flags set their fields, the rest keep PipelineParams' defaults."""
    from flows.params import PipelineParams

    fields: dict[str, Any] = {}
    for flag in FLAGS:
        if flag.field is None or not hasattr(args, flag.dest):
            continue
        value = getattr(args, flag.dest)
        if flag.switch:
            if value:
                fields[flag.field] = not flag.invert
        elif value is not None:
            fields[flag.field] = value
    data = fields.get("data", PipelineParams.model_fields["data"].default)
    fields["column_map"] = parse_map(args.map)
    fields.update(treatments_outcomes(args, data, fields["column_map"], fields.get("source", "auto")))
    return PipelineParams(**fields)


def data_missing(params) -> bool:
    """True, after one line on stderr, when --data names nothing: caught here, not as a flow run's traceback."""
    if os.path.exists(params.data) or glob.glob(params.data):  # a glob of Parquet files is a log too
        return False
    print(
        f"recdo: no log at {params.data!r}; pass --data DIR (Open Bandit layout or a `recdo simulate` folder) "
        "or --data FILE.csv|.parquet",
        file=sys.stderr,
    )
    return True
