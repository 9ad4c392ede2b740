"""The real MovieLens catalogue the simulator draws on: users' activity, taste and profile, items' relevance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Catalogue:
    """The real MovieLens data the simulator draws on, as arrays indexed by user and item position."""

    user_ids: np.ndarray  # (U,) real userId of every user in ratings.csv
    activity: np.ndarray  # (U,) index into ACTIVITY
    taste: np.ndarray  # (U,) taste bucket name
    seen: np.ndarray  # (U, I) bool: the user rated the item
    genre_profile: np.ndarray  # (U, G) user genre profile (unit rows)
    item_ids: np.ndarray  # (I,) movieId
    item_genres_mat: np.ndarray  # (I, G) unit rows (zeros for no genres)
    titles: np.ndarray
    genres: np.ndarray
    relevance_item: np.ndarray  # (I,) item part of rel: 1.5·(quality − 3.5) + 0.5·pop
    popularity: np.ndarray  # (I,) rating count
    taste_buckets: tuple[str, ...] = ()  # the common genres that name taste buckets, most common first ("other" aside)


def load_catalogue(data_dir: Path) -> Catalogue:
    """Read ratings.csv and movies.csv from `data_dir`: users' activity, taste and genre profile, items' relevance."""
    ratings_path, movies_path = data_dir / "ratings.csv", data_dir / "movies.csv"
    for path in (ratings_path, movies_path):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing; point --data at a MovieLens folder holding ratings.csv and movies.csv"
            )
    ratings = pd.read_csv(ratings_path, usecols=["userId", "movieId", "rating"])
    movies = pd.read_csv(movies_path)
    item_ids = movies["movieId"].to_numpy()
    item_index = pd.Series(np.arange(len(item_ids)), index=item_ids)
    ratings = ratings[ratings["movieId"].isin(item_index.index)]
    user_ids = np.sort(ratings["userId"].unique())
    user_index = pd.Series(np.arange(len(user_ids)), index=user_ids)
    ui = user_index[ratings["userId"]].to_numpy()
    ii = item_index[ratings["movieId"]].to_numpy()
    n_users, n_items = len(user_ids), len(item_ids)
    seen = np.zeros((n_users, n_items), dtype=bool)
    seen[ui, ii] = True

    genre_lists = movies["genres"].fillna("").str.split("|")
    vocab = sorted({g for gs in genre_lists for g in gs if g and g != "(no genres listed)"})
    gpos = {g: k for k, g in enumerate(vocab)}
    item_genres_mat = np.zeros((n_items, len(vocab)))
    for row, gs in enumerate(genre_lists):
        for g in gs:
            if g in gpos:
                item_genres_mat[row, gpos[g]] = 1.0
    genre_counts = seen.astype(float) @ item_genres_mat  # (U, G) how many rated films of each genre
    norm = np.linalg.norm(item_genres_mat, axis=1, keepdims=True)
    item_unit = np.divide(item_genres_mat, norm, out=np.zeros_like(item_genres_mat), where=norm > 0)
    unorm = np.linalg.norm(genre_counts, axis=1, keepdims=True)
    profile = genre_counts / np.maximum(unorm, 1e-12)

    counts = seen.sum(axis=1)
    activity = np.searchsorted(np.quantile(counts, [1 / 3, 2 / 3]), counts, side="right")
    top = np.array(vocab)[genre_counts.argmax(axis=1)]
    common = pd.Series(top).value_counts().index[:3]
    taste = np.where(np.isin(top, common), top, "other")
    # Buckets keep the names the simulator's _TASTE_RETURN uses where the data agree (Drama, Comedy, Action here)

    n_ratings = np.bincount(ii, minlength=n_items).astype(float)
    sum_ratings = np.bincount(ii, weights=ratings["rating"].to_numpy(), minlength=n_items)
    quality = (sum_ratings + 3.5 * 5) / (n_ratings + 5)  # shrunk towards 3.5 with 5 pseudo-ratings
    logpop = np.log1p(n_ratings)
    pop = (logpop - logpop.mean()) / logpop.std()
    return Catalogue(
        user_ids=user_ids,
        activity=activity,
        taste=taste,
        seen=seen,
        genre_profile=profile,
        item_ids=item_ids,
        item_genres_mat=item_unit,
        titles=movies["title"].to_numpy(dtype=object),
        genres=movies["genres"].to_numpy(dtype=object),
        relevance_item=1.5 * (quality - 3.5) + 0.5 * pop,
        popularity=n_ratings,
        taste_buckets=tuple(str(g) for g in common),
    )
