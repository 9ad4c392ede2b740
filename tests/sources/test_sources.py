"""Loaders on the real Open Bandit sample rows and on user tables."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

import sources
from tests.conftest import OBD


def _raw_rows(policy: str) -> list[dict[str, str]]:
    with open(OBD / policy / "all" / "all.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_obd_maps_policies_clicks_and_positions(obd_log):
    assert len(obd_log) == 20_000
    clicks = obd_log.groupby("policy")["click"].agg(["sum", "count"])
    # The numbers the two CSVs give directly (NOTICE.md): 38 and 42 clicks in 10,000 rows each.
    assert clicks.loc["random"].tolist() == [38, 10_000]
    assert clicks.loc["bts"].tolist() == [42, 10_000]
    assert set(obd_log["position"]) == {0, 1, 2}
    assert obd_log["event_id"].is_unique
    assert (obd_log.loc[obd_log.policy == "random", "propensity"] == 0.0125).all()


def test_obd_row_matches_the_raw_csv(obd_log):
    raw = _raw_rows("bts")
    row = obd_log[obd_log.event_id == "bts-all-17"].iloc[0]
    src = raw[17]
    assert row["item_id"] == src["item_id"]
    assert row["position"] == int(src["position"]) - 1
    assert row["propensity"] == pytest.approx(float(src["propensity_score"]))
    assert row["user_item_affinity"] == pytest.approx(float(src[f"user-item_affinity_{src['item_id']}"]))
    assert row["user_feature_2"] == src["user_feature_2"]
    assert row["ts"] == pd.Timestamp(src["timestamp"])


def test_obd_says_what_it_dropped():
    loaded = sources.load_obd(OBD)
    assert "user-item_affinity" in loaded.notes
    assert len(loaded.data_hash) == 64


def test_obd_missing_directory_names_expected_layout(tmp_path):
    with pytest.raises(sources.SourceError, match=r"expected DIR/<policy>/<campaign>/<campaign>.csv"):
        sources.load_obd(tmp_path)


def test_table_with_column_map_csv_and_parquet(tmp_path, obd_slice):
    theirs = obd_slice.rename(columns={"event_id": "impression_id", "click": "clicked"})
    theirs.to_csv(tmp_path / "log.csv", index=False)
    theirs.to_parquet(tmp_path / "log.parquet", index=False)
    mapping = {"impression_id": "event_id", "clicked": "click"}
    for name in ("log.csv", "log.parquet"):
        loaded = sources.load_table(tmp_path / name, column_map=mapping)
        assert {"event_id", "click"} <= set(loaded.frame.columns)
        assert loaded.frame["click"].sum() == obd_slice["click"].sum()
        assert len(loaded.frame) == len(obd_slice)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.csv", "is empty"),
        (b"event_id,ts\n", "header_only.csv", "no rows"),
        (b"\x00\x01not parquet", "broken.parquet", "cannot read"),
        (b"a,b", "log.json", "unknown suffix"),
    ],
)
def test_table_unreadable_files_fail_naming_the_problem(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(sources.SourceError, match=message):
        sources.load_table(path)


def test_table_mapping_of_absent_column_is_refused(tmp_path, obd_slice):
    obd_slice.to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(sources.SourceError, match=r"column mapping names \['clicked'\]"):
        sources.load_table(tmp_path / "log.csv", column_map={"clicked": "click"})
