"""The gate's rules on optional features, control characters, future and epoch timestamps: both gates alike."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from causal.config import CausalConfig
from causal.network.discretize import MISSING, discretize
from expectations import DatasetError, GateConfig, GateFailed, GateResult, enforce, run_file_gate, run_gate
from expectations.scan import FileGateResult
from sources import count_cells
from tests.expectations.test_expectations import POLICY, make_log
from tests.expectations.test_gate_scale import _assert_same_split, _write

NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)  # the time of validation, pinned


def _both(
    log: pd.DataFrame, config: GateConfig, tmp_path: Path, *, exact: bool = True
) -> tuple[GateResult, FileGateResult]:
    """The pandas gate's and the file gate's verdicts on the log written as Parquet; they must agree."""
    path = _write(log, tmp_path / "log.parquet")
    want = run_gate(pd.read_parquet(path), config, now=NOW)
    got = run_file_gate(path, config, tmp_path / "out", now=NOW)
    _assert_same_split(got, want)
    return want, got


def _with_features(n: int = 40) -> pd.DataFrame:
    log = make_log(n)
    log["user_activity"] = np.where(np.arange(n) % 10 == 3, np.nan, np.arange(n) % 4)  # rows 3, 13, 23, 33
    log["item_genre"] = pd.Series(["drama", "comedy"] * (n // 2), dtype=object)
    log.loc[5, "item_genre"] = None
    log.loc[[7, 8], "item_text"] = None  # free text may be missing
    return log


def test_nulls_in_optional_features_are_quarantined_by_name(tmp_path: Path) -> None:
    want, got = _both(_with_features(), POLICY, tmp_path)
    assert want.quarantine["row_number"].tolist() == [3, 5, 13, 23, 33]
    assert (
        want.quarantine["rule"].tolist()
        == ["user_activity not null", "item_genre not null"] + ["user_activity not null"] * 3
    )
    assert want.rule_counts == {"user_activity not null": 4, "item_genre not null": 1}
    assert (got.n_in, got.n_clean, got.n_quarantined) == (40, 35, 5)


def test_missing_as_state_keeps_the_nulls_that_the_network_then_names_missing(tmp_path: Path) -> None:
    config = GateConfig(treatment="policy", missing_as_state=("user_activity",))
    want, got = _both(_with_features(), config, tmp_path)
    assert want.rule_counts == {"item_genre not null": 1}  # only the column named keeps its nulls
    clean = pd.read_parquet(got.clean_path)
    assert int(clean["user_activity"].isna().sum()) == 4
    causal = CausalConfig(treatment="policy", outcome="click")
    levels = discretize(clean, causal).data["user_activity"]  # the in-memory network
    assert int((levels == MISSING).sum()) == 4
    cells = count_cells(got.clean_path, causal, work_dir=tmp_path)  # the out-of-core network counts
    assert int(cells.weights[(cells.data["user_activity"] == MISSING).to_numpy()].sum()) == 4


def test_enforce_names_the_flag_that_keeps_feature_nulls() -> None:
    log = _with_features()
    result = run_gate(log, POLICY, now=NOW)
    with pytest.raises(GateFailed, match=r"--missing-as-state user_activity --missing-as-state item_genre\.$"):
        enforce(result, POLICY)
    broken = make_log(40)
    broken.loc[:5, "click"] = 2
    with pytest.raises(GateFailed) as caught:
        enforce(run_gate(broken, POLICY, now=NOW), POLICY)
    assert "missing-as-state" not in str(caught.value)  # no feature nulls: no hint


def test_missing_as_state_must_name_feature_columns_of_the_log() -> None:
    with pytest.raises(DatasetError, match=r"missing_as_state names \['user_activty'\], which the log does not have"):
        run_gate(_with_features(), GateConfig(treatment="policy", missing_as_state=("user_activty",)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"missing_as_state": "user_age"}, r"missing_as_state=\('user_age',\)"),
        ({"missing_as_state": ("user_id",)}, r"'user_id', which is not a feature column"),
        ({"missing_as_state": ("item_text",)}, r"'item_text', which is not a feature column"),
        ({"missing_as_state": ("strategy",), "treatment": "strategy"}, r"'strategy', a treatment or outcome"),
        ({"missing_as_state": ("user_a", "user_a")}, "names a column twice"),
        ({"future_tolerance_s": -1}, r"future_tolerance_s must be >= 0, got -1"),
        ({"future_tolerance_s": float("inf")}, r"a number of seconds >= 0, got inf"),
        ({"future_tolerance_s": True}, r"got True"),
    ],
)
def test_gate_config_rejects_bad_state_and_tolerance_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GateConfig(**kwargs)  # type: ignore[arg-type]


def test_control_characters_are_quarantined_where_they_would_make_arms_or_ids(tmp_path: Path) -> None:
    log = make_log(12)
    log["item_id"] = log["item_id"].astype(str)
    log["user_segment"] = "casual"
    log.loc[1, "policy"] = "bts\x00"  # would be an arm beside "bts"
    log.loc[2, "item_id"] = "7\x7f"
    log.loc[3, "user_segment"] = "casual\t"  # a tab is no value of a feature
    log.loc[4, "item_text"] = "line one\nline two\tand a tab\r\n"  # free text: fine
    log.loc[5, "item_text"] = "cut\x00off"
    log.loc[6, "user_id"] = "u\x1b[31m"  # an ANSI escape
    want, _ = _both(log, POLICY, tmp_path)
    assert dict(zip(want.quarantine["row_number"], want.quarantine["rule"])) == {
        1: "policy has no control characters",
        2: "item_id has no control characters",
        3: "user_segment has no control characters",
        5: "item_text has no control characters",
        6: "user_id has no control characters",
    }
    kept = want.clean.set_index("event_id")["item_text"]
    assert kept["e4"] == "line one\nline two\tand a tab\r\n"
    row = json.loads(want.quarantine["row_json"][0])
    assert row["policy"] == "bts\x00"  # kept verbatim for inspection


@pytest.mark.slow  # both gates on several logs: the full suite runs it
def test_timestamps_past_the_tolerance_are_quarantined(tmp_path: Path) -> None:
    log = make_log(6)
    log.loc[1, "ts"] = "2104-06-01T00:00:00Z"  # 80 years ahead
    log.loc[2, "ts"] = "2024-06-01T23:59:59.999999Z"  # within a day of NOW
    log.loc[3, "ts"] = "2024-06-02T00:00:00Z"  # exactly a day: still accepted
    log.loc[4, "ts"] = "2024-06-02T00:00:00.000001Z"  # a microsecond more
    want, _ = _both(log, POLICY, tmp_path)
    assert want.quarantine["row_number"].tolist() == [1, 4]
    assert set(want.quarantine["rule"]) == {"ts not in the future"}
    strict = GateConfig(treatment="policy", future_tolerance_s=0)
    assert run_gate(log, strict, now=NOW).quarantine["row_number"].tolist() == [1, 2, 3, 4]


def _epoch_log(ts: pd.Series) -> pd.DataFrame:
    log = make_log(len(ts))
    log["ts"] = ts.to_numpy()
    return log


STAMPS = pd.Series(
    pd.to_datetime(["2024-03-01T10:00:00.123456Z", "2024-03-02T00:00:00Z", "2023-12-31T23:59:59Z"], format="ISO8601")
)


@pytest.mark.slow  # both gates on several logs: the full suite runs it
@pytest.mark.parametrize(
    ("numbers", "unit"),
    [
        (STAMPS.astype("datetime64[s, UTC]").astype("int64"), "seconds"),
        (STAMPS.astype("datetime64[ms, UTC]").astype("int64"), "milliseconds"),
        pytest.param(STAMPS.astype("datetime64[us, UTC]").astype("int64"), "microseconds", marks=pytest.mark.slow),
        pytest.param(STAMPS.astype("datetime64[ns, UTC]").astype("int64"), "nanoseconds", marks=pytest.mark.slow),
        (STAMPS.astype("datetime64[us, UTC]").astype("int64") / 1e6, "seconds"),  # float seconds with a fraction
    ],
    ids=["s", "ms", "us", "ns", "float-s"],
)
def test_epoch_numbers_are_read_in_the_unit_their_magnitude_says(numbers: pd.Series, unit: str, tmp_path: Path) -> None:
    want, got = _both(_epoch_log(numbers), POLICY, tmp_path)
    assert want.n_quarantined == 0
    expected = STAMPS.astype("datetime64[us, UTC]")
    if unit == "seconds" and numbers.dtype == np.int64:
        expected = expected.dt.floor("s")
    elif unit == "milliseconds":
        expected = expected.dt.floor("ms")
    assert want.clean["ts"].tolist() == expected.tolist()
    assert want.notes == got.notes == (f"ts: epoch {unit} (by magnitude), read as UTC times",)


@pytest.mark.slow  # both gates on several logs: the full suite runs it
def test_epoch_rows_out_of_the_unit_or_in_the_future_are_quarantined(tmp_path: Path) -> None:
    numbers = [1_709_287_200_000, 0, 1_709_287_260_000, 5_000_000_000_000, 1_709_287_320_000, -1]
    # 0 and -1 are sentinels, 5e12 ms is the year 2128; the other three are March 2024 in milliseconds
    log = _epoch_log(pd.Series(numbers, dtype="int64"))
    log.loc[4, "click"] = 2  # quarantined for its click: its ts goes into row_json as the number it was
    want, got = _both(log, POLICY, tmp_path)
    assert dict(zip(want.quarantine["row_number"], want.quarantine["rule"])) == {
        1: "ts parseable",
        3: "ts not in the future",
        4: "click in {0,1}",
        5: "ts parseable",
    }
    assert json.loads(want.quarantine["row_json"][2])["ts"] == 1_709_287_320_000
    assert want.clean["ts"].tolist() == [
        pd.Timestamp("2024-03-01T10:00", tz="UTC"),
        pd.Timestamp("2024-03-01T10:01", tz="UTC"),
    ]
    observed = json.loads(
        pd.read_parquet(got.results_path).set_index("expectation").loc["ts parseable", "observed_value"]
    )
    assert observed["read_as"] == "epoch milliseconds (by magnitude), read as UTC times"
    assert observed["examples"] == [0, -1]


@pytest.mark.parametrize(
    ("numbers", "match"),
    [
        (
            [1_709_287_200, 1_709_287_200_000, 1_709_287_260_000],
            r"^ts holds numbers of more than one epoch unit: 1 look like epoch seconds \(1e08 to 1e10\), 2 look like "
            r"epoch milliseconds \(1e11 to 1e13\); write ts in one unit, or as ISO 8601 strings",
        ),
        (
            [5, 17, 20_240_301],
            r"^ts holds numbers that are no epoch time .* \(e\.g\. 5, 17, 20240301\); write ts as ISO 8601",
        ),
    ],
    ids=["mixed units", "no unit"],
)
def test_epoch_columns_of_no_single_unit_are_refused_in_one_line(
    numbers: list[int], match: str, tmp_path: Path
) -> None:
    log = _epoch_log(pd.Series(numbers, dtype="int64"))
    path = _write(log, tmp_path / "log.parquet")
    with pytest.raises(DatasetError, match=match) as pandas_error:
        run_gate(log, POLICY)
    with pytest.raises(DatasetError, match=match) as file_error:
        run_file_gate(path, POLICY, tmp_path / "out")
    assert str(pandas_error.value) == str(file_error.value) and "\n" not in str(file_error.value)


def test_nan_in_a_row_group_with_no_null_is_missing_to_the_file_gate(tmp_path: Path) -> None:
    # DuckDB 2.0 skips the row groups whose min/max statistics (NaN left out) bound the column when isnan()
    # filters a Parquet scan; a NaN there read as a value before expectations.sql_rules.is_nan.
    log = make_log(8)
    scores = [0.1 + i / 16 for i in range(8)]  # distinct values: statistics with min < max
    scores[5] = float("nan")
    table = pa.Table.from_pandas(log, preserve_index=False)
    table = table.append_column("user_score", pa.array(scores, pa.float64(), from_pandas=False))
    pq.write_table(table, tmp_path / "log.parquet", row_group_size=4)
    got = run_file_gate(tmp_path / "log.parquet", POLICY, tmp_path / "out", now=NOW)
    assert pd.read_parquet(got.quarantine_path)[["row_number", "rule"]].values.tolist() == [[5, "user_score not null"]]
    assert got.rule_counts == {"user_score not null": 1}


def test_a_parquet_file_with_a_repeated_column_is_refused_in_one_line(tmp_path: Path) -> None:
    table = pa.Table.from_pandas(make_log(4), preserve_index=False)
    table = table.append_column("click", pa.array([0, 1, 0, 1]))
    pq.write_table(table, tmp_path / "log.parquet")
    with pytest.raises(DatasetError, match=r"has more than one column named 'click'; .*rename one of them") as caught:
        run_file_gate(tmp_path / "log.parquet", POLICY, tmp_path / "out")
    assert "\n" not in str(caught.value)


def test_a_log_whose_one_column_is_a_delimited_header_is_named_so() -> None:
    log = pd.DataFrame({"event_id;ts;user_id;item_id;click": ["e1;2024-01-01;u1;i1;1"]})
    with pytest.raises(
        DatasetError, match=r"the file is semicolon-delimited; .* --map FILE_COL=event_id \(column_map="
    ):
        run_gate(log, GateConfig())


def test_item_propensity_is_how_a_row_was_served_not_an_item_feature():
    from causal.policy.logged import _NOT_ITEM_FEATURES
    from expectations.config import feature_columns
    from scoring.text import EXCLUDED

    columns = ["item_id", "item_text", "item_propensity", "item_genres", "user_activity"]
    assert feature_columns(columns) == ("item_genres", "user_activity")
    assert "item_propensity" in EXCLUDED and "item_propensity" in _NOT_ITEM_FEATURES
