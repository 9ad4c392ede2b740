"""What a run estimates: what its event or flags said, else treatments, outcomes, baselines derived from the columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from common.errors import InputError

if TYPE_CHECKING:  # imported for the annotation only: `recdo --help` builds the watch parser through this module
    from flows.params import PipelineParams

Kind = Literal["simulation", "open-bandit"]
Origin = Literal["given", "deployment", "derived"]


@dataclass(frozen=True)
class Defaults:
    """The treatments, outcomes and baselines a log of one kind is asked about by default."""

    kind: Kind
    treatments: tuple[str, ...]
    outcomes: tuple[str, ...]
    baselines: dict[str, str] = field(default_factory=dict)


# One entry per kind of log, told apart by its treatment column, checked in this order: a simulated log
# (`recdo simulate`; its truth.json holds the answers for exactly these) and an Open Bandit log.
KINDS: tuple[tuple[str, Defaults], ...] = (
    (
        "strategy",
        Defaults(
            "simulation",
            ("strategy", "reason_shown"),
            ("click", "returned"),
            {"strategy": "random", "reason_shown": "0"},
        ),
    ),
    ("policy", Defaults("open-bandit", ("policy",), ("click",), {"policy": "random"})),
)
# The canonical columns sources.obd.load_obd gives an Open Bandit directory (its CSVs have no `policy`:
# the folder names the policy), so its defaults are derived without reading the logs.
OBD_COLUMNS = ("event_id", "ts", "user_id", "item_id", "policy", "position", "propensity", "click", "partition")
_SHOWN = 12  # column names quoted in an error


def derived_defaults(columns: Sequence[str]) -> Defaults:
    """The defaults of the first kind whose treatment column the log has, kept to the columns it has.

    A log with `strategy` gets the simulation's (strategy, reason_shown / click, returned), one with `policy`
    the Open Bandit's (policy / click); a column of a kind's defaults that the log lacks is left out, so a
    strategy log without `returned` is asked about click alone instead of failing at the gate.
    """
    present = set(columns)
    for marker, defaults in KINDS:
        if marker not in present:
            continue
        outcomes = tuple(o for o in defaults.outcomes if o in present)
        if not outcomes:
            raise InputError(
                f"the log has a {marker!r} column (a {defaults.kind} log) but none of its outcome columns "
                f"{list(defaults.outcomes)}; its columns are {_shown(columns)}; set outcomes (--outcome COLUMN)"
            )
        treatments = tuple(t for t in defaults.treatments if t in present)
        baselines = {t: v for t, v in defaults.baselines.items() if t in treatments}
        return Defaults(defaults.kind, treatments, outcomes, baselines)
    raise InputError(
        f"cannot derive what to estimate: the log has neither a 'strategy' nor a 'policy' column (its columns are "
        f"{_shown(columns)}); set treatments and outcomes (--treatment COLUMN --outcome COLUMN, or the deployment's "
        "params.treatments and params.outcomes), or rename the columns with column_map"
    )


def _shown(columns: Sequence[str]) -> str:
    names = list(columns)
    return str(names[:_SHOWN])[:-1] + (f", … ({len(names)} columns)]" if len(names) > _SHOWN else "]")


def columns_of(data: str, column_map: Mapping[str, str] | None = None, source: str = "auto") -> tuple[str, ...]:
    """The canonical column names of the log at `data`, read cheaply: a Parquet schema or a CSV header.

    `data` is anything `--data` takes (a file, a folder or glob of Parquet files, a `recdo simulate` folder,
    an Open Bandit directory); `column_map` renames as the loader will. A folder or glob is described by
    its first file: the loader reads them as one table, so they share their columns.
    """
    from sources.base import SourceError
    from sources.csvread import header
    from sources.detect import layout_for

    layout = layout_for(data, source)
    if layout.kind == "obd":
        names: list[str] = list(OBD_COLUMNS)
    elif layout.kind == "csv-file":
        names = header(Path(layout.files[0]))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        first = layout.files[0]
        try:
            names = list(pq.read_schema(first).names) + list(layout.hive_keys)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"cannot read {str(first)!r} as parquet: {exc}") from exc
    renames = dict(column_map or {})
    return tuple(renames.get(name, name) for name in names)


def parse_baselines(values: Sequence[str], treatments: Sequence[str]) -> dict[str, str]:
    """--baseline [TREATMENT=]VALUE values as {treatment: value}; a bare VALUE is the first treatment's.

    'none' drops the treatment's baseline (its ATEs are then taken against its first value in sorted order).
    """
    baselines: dict[str, str] = {}
    for given in values:
        if "=" in given:
            treatment, value = (part.strip() for part in given.split("=", 1))
        elif treatments:
            treatment, value = treatments[0], given.strip()
        else:
            raise InputError(
                f"--baseline {given!r} names no treatment and no --treatment is given (they are derived per file); "
                "write it as TREATMENT=VALUE, e.g. --baseline strategy=random"
            )
        if not treatment or not value:
            raise InputError(f"--baseline {given!r} is not TREATMENT=VALUE; write e.g. --baseline strategy=random")
        if value.lower() != "none":
            baselines[treatment] = value
    return baselines


@dataclass(frozen=True)
class RunSettings:
    """What an arrival event asks of its run (`recdo watch` / `recdo ingest` flags); empty: not said.

    Not said, the run (flows/arrival.py) takes the deployment's params, else derives treatments, outcomes
    and baselines from the file's columns. The run's database is always the announcer's own: see payload.
    """

    treatments: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    baselines: dict[str, str] | None = None  # {} is a choice: no baseline for any treatment
    work_dir: str | None = None
    pool_since: str | None = None  # each run pools every partition from this date up to its own (the loop)

    def __post_init__(self) -> None:
        if self.pool_since is not None:
            from sources.partitions import PartitionError, check_partition

            try:
                check_partition(self.pool_since)
            except PartitionError as exc:
                raise InputError(f"--pool-since: {exc}") from None
        for flag, names in (("--treatment", self.treatments), ("--outcome", self.outcomes)):
            if len(set(names)) != len(names):
                raise InputError(f"{flag} names a column twice in {list(names)}; give each once")
        both = sorted(set(self.treatments) & set(self.outcomes))
        if both:
            raise InputError(f"{both} named as --treatment and as --outcome; pick two different columns")
        stray = sorted(set(self.baselines or {}) - set(self.treatments)) if self.treatments else []
        if stray:
            raise InputError(
                f"--baseline names {stray}, which are not --treatment {list(self.treatments)}; "
                "key each baseline by one of the treatments"
            )

    def payload(self, db: str) -> dict[str, object]:
        """The event payload's run fields: what was said, and `db` as an absolute path.

        Absolute because the run executes in the worker's directory, not the watcher's: the results land
        in the same file as the ledger of what was announced, wherever the worker runs.
        """
        fields: dict[str, object] = {"db": str(Path(db).resolve())}
        if self.treatments:
            fields["treatments"] = list(self.treatments)
        if self.outcomes:
            fields["outcomes"] = list(self.outcomes)
        if self.baselines is not None:
            fields["baselines"] = dict(self.baselines)
        if self.work_dir:
            fields["work_dir"] = str(Path(self.work_dir).resolve())
        if self.pool_since:
            fields["pool_since"] = self.pool_since
        return fields

    def describe(self) -> str:
        """What the runs estimate, for the watcher's startup line."""
        said = [
            f"{name} {value}"
            for name, value in (
                ("treatments", list(self.treatments)),
                ("outcomes", list(self.outcomes)),
                ("baselines", self.baselines),
            )
            if value or (name == "baselines" and value is not None)
        ]
        derived = [n for n, v in (("treatments", self.treatments), ("outcomes", self.outcomes)) if not v]
        if self.baselines is None:
            derived.append("baselines")
        if derived:
            said.append(f"{'/'.join(derived)}: the deployment's params, else derived from each file's columns")
        if self.pool_since:
            said.append(f"each run pooling its partitions from {self.pool_since} where the design allows")
        return ", ".join(said)


@dataclass(frozen=True)
class Choice:
    """What one run estimates, and where each part came from: given (the event), the deployment or derived."""

    treatments: tuple[str, ...]
    outcomes: tuple[str, ...]
    baselines: dict[str, str]
    origin: dict[str, Origin]

    def fields(self) -> dict[str, object]:
        """The PipelineParams fields, as with_changes takes them."""
        return dict(treatments=list(self.treatments), outcomes=list(self.outcomes), baselines=dict(self.baselines))

    def describe(self) -> str:
        """One line for the run's log: each part and its origin."""
        return (
            f"treatments {list(self.treatments)} ({self.origin['treatments']}), outcomes {list(self.outcomes)} "
            f"({self.origin['outcomes']}), baselines {self.baselines} ({self.origin['baselines']})"
        )


def choose(
    params: PipelineParams,
    columns: Sequence[str],
    treatments: Sequence[str] | None = None,
    outcomes: Sequence[str] | None = None,
    baselines: Mapping[str, str] | None = None,
) -> Choice:
    """Treatments, outcomes and baselines for a run on a log with `columns`.

    Each part is the given value if any (an event's payload, a flag), else the value `params` was built
    with explicitly (pydantic's model_fields_set: a deployment's params that name it), else derived from
    the columns. Baselines not given follow the chosen treatments: the deployment's and derived ones are
    kept for those treatments only, as `recdo run` does. An empty list is no choice; empty baselines ({})
    are one: none.
    """
    explicit = params.model_fields_set
    cache: list[Defaults] = []

    def derived() -> Defaults:
        if not cache:
            cache.append(derived_defaults(columns))
        return cache[0]

    def pick(name: str, given: Sequence[str] | None) -> tuple[tuple[str, ...], Origin]:
        if given:
            return tuple(given), "given"
        if name in explicit:
            return tuple(getattr(params, name)), "deployment"
        return tuple(getattr(derived(), name)), "derived"

    origin: dict[str, Origin] = {}
    chosen_treatments, origin["treatments"] = pick("treatments", treatments)
    chosen_outcomes, origin["outcomes"] = pick("outcomes", outcomes)
    if baselines is not None:
        chosen_baselines, origin["baselines"] = dict(baselines), "given"
    elif "baselines" in explicit:  # a standing choice per treatment: kept for the treatments this run estimates
        kept = {k: v for k, v in params.baselines.items() if k in chosen_treatments}
        chosen_baselines, origin["baselines"] = kept, "deployment"
    else:
        try:
            kinds_baselines = derived().baselines
        except InputError:  # treatments and outcomes both named: a log of no known kind has no default baselines
            kinds_baselines = {}
        chosen_baselines = {k: v for k, v in kinds_baselines.items() if k in chosen_treatments}
        origin["baselines"] = "derived"
    return Choice(chosen_treatments, chosen_outcomes, chosen_baselines, origin)
