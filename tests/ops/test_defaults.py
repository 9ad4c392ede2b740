"""What an event-driven run estimates: derived from the file's columns, unless the event or the deployment says."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from common.errors import InputError
from flows.defaults import RunSettings, choose, columns_of, derived_defaults, parse_baselines
from flows.params import PipelineParams
from sources.base import SourceError
from tests.conftest import OBD

SIM_TREATMENTS = ("strategy", "reason_shown")
SIM_BASELINES = {"strategy": "random", "reason_shown": "0"}
SIM_COLUMNS = ["event_id", "ts", "user_id", "item_id", "strategy", "position", "reason_shown", "click", "returned"]


@pytest.mark.parametrize(
    "columns, kind, treatments, outcomes, baselines",
    [
        # the same answers as `recdo run`'s KIND_DEFAULTS for its two kinds
        (SIM_COLUMNS, "simulation", SIM_TREATMENTS, ("click", "returned"), SIM_BASELINES),
        (["event_id", "policy", "position", "click"], "open-bandit", ("policy",), ("click",), {"policy": "random"}),
        # a kind's columns the log lacks are left out, not asked about
        (["strategy", "click"], "simulation", ("strategy",), ("click",), {"strategy": "random"}),
        (["strategy", "reason_shown", "returned"], "simulation", SIM_TREATMENTS, ("returned",), SIM_BASELINES),
        # a log with both treatment columns is a simulation's (strategy is looked for first)
        (["policy", "strategy", "click"], "simulation", ("strategy",), ("click",), {"strategy": "random"}),
    ],
)  # fmt: skip
def test_defaults_follow_the_treatment_column_the_log_has(columns, kind, treatments, outcomes, baselines):
    got = derived_defaults(columns)
    assert (got.kind, got.treatments, got.outcomes, got.baselines) == (kind, treatments, outcomes, baselines)


def test_a_log_of_no_known_kind_names_its_columns_and_what_to_set():
    with pytest.raises(
        InputError, match=r"neither a 'strategy' nor a 'policy' column \(its columns are \['arm', 'y'\]\)"
    ):
        derived_defaults(["arm", "y"])
    with pytest.raises(InputError, match="set treatments and outcomes"):
        derived_defaults(["arm", "y"])
    with pytest.raises(InputError, match=r"none of its outcome columns \['click', 'returned'\].*set outcomes"):
        derived_defaults(["strategy", "bought"])
    many = [f"c{i}" for i in range(30)]
    with pytest.raises(InputError, match=r"'c11', … \(30 columns\)\]"):
        derived_defaults(many)


def test_columns_are_read_from_the_schema_or_header_and_renamed(sim_day, tmp_path):
    assert columns_of(str(sim_day))[:5] == ("event_id", "ts", "user_id", "item_id", "strategy")
    csv = tmp_path / "day.csv"
    pd.DataFrame({"arm": ["a"], "click": [1]}).to_csv(csv, index=False)
    assert columns_of(str(csv)) == ("arm", "click")
    assert columns_of(str(csv), {"arm": "policy"}) == ("policy", "click")
    assert derived_defaults(columns_of(str(csv), {"arm": "policy"})).treatments == ("policy",)
    # an Open Bandit directory: its CSVs hold no `policy` column, the loader adds it from the folder names
    assert derived_defaults(columns_of(str(OBD))).kind == "open-bandit"
    folder = tmp_path / "simfolder"  # a `recdo simulate` folder: its log.parquet
    folder.mkdir()
    (folder / "log.parquet").write_bytes(sim_day.read_bytes())
    (folder / "truth.json").write_text("{}")
    assert derived_defaults(columns_of(str(folder))).kind == "simulation"
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(SourceError, match="cannot read .*broken.parquet' as parquet"):
        columns_of(str(broken))


def test_the_event_wins_then_the_deployment_then_the_columns():
    bare = PipelineParams(n_bootstrap=10)  # a deployment naming none of the three
    got = choose(bare, SIM_COLUMNS)
    assert got.fields() == dict(
        treatments=["strategy", "reason_shown"],
        outcomes=["click", "returned"],
        baselines=SIM_BASELINES,
    )
    assert set(got.origin.values()) == {"derived"}
    # given treatments: derived baselines are kept for those treatments only, as `recdo run` does
    got = choose(bare, SIM_COLUMNS, treatments=["reason_shown"])
    assert (got.treatments, got.outcomes, got.baselines) == (
        ("reason_shown",),
        ("click", "returned"),
        {"reason_shown": "0"},
    )
    assert got.origin == {"treatments": "given", "outcomes": "derived", "baselines": "derived"}
    # the deployment names treatments: they win over the columns (even PipelineParams' own default value)
    deployed = PipelineParams(treatments=["policy"])
    assert choose(deployed, SIM_COLUMNS).treatments == ("policy",)
    assert choose(deployed, SIM_COLUMNS).origin["treatments"] == "deployment"
    # ... and the event wins over the deployment; {} is a choice (no baseline), [] is none
    got = choose(deployed, SIM_COLUMNS, treatments=["strategy"], outcomes=[], baselines={})
    assert (got.treatments, got.outcomes, got.baselines) == (("strategy",), ("click", "returned"), {})
    assert got.origin == {"treatments": "given", "outcomes": "derived", "baselines": "given"}
    # everything named: a log of no known kind runs, with no default baselines
    got = choose(bare, ["arm", "y"], treatments=["arm"], outcomes=["y"])
    assert (got.treatments, got.outcomes, got.baselines) == (("arm",), ("y",), {})
    with pytest.raises(InputError, match="neither a 'strategy' nor a 'policy' column"):
        choose(bare, ["arm", "y"], treatments=["arm"])


def test_baseline_flags_read_as_recdo_run_reads_them():
    assert parse_baselines(["strategy=popular", "reason_shown=1"], []) == {"strategy": "popular", "reason_shown": "1"}
    assert parse_baselines(["popular"], ["strategy"]) == {"strategy": "popular"}
    assert parse_baselines(["strategy=none"], ["strategy"]) == {}
    with pytest.raises(InputError, match=r"--baseline 'popular' names no treatment .* write it as TREATMENT=VALUE"):
        parse_baselines(["popular"], [])
    with pytest.raises(InputError, match=r"--baseline 'strategy=' is not TREATMENT=VALUE"):
        parse_baselines(["strategy="], [])


def test_run_settings_send_only_what_was_said(tmp_path):
    assert RunSettings().payload("r.duckdb") == {"db": str(Path("r.duckdb").resolve())}
    said = RunSettings(("strategy",), ("click",), {}, "work")
    assert said.payload(str(tmp_path / "r.duckdb")) == {
        "db": str(tmp_path / "r.duckdb"),
        "treatments": ["strategy"],
        "outcomes": ["click"],
        "baselines": {},
        "work_dir": str(Path("work").resolve()),
    }
    assert "outcomes" not in RunSettings(("strategy",)).payload("r.duckdb")
    pooled = RunSettings(pool_since="2024-03-01")
    assert pooled.payload("r.duckdb")["pool_since"] == "2024-03-01" and "from 2024-03-01" in pooled.describe()
    with pytest.raises(InputError, match=r"--pool-since: partition '2024-3-1' is not a date"):
        RunSettings(pool_since="2024-3-1")
    assert RunSettings().describe().startswith("treatments/outcomes/baselines: the deployment's params, else derived")
    with pytest.raises(InputError, match=r"\['click'\] named as --treatment and as --outcome"):
        RunSettings(("click",), ("click",))
    with pytest.raises(InputError, match=r"--treatment names a column twice in \['a', 'a'\]"):
        RunSettings(("a", "a"))
    with pytest.raises(InputError, match=r"--baseline names \['policy'\], which are not --treatment \['strategy'\]"):
        RunSettings(("strategy",), (), {"policy": "random"})
