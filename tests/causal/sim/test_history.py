"""Users' rating histories as text: shape, time order before the log, tags, and the taste they reveal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal.sim.history import user_history
from causal.sim.simulator import SimulatorConfig, simulate

DATA = Path(__file__).resolve().parents[3] / "data" / "ml-latest-small"


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return simulate(SimulatorConfig(users=50, impressions=1_000, seed=7, taste_following=0.5), DATA).log


@pytest.fixture(scope="module")
def history(log) -> pd.DataFrame:
    return user_history(DATA, log["user_id"].unique())


def test_one_row_per_rating_all_before_the_log(log, history):
    assert list(history.columns) == ["user_id", "ts", "text"]
    assert isinstance(history["ts"].dtype, pd.DatetimeTZDtype) and str(history["ts"].dt.tz) == "UTC"
    assert pd.api.types.is_string_dtype(history["user_id"]) and pd.api.types.is_string_dtype(history["text"])
    ratings = pd.read_csv(DATA / "ratings.csv").assign(user_id=lambda r: r["userId"].astype(str))
    counts = ratings[ratings["user_id"].isin(log["user_id"])].groupby("user_id").size()
    pd.testing.assert_series_equal(history.groupby("user_id").size(), counts)
    assert history["ts"].max() < log["ts"].min()  # the whole history is pre-treatment
    assert (history.groupby("user_id")["ts"].apply(lambda t: t.is_monotonic_increasing)).all()


def test_text_is_title_genres_and_the_users_own_tags():
    history = user_history(DATA, ["2", 1])
    assert history["user_id"].iloc[0] == "2" and history["user_id"].iloc[-1] == "1"  # the order asked for
    assert set(history["user_id"]) == {"1", "2"}
    step_brothers = history[history["text"].str.startswith("Step Brothers (2008)")]
    assert step_brothers["text"].tolist() == ["Step Brothers (2008) | Comedy | funny, Highly quotable, will ferrell"]
    rated = pd.read_csv(DATA / "ratings.csv").query("userId == 2 and movieId == 60756")["timestamp"].iloc[0]
    assert step_brothers["ts"].iloc[0] == pd.Timestamp(int(rated), unit="s", tz="UTC")  # the rating's own time
    toy_story = history[(history["user_id"] == "1") & history["text"].str.startswith("Toy Story (1995)")]
    assert toy_story["text"].tolist() == ["Toy Story (1995) | Adventure|Animation|Children|Comedy|Fantasy"]  # no tags


def test_history_text_reveals_each_users_taste(log, history):
    """The confounder the log can leave out is readable from the text: the most-rated genre is the taste."""
    genres = history["text"].str.split(" | ", regex=False).str[1].str.split("|").explode()
    genres = genres[genres != "(no genres listed)"]
    counts = pd.crosstab(history.loc[genres.index, "user_id"].to_numpy(), genres.to_numpy())  # users x genres
    counts = counts.loc[:, sorted(counts.columns)]
    most = pd.Series(np.array(counts.columns)[counts.to_numpy().argmax(axis=1)], index=counts.index)
    taste = log.drop_duplicates("user_id").set_index("user_id")["user_taste"]
    buckets = set(taste) - {"other"}
    expected = most.where(most.isin(buckets), "other")
    assert len(taste) == 50 and (expected.loc[taste.index] == taste).all()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"user_ids": ["1", "99999"]}, ValueError, r"user ids \['99999'\] have no ratings"),
        ({"data_dir": Path("/nowhere")}, FileNotFoundError, r"ratings.csv is missing; point data_dir at a MovieLens"),
    ],
)
def test_history_errors_name_value_and_fix(kwargs, error, message):
    with pytest.raises(error, match=message):
        user_history(**{"data_dir": DATA, "user_ids": ["1"], **kwargs})
