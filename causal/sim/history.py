"""Each simulated user's real MovieLens rating history as timestamped text, for text-derived user features."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from causal.sim.simulator import DEFAULT_DATA


def user_history(data_dir: Path = DEFAULT_DATA, user_ids: Iterable[object] | None = None) -> pd.DataFrame:
    """DataFrame[user_id (str), ts (UTC), text (str)]: one row per rating, as "title | genres | tags".

    ts is the rating's real timestamp (1996-2018, all before the simulated log's 2024-03-01 start); tags are
    the user's own tags on that film, comma-joined, and the " | tags" part is left out when there are none
    (or when the folder has no tags.csv). Rows run by user in the order of `user_ids` (all users when None),
    then by time. A user id with no ratings is an error, so a typo cannot pass as an empty history.
    """
    data_dir = Path(data_dir)
    ratings_path, movies_path, tags_path = (data_dir / f"{n}.csv" for n in ("ratings", "movies", "tags"))
    for path in (ratings_path, movies_path):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing; point data_dir at a MovieLens folder holding ratings.csv and movies.csv"
            )
    ratings = pd.read_csv(ratings_path, usecols=["userId", "movieId", "timestamp"])
    movies = pd.read_csv(movies_path, usecols=["movieId", "title", "genres"])
    ratings["user_id"] = ratings["userId"].astype(str)
    wanted = sorted(ratings["user_id"].unique(), key=int) if user_ids is None else [str(u) for u in user_ids]
    unknown = sorted(set(wanted) - set(ratings["user_id"]))
    if unknown:
        raise ValueError(f"user ids {unknown[:5]} have no ratings in {ratings_path}; pass the log's user_id values")
    ratings = ratings[ratings["user_id"].isin(wanted)]

    rows = ratings.merge(movies, on="movieId", how="inner")  # ratings of films missing from movies.csv go
    text = rows["title"] + " | " + rows["genres"]
    if tags_path.exists():
        tags = pd.read_csv(tags_path, usecols=["userId", "movieId", "tag"]).dropna()
        tags = tags.groupby(["userId", "movieId"])["tag"].agg(lambda t: ", ".join(map(str, t))).rename("tags")
        joined = rows.join(tags, on=["userId", "movieId"])["tags"]
        text = text.where(joined.isna(), text + " | " + joined)
    order = {u: k for k, u in enumerate(dict.fromkeys(wanted))}
    out = pd.DataFrame(
        {
            "user_id": rows["user_id"].astype(object),
            "ts": pd.to_datetime(rows["timestamp"], unit="s", utc=True),
            "text": text.astype(object),
            "_order": rows["user_id"].map(order),
            "_movie": rows["movieId"],
        }
    )
    out = out.sort_values(["_order", "ts", "_movie"], kind="stable").drop(columns=["_order", "_movie"])
    return out.reset_index(drop=True)
