"""The text each log row is scored from: user features [SEP] item features (or item_text), never the treatment."""

from __future__ import annotations

import math
import re
from collections.abc import Collection

import numpy as np
import pandas as pd

SEP = "[SEP]"
# Columns that identify a row or describe how it was served: an id token would let the scorer memorise rows,
# and the treatment, slot or logging probability would make the score a function of the intervention itself
# (the score is a node upstream of the outcome in the causal graph, so it must depend on user and item only).
EXCLUDED = frozenset(
    {
        "event_id",
        "ts",
        "user_id",
        "item_id",
        "item_text",
        "policy",
        "strategy",
        "position",
        "propensity",
        "item_propensity",
        "reason_shown",
        "partition",
    }
)
_HASH = re.compile(r"[0-9a-fA-F]{16,}")
_SPACE = re.compile(r"\s+")


def feature_columns(df: pd.DataFrame, exclude: Collection[str] = ()) -> tuple[list[str], list[str], list[str]]:
    """(user, item, user-item) feature columns in sorted order; anything that is not `user_*`/`item_*` is left out."""
    names = sorted(str(c) for c in df.columns if str(c) not in EXCLUDED and str(c) not in exclude)
    pair = [c for c in names if c.startswith("user_item_")]
    user = [c for c in names if c.startswith("user_") and c not in pair]
    item = [c for c in names if c.startswith("item_")]
    return user, item, pair


def row_texts(df: pd.DataFrame, exclude: Collection[str] = ()) -> list[str]:
    """One text per row, in row order: `user_* values [SEP] item_* and user_item_* values`, or `... [SEP] item_text`.

    Values become stable word tokens: hex hashes cut to 8 characters, floats rounded to 2 decimals, inner spaces
    of strings replaced by "_". Ids, outcome, treatment, position, propensity and time never appear; `exclude`
    names further columns to leave out (e.g. an outcome that happens to be called `user_*`).
    """
    user_part, item_part = row_parts(df, exclude)
    return [f"{u} {SEP} {i}".strip() for u, i in zip(user_part, item_part)]


def _serialise(df: pd.DataFrame, columns: list[str]) -> list[str]:
    if not columns:
        return [""] * len(df)
    per_column = [[f"{c} {_token(v)}" for v in df[c].tolist()] for c in columns]
    return [" ".join(parts) for parts in zip(*per_column)]


def _token(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "nan"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return f"{round(float(value), 2) + 0.0:.2f}"  # + 0.0 turns -0.00 into 0.00
    text = str(value).strip()
    if _HASH.fullmatch(text):
        return text[:8].lower()
    return _SPACE.sub("_", text) or "empty"


def _as_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def row_parts(df: pd.DataFrame, exclude: Collection[str] = ()) -> tuple[list[str], list[str]]:
    """(user side, item side) of every row's text: what row_texts joins with [SEP]."""
    user, item, pair = feature_columns(df, exclude)
    user_part = _serialise(df, user)
    if "item_text" in df.columns:
        item_part = [_SPACE.sub(" ", _as_text(v)).strip() for v in df["item_text"].tolist()]
    else:
        item_part = _serialise(df, item + pair)
    return user_part, item_part


def with_history(
    df: pd.DataFrame,
    user_part: list[str],
    item_part: list[str],
    outcome: str,
    n_items: int,
    token_budget: int,
    count_tokens,
) -> list[str]:
    """user_part followed by the user's earlier rows, newest first: `history: <item> clicked ; <item> skipped ; ...`.

    Only rows with a strictly earlier `ts` count (never the row itself or anything logged with or after it); at most
    n_items entries, and whole entries are dropped from the oldest end until the history fits token_budget tokens
    (count_tokens(text) -> int, the backbone tokenizer's count).
    """
    if "user_id" not in df.columns or "ts" not in df.columns:
        raise ValueError("history_items > 0 needs 'user_id' and 'ts' columns to know each user's earlier rows")
    ts = pd.to_datetime(df["ts"], utc=True).to_numpy()
    users = df["user_id"].astype(str).to_numpy()
    y = pd.to_numeric(df[outcome], errors="coerce").fillna(0).to_numpy()
    order = np.lexsort((np.arange(len(df)), ts, users))
    token_cache: dict[str, int] = {}
    out = list(user_part)
    start = 0
    for k in range(1, len(order) + 1):
        if k < len(order) and users[order[k]] == users[order[start]]:
            continue
        rows = order[start:k]  # one user's rows in time order
        for j, row in enumerate(rows):
            entries, used = [], 0
            for prev in rows[:j][::-1]:
                if ts[prev] >= ts[row]:
                    continue
                entry = f"{item_part[prev]} {'clicked' if y[prev] >= 1 else 'skipped'}"
                cost = token_cache.setdefault(entry, count_tokens(entry) + 1)  # + 1 for the ";" separator
                if len(entries) >= n_items or used + cost > token_budget:
                    break
                entries.append(entry)
                used += cost
            if entries:
                out[row] = f"{user_part[row]} history: {' ; '.join(entries)}".strip()
        start = k
    return out
