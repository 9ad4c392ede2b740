"""A run's confidence sequence pools its experiment's earlier partitions from the stored ab_diff rows, once."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import store
from causal.effects.ab import ArmCounts
from causal.effects.sequential import confidence_sequence
from store.sequential import read_sequential, sequential_rows, write_sequential
from tests.store.sequential_log import ARMS, BASELINE, DAYS, add_run, fill_experiment


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("experiment") / "r.duckdb"
    fill_experiment(path)
    return path


@pytest.fixture
def db(filled: Path, tmp_path: Path) -> Path:
    """A copy per test: some tests add runs (filling the database once takes a second on a busy machine)."""
    return Path(shutil.copy(filled, tmp_path / "r.duckdb"))


def test_three_partitions_give_three_cumulative_looks_matching_the_sequence(db: Path) -> None:
    with store.connect(db) as con:
        rows = sequential_rows(con, f"r-{DAYS[2]}")
    assert set(rows.treatment_value) == {"content", "popular"} and set(rows.baseline_value) == {BASELINE}
    for value, looks in rows.groupby("treatment_value"):
        assert looks.look.tolist() == [1, 2, 3]
        assert looks.partition.tolist() == list(DAYS)
        assert looks.look_run_id.tolist() == [f"r-{d}" for d in DAYS]  # not the superseded, failed or other runs
        # Cumulative counts: look k holds days 1..k of both arms.
        assert looks.n_treatment.tolist() == np.cumsum([ARMS[d][value][0] for d in DAYS]).tolist()
        assert looks.n_control.tolist() == np.cumsum([ARMS[d][BASELINE][0] for d in DAYS]).tolist()
        # The same counts given straight to confidence_sequence, day by day, give the same bounds.
        increments = [(ArmCounts(*ARMS[d][value]), ArmCounts(*ARMS[d][BASELINE])) for d in DAYS]
        expected = confidence_sequence(increments, 0.05, increments=True)
        for column in ("estimate", "cs_low", "cs_high", "fixed_low", "fixed_high"):
            assert looks[column].tolist() == pytest.approx([getattr(x, column) for x in expected], rel=1e-12)
        assert (looks.cs_low < looks.fixed_low).all() and (looks.cs_high > looks.fixed_high).all()
    assert set(rows.method) == {"normal_mixture_cs"} and set(rows.alpha) == {0.05}
    assert set(rows.run_id) == {f"r-{DAYS[2]}"}


def test_a_middle_partition_looks_only_at_itself_and_earlier_ones(db: Path) -> None:
    with store.connect(db) as con:
        rows = sequential_rows(con, f"r-{DAYS[1]}")
    assert rows.groupby("treatment_value").partition.agg(list).map(tuple).tolist() == [DAYS[:2]] * 2


def test_a_whole_log_run_is_one_look_and_frames_read_like_the_database(db: Path) -> None:
    add_run(db, "whole", None, ARMS[DAYS[0]], finished=40)
    with store.connect(db) as con:
        from_db = sequential_rows(con, "whole", created_at=pd.Timestamp("2024-03-05", tz="UTC"))
        frames = (con.execute("SELECT * FROM runs").df(), con.execute("SELECT * FROM interventions").df())
    assert from_db.look.tolist() == [1, 1] and set(from_db.partition) == {"all"}
    from_frames = sequential_rows(frames, "whole", created_at=pd.Timestamp("2024-03-05", tz="UTC"))
    pd.testing.assert_frame_equal(from_frames, from_db)


def test_a_partition_without_counts_adds_no_look(db: Path) -> None:
    # Day 2 of popular is too thin to test (2 clicks): its ab_diff row stores no counts, so it cannot be pooled.
    add_run(db, f"r-{DAYS[1]}", DAYS[1], {**ARMS[DAYS[1]], "popular": (390, 2)}, finished=50)
    with store.connect(db) as con:
        rows = sequential_rows(con, f"r-{DAYS[2]}")
    popular = rows[rows.treatment_value == "popular"]
    assert popular.partition.tolist() == [DAYS[0], DAYS[2]]
    assert popular.n_treatment.tolist() == [ARMS[DAYS[0]]["popular"][0], 380 + 405]
    assert rows[rows.treatment_value == "content"].look.tolist() == [1, 2, 3]


def test_writing_twice_leaves_one_copy_and_other_runs_alone(db: Path) -> None:
    with store.connect(db) as con:
        first = write_sequential(con, f"r-{DAYS[1]}", sequential_rows(con, f"r-{DAYS[1]}"))
        n = write_sequential(con, f"r-{DAYS[2]}", sequential_rows(con, f"r-{DAYS[2]}"))
        again = write_sequential(con, f"r-{DAYS[2]}", sequential_rows(con, f"r-{DAYS[2]}"))
        counts = dict(con.execute("SELECT run_id, count(*) FROM sequential_looks GROUP BY run_id").fetchall())
        stored = read_sequential(con, f"r-{DAYS[2]}")
    assert (first, n, again) == (4, 6, 6)
    assert counts == {f"r-{DAYS[1]}": 4, f"r-{DAYS[2]}": 6}
    assert stored.look.tolist() == [1, 2, 3, 1, 2, 3]


def test_reading_a_database_without_the_table_gives_no_rows(tmp_path: Path) -> None:
    with store.connect(tmp_path / "empty.duckdb") as con:
        assert read_sequential(con, "any").empty


def test_an_unknown_run_is_named_with_the_fix(db: Path) -> None:
    with store.connect(db) as con, pytest.raises(ValueError, match=r"run 'nope' is not in the runs table.*store"):
        sequential_rows(con, "nope")


def test_rows_of_another_run_are_refused(db: Path) -> None:
    with store.connect(db) as con:
        rows = sequential_rows(con, f"r-{DAYS[2]}")
        with pytest.raises(ValueError, match=r"rows of runs \['r-2024-03-03'\] passed to write run 'x'"):
            write_sequential(con, "x", rows)


def test_pooled_runs_are_their_own_cumulative_looks_and_match_per_partition_runs(db: Path) -> None:
    # The same three days analysed as pooled runs (pool_since = the first day): each run's arms are the sums of the
    # days so far, so its ab_diff counts are already the look. Pooling them again would count day 1 three times.
    for k, day in enumerate(DAYS):
        sums = {v: tuple(sum(ARMS[d][v][i] for d in DAYS[: k + 1]) for i in (0, 1)) for v in ARMS[day]}
        add_run(db, f"p-{day}", day, sums, finished=100 + k, pool_since=DAYS[0])
    with store.connect(db) as con:
        per_day = sequential_rows(con, f"r-{DAYS[-1]}")
        pooled = sequential_rows(con, f"p-{DAYS[-1]}")
    same = ["treatment_value", "look", "partition", "n_treatment", "n_control", "estimate", "cs_low", "cs_high"]
    pd.testing.assert_frame_equal(per_day[same], pooled[same])
    assert list(pooled.look_run_id.unique()) == [f"p-{d}" for d in DAYS]  # only the runs pooling from that date
    assert set(per_day.look_run_id) == {f"r-{d}" for d in DAYS}


def test_cumulative_results_that_shrink_are_refused() -> None:
    from causal.effects.sequential import looks_from_ab

    grow = [{"n_t": 10, "n_c": 10, "mean_t": 0.2, "mean_c": 0.1}, {"n_t": 20, "n_c": 20, "mean_t": 0.2, "mean_c": 0.1}]
    assert looks_from_ab(grow, cumulative=True)[1].n_t == 20  # taken as they are, not summed (that would be 30)
    assert looks_from_ab(grow)[1].n_t == 30
    with pytest.raises(ValueError, match="cumulative results must pool nested ranges"):
        looks_from_ab(grow[::-1], cumulative=True)
