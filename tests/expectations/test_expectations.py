"""The validation gate on small logs with known broken rows (real GX, no mocks)."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from expectations import (
    DatasetError,
    GateConfig,
    GateFailed,
    build_suite,
    check_dataset,
    enforce,
    run_gate,
)
from expectations.suite import rule_name

POLICY = GateConfig(treatment="policy")


def make_log(n: int = 10, seed: int = 0) -> pd.DataFrame:
    """A clean canonical log: every row passes every rule."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "ts": pd.date_range("2024-01-01", periods=n, freq="min").strftime("%Y-%m-%dT%H:%M:%SZ"),
            "user_id": [f"u{i % 7}" for i in range(n)],
            "item_id": rng.integers(0, 50, n),
            "click": rng.integers(0, 2, n),
            "policy": rng.choice(["random", "bts"], n),
            "position": rng.integers(0, 3, n),
            "propensity": rng.uniform(0.05, 1.0, n),
            "user_age": rng.integers(18, 80, n),
            "item_text": [f"item {i}" for i in range(n)],
            "partition": "2024-01-01",
        }
    )


def test_clean_log_passes_with_nothing_quarantined() -> None:
    log = make_log(50)
    result = run_gate(log, POLICY)
    assert (result.n_in, result.n_clean, result.n_quarantined) == (50, 50, 0)
    assert result.quarantine.empty and list(result.quarantine.columns) == ["row_number", "rule", "row_json"]
    assert result.rule_counts == {}
    assert result.rejected_share == 0.0
    assert result.results["success"].all()
    enforce(result, GateConfig(max_rejected_share=0.0))  # nothing rejected: passes even at zero tolerance
    assert result.clean["event_id"].tolist() == log["event_id"].tolist()


def test_clean_rows_get_normalised_dtypes() -> None:
    log = make_log(6)
    log["event_id"] = range(100, 106)  # integer ids become strings
    log["click"] = log["click"].astype(float)
    log["position"] = log["position"].astype(float)
    log.loc[0, "ts"] = "2024-01-01T02:00:00+02:00"  # an offset is converted to UTC
    log.index = [10, 11, 12, 13, 14, 15]
    clean = run_gate(log, POLICY).clean
    assert list(clean.index) == list(range(6))
    assert clean["event_id"].tolist() == [str(i) for i in range(100, 106)]
    assert pd.api.types.is_string_dtype(clean["event_id"])
    assert str(clean["ts"].dtype) == "datetime64[us, UTC]"
    assert clean.loc[0, "ts"] == pd.Timestamp("2024-01-01T00:00:00", tz="UTC")
    assert clean["click"].dtype == np.int64 and clean["position"].dtype == np.int64
    assert clean["propensity"].dtype == np.float64


def test_datetime_ts_column_is_accepted_and_made_utc() -> None:
    log = make_log(4)
    log["ts"] = pd.to_datetime(["2024-03-01 09:00", "2024-03-01 10:00", None, "2024-03-01 11:00"]).tz_localize(
        "Europe/Paris"
    )
    result = run_gate(log, POLICY)
    assert result.quarantine["row_number"].tolist() == [2]
    assert result.quarantine["rule"].tolist() == ["ts not null"]
    assert result.clean["ts"].tolist()[0] == pd.Timestamp("2024-03-01 08:00", tz="UTC")


def _set(column: str, rows: list[int], value: object) -> Callable[[pd.DataFrame], None]:
    def mutate(log: pd.DataFrame) -> None:
        try:
            log.loc[rows, column] = value
        except TypeError:  # pandas 3 refuses e.g. 1.5 or "yes" in an int64 column; a loader may not
            log[column] = log[column].astype(object)
            log.loc[rows, column] = value

    return mutate


def _duplicate_event_id(log: pd.DataFrame) -> None:
    log.loc[[5, 8], "event_id"] = log.loc[2, "event_id"]  # rows 5 and 8 repeat row 2's id


BROKEN = [
    pytest.param(_set("user_id", [2], None), [2], "user_id not null", id="null user_id"),
    pytest.param(_set("item_id", [0, 9], np.nan), [0, 9], "item_id not null", id="null item_id"),
    pytest.param(_set("click", [1, 4], 2), [1, 4], "click in {0,1}", id="click=2"),
    pytest.param(_set("click", [6], "yes"), [6], "click in {0,1}", id="click='yes'"),
    pytest.param(_set("click", [3], None), [3], "click not null", id="null click"),
    pytest.param(_set("position", [3], -1), [3], "position >= 0", id="position=-1"),
    pytest.param(_set("position", [7], 1.5), [7], "position is an integer", id="position=1.5"),
    pytest.param(_set("propensity", [0], 0.0), [0], "propensity in (0,1]", id="propensity=0"),
    pytest.param(_set("propensity", [4], 1.25), [4], "propensity in (0,1]", id="propensity>1"),
    pytest.param(_set("propensity", [5], np.nan), [5], "propensity not null", id="null propensity"),
    pytest.param(_duplicate_event_id, [5, 8], "event_id unique", id="duplicate event_id"),
    pytest.param(_set("ts", [6], "not a time"), [6], "ts parseable", id="unparseable ts"),
    pytest.param(_set("ts", [1], "01/02/2024"), [1], "ts parseable", id="ambiguous ts"),
    pytest.param(_set("ts", [2], None), [2], "ts not null", id="null ts"),
    pytest.param(_set("policy", [8], None), [8], "policy not null", id="null treatment"),
    pytest.param(_set("user_age", [4], None), [4], "user_age not null", id="null user feature"),
    pytest.param(_set("policy", [3], "bts\x00"), [3], "policy has no control characters", id="NUL in treatment"),
    pytest.param(_set("user_id", [6], "u6\x1f"), [6], "user_id has no control characters", id="control in user_id"),
    pytest.param(_set("item_text", [2], "a\x00b"), [2], "item_text has no control characters", id="NUL in item_text"),
    pytest.param(_set("ts", [5], "2104-01-01T00:00:00Z"), [5], "ts not in the future", id="ts in 2104"),
]


@pytest.mark.parametrize(("mutate", "rows", "rule"), BROKEN)
def test_broken_rows_are_quarantined_with_their_rule(
    mutate: Callable[[pd.DataFrame], None], rows: list[int], rule: str
) -> None:
    log = make_log(10)
    mutate(log)
    result = run_gate(log, POLICY)
    assert result.quarantine["row_number"].tolist() == rows
    assert result.quarantine["rule"].tolist() == [rule] * len(rows)
    assert result.rule_counts == {rule: len(rows)}
    assert result.n_clean == 10 - len(rows)
    kept = [i for i in range(10) if i not in rows]
    assert result.clean["event_id"].tolist() == log["event_id"].astype(str).iloc[kept].tolist()
    failed = result.results.set_index("expectation").loc[rule]
    assert not failed["success"] and failed["unexpected_count"] >= len(rows)


def test_first_copy_of_a_duplicated_event_id_is_kept() -> None:
    log = make_log(10)
    _duplicate_event_id(log)
    result = run_gate(log, POLICY)
    assert "e2" in result.clean["event_id"].tolist()
    assert result.clean["event_id"].is_unique
    # GX's own count covers every copy; the quarantine holds only the later ones.
    assert result.results.set_index("expectation").loc["event_id unique", "unexpected_count"] == 3


def test_a_row_breaking_several_rules_appears_once_with_all_of_them() -> None:
    log = make_log(10)
    log.loc[4, ["click", "position", "propensity"]] = [2, -3, 0.0]
    log.loc[7, "user_id"] = None
    result = run_gate(log, POLICY)
    assert result.quarantine["row_number"].tolist() == [4, 7]
    assert result.quarantine["rule"].tolist() == [
        "click in {0,1}; position >= 0; propensity in (0,1]",
        "user_id not null",
    ]
    assert result.rule_counts == {
        "user_id not null": 1,
        "click in {0,1}": 1,
        "position >= 0": 1,
        "propensity in (0,1]": 1,
    }
    assert (result.n_clean, result.n_quarantined) == (8, 2)


def test_row_json_is_the_input_row_verbatim() -> None:
    log = make_log(5)
    log.index = ["a", "b", "c", "d", "e"]  # row_number is the position, whatever the index
    log.loc["d", ["position", "item_text"]] = [-1, None]
    before = log.copy()
    quarantine = run_gate(log, POLICY).quarantine
    pd.testing.assert_frame_equal(log, before)  # the caller's frame is left alone
    assert quarantine["row_number"].tolist() == [3]
    row = json.loads(quarantine.loc[0, "row_json"])
    assert list(row) == list(log.columns)
    assert row["position"] == -1 and row["item_text"] is None
    assert row["event_id"] == "e3" and row["ts"] == log.loc["d", "ts"]
    assert row["propensity"] == log.loc["d", "propensity"]  # full float precision


def test_numbers_read_from_text_are_judged_row_by_row() -> None:
    # A CSV column with one stray value arrives as strings throughout.
    log = make_log(6)
    log["position"] = ["0", "1", "n/a", "2", "1", "0"]
    log["click"] = ["1", "0", "1", "0", "1", "0"]
    result = run_gate(log, POLICY)
    assert result.quarantine["row_number"].tolist() == [2]
    assert result.quarantine["rule"].tolist() == ["position >= 0; position is an integer"]
    assert result.clean["position"].tolist() == [0, 1, 2, 1, 0]
    assert result.clean["click"].tolist() == [1, 0, 0, 1, 0]


def test_optional_columns_are_checked_only_when_present() -> None:
    log = make_log(5).drop(columns=["position", "propensity", "policy"])
    result = run_gate(log, GateConfig())
    assert result.n_clean == 5
    checked = set(result.results["expectation"])
    assert "position >= 0" not in checked and "propensity in (0,1]" not in checked
    assert {"event_id unique", "ts parseable", "click in {0,1}", "user_id not null"} <= checked


def _mixed_log() -> tuple[pd.DataFrame, dict[str, int]]:
    """2000 rows, 60 (3%) broken: 12 each by five rules."""
    log = make_log(2000, seed=1)
    rows = np.random.default_rng(2).choice(2000, size=60, replace=False)
    log.loc[rows[0:12], "click"] = 2
    log.loc[rows[12:24], "position"] = -1
    log.loc[rows[24:36], "propensity"] = 0.0
    log.loc[rows[36:48], "user_id"] = None
    log.loc[rows[48:60], "ts"] = "yesterday"
    counts = {
        "user_id not null": 12,
        "ts parseable": 12,
        "click in {0,1}": 12,
        "position >= 0": 12,
        "propensity in (0,1]": 12,
    }
    return log, counts


def test_mixed_log_splits_every_row_exactly_once_and_enforce_stops_it() -> None:
    log, counts = _mixed_log()
    result = run_gate(log, POLICY)
    assert result.n_in == 2000 == result.n_clean + result.n_quarantined
    assert result.n_quarantined == 60 and result.rule_counts == counts
    quarantined = set(result.quarantine["row_number"])
    kept = set(log.index[log["event_id"].isin(result.clean["event_id"])])
    assert quarantined.isdisjoint(kept) and quarantined | kept == set(range(2000))
    assert result.rejected_share == pytest.approx(0.03)

    with pytest.raises(
        GateFailed,
        match=(
            r"3\.0% of 2000 rows were rejected \(threshold 1\.0%\): user_id not null: 12 rows; "
            r"ts parseable: 12 rows; click in \{0,1\}: 12 rows; position >= 0: 12 rows; "
            r"propensity in \(0,1\]: 12 rows\. Inspect them with SELECT \* FROM quarantine "
            r"WHERE run_id = 'r-42'.*raise --max-rejected-share \(max_rejected_share\)"
        ),
    ):
        enforce(result, POLICY, run_id="r-42")
    enforce(result, GateConfig(treatment="policy", max_rejected_share=0.05))


def test_enforce_prints_enough_decimals_to_tell_share_from_threshold() -> None:
    log = make_log(1000)
    log.loc[:10, "click"] = 2  # 11 rows: 1.1%
    result = run_gate(log, POLICY)
    with pytest.raises(
        GateFailed, match=r"^1\.1% of 1000 rows were rejected \(threshold 1\.0%\): click in \{0,1\}: 11 rows\."
    ):
        enforce(result, POLICY)
    with pytest.raises(GateFailed, match=r"^1\.10% of 1000 rows were rejected \(threshold 1\.08%\)"):
        enforce(result, GateConfig(treatment="policy", max_rejected_share=0.0108))
    enforce(result, GateConfig(treatment="policy", max_rejected_share=0.011))  # at the threshold: passes


def test_missing_required_column_is_a_dataset_error_naming_it() -> None:
    log = make_log(5).drop(columns=["user_id"])
    log.loc[0, "click"] = 7  # row-level problems wait until the dataset itself is sound
    with pytest.raises(
        DatasetError, match=r"lacks required column\(s\) \['user_id'\]; found columns \['event_id', 'ts',.*column_map"
    ):
        run_gate(log, GateConfig())
    with pytest.raises(DatasetError, match=r"\['policy'\]"):
        check_dataset(make_log(5).drop(columns=["policy"]), POLICY)
    with pytest.raises(DatasetError, match=r"\['conversion'\]"):
        run_gate(make_log(5), GateConfig(outcomes=("click", "conversion")))


def test_empty_log_is_a_dataset_error() -> None:
    with pytest.raises(DatasetError, match="0 rows"):
        run_gate(make_log(5).iloc[:0], POLICY)
    with pytest.raises(DatasetError, match="0 rows"):
        run_gate(pd.DataFrame(), GateConfig())


def test_repeated_column_name_is_a_dataset_error() -> None:
    log = make_log(3)
    log.columns = [*log.columns[:8], "user_id", *log.columns[9:]]  # user_age renamed onto user_id
    with pytest.raises(DatasetError, match=r"more than one column named 'user_id'; give each column its own.*--map"):
        run_gate(log, POLICY)


def test_results_hold_one_row_per_expectation() -> None:
    log = make_log(10)
    log.loc[[1, 2], "click"] = 3
    result = run_gate(log, POLICY)
    results = result.results
    assert list(results.columns) == ["expectation", "column", "success", "observed_value", "unexpected_count"]
    assert results["expectation"].is_unique
    row = results.set_index("expectation").loc["click in {0,1}"]
    assert (row["column"], bool(row["success"]), int(row["unexpected_count"])) == ("click", False, 2)
    assert json.loads(row["observed_value"])["examples"] == [3, 3]
    assert results.set_index("expectation").loc["position >= 0", "success"]


def test_suite_names_every_rule_once() -> None:
    suite = build_suite(GateConfig(outcomes=("click", "purchase"), treatment="strategy"))
    names = [rule_name(e) for e in suite.expectations]
    assert len(names) == len(set(names))
    assert {
        "event_id exists",
        "strategy not null",
        "user_id not null",
        "event_id unique",
        "ts parseable",
        "click in {0,1}",
        "purchase in {0,1}",
        "position >= 0",
        "position is an integer",
        "propensity in (0,1]",
    } <= set(names)
    without = build_suite(GateConfig(), columns=["event_id", "ts", "user_id", "item_id", "click"])
    assert not any(rule_name(e).startswith(("position", "propensity")) for e in without.expectations)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_rejected_share": 1.0}, r"\[0, 1\)"),
        ({"max_rejected_share": -0.1}, r"\[0, 1\)"),
        ({"max_rejected_share": float("nan")}, r"\[0, 1\)"),
        ({"outcomes": ()}, "at least one outcome"),
        ({"outcomes": "click"}, r"outcomes=\('click',\)"),
        ({"outcomes": ("click", "click")}, "twice"),
        ({"outcomes": ("position",)}, "rules of their own"),
        ({"treatment": "click"}, "already an outcome"),
    ],
)
def test_gate_config_rejects_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GateConfig(**kwargs)  # type: ignore[arg-type]
