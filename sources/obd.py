"""Loader for the Open Bandit Dataset layout (DIR/<policy>/<campaign>/<campaign>.csv + item_context.csv)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from sources.base import Dropped, LoadedLog, SourceError, hash_files

USER_FEATURES = ("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3")


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SourceError(
            f"Open Bandit log {str(path)!r} not found; expected DIR/<policy>/<campaign>/<campaign>.csv "
            "(e.g. data/obd-sample/random/all/all.csv)"
        )
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {str(path)!r} as CSV: {exc}") from exc
    if frame.empty:
        raise SourceError(f"{str(path)!r} holds no rows")
    return frame


def load_obd(root: str | Path, policies: tuple[str, ...] = ("random", "bts"), campaign: str = "all") -> LoadedLog:
    """Read the logs of `policies` for one campaign and map them onto the canonical log.

    The policy a row was logged under becomes the treatment column `policy`; positions become
    0-based; the user's four hashed features hash into `user_id` (OBD has no user id).
    """
    root = Path(root)
    logs = [root / p / campaign / f"{campaign}.csv" for p in policies]
    context_path = root / policies[0] / campaign / "item_context.csv"
    frames = []
    for policy, path in zip(policies, logs):
        raw = _read_csv(path)
        raw = (
            raw.rename(columns={raw.columns[0]: "row"})
            if raw.columns[0].startswith("Unnamed")
            else raw.assign(row=np.arange(len(raw)))
        )
        raw["policy"] = policy
        frames.append(raw)
    raw = pd.concat(frames, ignore_index=True)

    affinity_cols = [c for c in raw.columns if c.startswith("user-item_affinity_")]
    item_ids = raw["item_id"].to_numpy()
    affinity = raw[affinity_cols].to_numpy()
    shown_affinity = affinity[np.arange(len(raw)), item_ids] if affinity_cols else np.full(len(raw), np.nan)

    user_key = raw[USER_FEATURES[0]].astype(str)
    for col in USER_FEATURES[1:]:
        user_key = user_key + "|" + raw[col].astype(str)
    frame = pd.DataFrame(
        {
            "event_id": raw["policy"] + "-" + campaign + "-" + raw["row"].astype(str),
            "ts": pd.to_datetime(raw["timestamp"], utc=True, format="ISO8601"),
            "user_id": user_key.map(lambda k: hashlib.sha1(k.encode()).hexdigest()[:12]),
            "item_id": raw["item_id"].astype(str),
            "policy": raw["policy"],
            "position": raw["position"].astype("int64") - 1,
            "propensity": raw["propensity_score"].astype("float64"),
            "click": raw["click"].astype("int64"),
            **{c: raw[c].astype(str) for c in USER_FEATURES},
            "user_item_affinity": shown_affinity,
        }
    )
    frame["partition"] = frame["ts"].dt.strftime("%Y-%m-%d")

    context = _read_csv(context_path)
    item_cols = [c for c in context.columns if c.startswith("item_feature_")]
    context = context.assign(item_id=context["item_id"].astype(str))[["item_id", *item_cols]]
    frame = frame.merge(context, on="item_id", how="left", validate="many_to_one")

    dropped = (
        Dropped("leading index column", "kept as the suffix of event_id"),
        Dropped(
            f"{len(affinity_cols)} user-item_affinity_k columns",
            "one column per catalogue item; only the shown item's value is kept, as user_item_affinity",
        ),
        Dropped(
            "item_context.csv of the other policies",
            f"their hashed item features are salted per file; {policies[0]}'s context is used for all rows "
            "(item_feature_0 is identical across files)",
        ),
        Dropped(
            "user id", "OBD logs none; user_id is a hash of the four user features, so users sharing them share an id"
        ),
    )
    return LoadedLog(
        frame=frame, source=f"obd:{root.name}/{campaign}", data_hash=hash_files([*logs, context_path]), dropped=dropped
    )
