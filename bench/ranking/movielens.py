"""MovieLens in the ml-latest-small layout: item texts and the leave-last-out split used to rank items per user."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
MAX_TAGS = 8  # most frequent tags per movie kept in its text


@dataclass(frozen=True)
class LeaveLastOut:
    """Per user, every rating in time order; the last is the test target and the one before it the val target.

    Items are the catalogue's movies (movies.csv) indexed 0..n_items-1; histories hold item indices.
    """

    movie_ids: np.ndarray  # (n_items,) movieId of each item index
    titles: list[str]
    genres: list[str]  # "Adventure|Comedy" as in movies.csv
    item_texts: list[str]  # title, genres and tags: what the backbone reads
    user_ids: np.ndarray  # (n_users,)
    histories: list[np.ndarray]  # per user: item indices, oldest first, the test item last
    ratings: list[np.ndarray]  # per user: the ratings of histories[u]

    @property
    def n_items(self) -> int:
        return int(self.movie_ids.size)

    @property
    def n_users(self) -> int:
        return int(self.user_ids.size)

    def train(self, u: int) -> np.ndarray:
        """Everything a model may learn from when it is tested: the history without the test item."""
        return self.histories[u][:-1]

    def test_item(self) -> np.ndarray:
        return np.array([h[-1] for h in self.histories], dtype=np.int64)

    def val_item(self) -> np.ndarray:
        return np.array([h[-2] for h in self.histories], dtype=np.int64)


def load_leave_last_out(data_dir: Path, min_ratings: int = 3) -> LeaveLastOut:
    """Read ratings.csv, movies.csv and (optional) tags.csv; users with fewer than min_ratings ratings are dropped.

    Ratings are ordered by (timestamp, movieId): MovieLens stamps many ratings of a session with the same second,
    and the movieId tie-break keeps "the last item" the same on every run.
    Tags a user applied to their own test item are left out of the item texts (they were written when the held-out
    rating was, and a model must not read them); every other tag stays.
    """
    data_dir = Path(data_dir)
    for name in ("ratings.csv", "movies.csv"):
        if not (data_dir / name).is_file():
            raise FileNotFoundError(
                f"{data_dir / name} is missing; --data must be a folder in the ml-latest-small layout "
                "(ratings.csv: userId,movieId,rating,timestamp; movies.csv: movieId,title,genres; tags.csv optional)"
            )
    movies = pd.read_csv(data_dir / "movies.csv")
    ratings = pd.read_csv(data_dir / "ratings.csv")
    ratings = ratings[ratings["movieId"].isin(movies["movieId"])]
    ratings = ratings.sort_values(["userId", "timestamp", "movieId"], kind="mergesort")
    counts = ratings.groupby("userId")["movieId"].transform("size")
    ratings = ratings[counts >= min_ratings]
    if ratings.empty:
        raise ValueError(
            f"no user in {data_dir} has {min_ratings}+ ratings; leave-last-out needs a train, val and test item"
        )

    movies = movies.sort_values("movieId").reset_index(drop=True)
    index = pd.Series(np.arange(len(movies)), index=movies["movieId"].to_numpy())
    items = index.loc[ratings["movieId"].to_numpy()].to_numpy()
    users = ratings["userId"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    histories = [items[a:b].astype(np.int64) for a, b in zip(bounds[:-1], bounds[1:])]
    rating_lists = [ratings["rating"].to_numpy()[a:b].astype(np.float32) for a, b in zip(bounds[:-1], bounds[1:])]
    user_ids = users[bounds[:-1]]

    held_out = set(zip(user_ids.tolist(), movies["movieId"].to_numpy()[[h[-1] for h in histories]].tolist()))
    tags = _tags_by_movie(data_dir / "tags.csv", held_out)
    titles = movies["title"].astype(str).tolist()
    genres = movies["genres"].astype(str).tolist()
    texts = [item_text(t, g, tags.get(int(m), [])) for t, g, m in zip(titles, genres, movies["movieId"])]
    return LeaveLastOut(
        movie_ids=movies["movieId"].to_numpy(),
        titles=titles,
        genres=genres,
        item_texts=texts,
        user_ids=user_ids,
        histories=histories,
        ratings=rating_lists,
    )


def item_text(title: str, genres: str, tags: list[str]) -> str:
    """`Toy Story (1995). Genres: Adventure, Animation. Tags: pixar, fun`: what the backbone reads about an item."""
    genre_list = [g for g in genres.split("|") if g and g != "(no genres listed)"]
    text = f"{title.strip()}. Genres: {', '.join(genre_list) or 'unknown'}."
    if tags:
        text += f" Tags: {', '.join(tags)}."
    return text


def _tags_by_movie(path: Path, held_out: set[tuple[int, int]]) -> dict[int, list[str]]:
    if not path.is_file():
        return {}
    tags = pd.read_csv(path)
    keep = [(u, m) not in held_out for u, m in zip(tags["userId"].tolist(), tags["movieId"].tolist())]
    tags = tags[keep].assign(tag=lambda d: d["tag"].astype(str).str.strip().str.lower())
    counts = tags.groupby(["movieId", "tag"]).size().reset_index(name="n")
    counts = counts.sort_values(["movieId", "n", "tag"], ascending=[True, False, True])
    return {int(m): g["tag"].head(MAX_TAGS).tolist() for m, g in counts.groupby("movieId")}
