"""Logged bandit feedback as arrays (one row per impression slot) and the builder from the canonical log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from causal.network.discretize import user_feature_columns
from common.values import item_name

_NOT_CONTEXT_PREFIXES = ("user_item_",)  # user x item quantities: unknown for items the row did not show


class OPEError(ValueError):
    """An estimator cannot apply to this log and policy (the message says which rule, the value, the fix)."""


@dataclass(frozen=True, eq=False)
class BanditLog:
    """Logged bandit feedback as arrays: one row per impression slot."""

    action: np.ndarray  # (n,) int64 index into items
    position: np.ndarray  # (n,) int64 0-based slot
    reward: np.ndarray  # (n,) float64
    pscore: np.ndarray | None  # (n,) logger's P(item a in slot k | x); None when the log has no propensity
    context: np.ndarray  # (n, d) float64 features of the row's user
    action_context: np.ndarray  # (n_actions, d_a) float64 features of each item
    items: tuple[str, ...]  # item_id of each action index
    len_list: int
    context_columns: tuple[str, ...] = ()
    outcome: str = "click"
    source_row: np.ndarray | None = None  # (n,) row of the log as built (bootstrap resamples repeat them); None: 0..n-1

    @property
    def rows(self) -> np.ndarray:
        """Each row's index in the log as `bandit_log` built it (scores computed for that log line up with it)."""
        return np.arange(self.n_rounds) if self.source_row is None else self.source_row

    @property
    def n_rounds(self) -> int:
        return int(self.action.shape[0])

    @property
    def n_actions(self) -> int:
        return len(self.items)

    def take(self, idx: np.ndarray) -> BanditLog:
        """The rows at `idx` (a bootstrap resample when idx repeats rows)."""
        return replace(
            self,
            action=self.action[idx],
            position=self.position[idx],
            reward=self.reward[idx],
            pscore=None if self.pscore is None else self.pscore[idx],
            context=self.context[idx],
            source_row=self.rows[idx],
        )


def bandit_log(
    df: pd.DataFrame,
    n_actions: int | None = None,
    *,
    items: Sequence[str] | None = None,
    outcome: str = "click",
    context_columns: Sequence[str] | None = None,
    len_list: int | None = None,
) -> BanditLog:
    """Arrays of the canonical log: action from item_id, slot from position, reward, pscore from propensity.

    Actions: item ids that are all integers 0..m are their own index (n_actions = m + 1 or the
    given n_actions, as obp counts OBD's items); otherwise the sorted distinct ids, or `items`
    when given (to align several logs and a policy). Context: the user features (`user_*` but not
    user_id or user_item_* columns, which describe the shown item and are unknown for the others),
    categorical ones one-hot with the first level dropped (obp's `pd.get_dummies(drop_first=True)`).
    Item features (`item_feature_*` and other `item_*` but item_id/item_text): categorical ones
    label-encoded, numeric ones as they are (obp's OBD preprocessing); one-hot item identity when
    some item has none.
    """
    for col in ("item_id", outcome):
        if col not in df.columns:
            raise OPEError(f"column {col!r} is not in the log; columns: {sorted(map(str, df.columns))}")
    if len(df) == 0:
        raise OPEError("the log has no rows; off-policy estimates need logged rows of the behaviour policy")
    ids = df["item_id"].map(item_name)
    if items is None:
        items = _default_items(ids, n_actions)
    items = tuple(str(i) for i in items)
    if n_actions is not None and n_actions != len(items):
        raise OPEError(f"n_actions is {n_actions} but the item list has {len(items)} items; pass matching values")
    index = {item: i for i, item in enumerate(items)}
    action = ids.map(index)
    if action.isna().any():
        unknown = sorted(set(ids[action.isna()]))[:5]
        raise OPEError(f"item ids {unknown} of the log are not in the item list ({len(items)} items); add them")
    action = action.to_numpy(dtype=np.int64)

    if "position" in df.columns:
        position = pd.to_numeric(df["position"], errors="raise").to_numpy()
        if np.isnan(position).any() or (position < 0).any() or not np.all(position == np.floor(position)):
            raise OPEError("position must hold 0-based integer slots for every row; fill or drop the others")
        position = position.astype(np.int64)
    else:
        position = np.zeros(len(df), dtype=np.int64)
    top = int(position.max()) + 1
    if len_list is None:
        len_list = top
    elif len_list < top:
        raise OPEError(f"len_list is {len_list} but the log uses slot {top - 1}; pass len_list >= {top}")

    reward = pd.to_numeric(df[outcome], errors="raise").to_numpy(dtype=float)
    if np.isnan(reward).any():
        raise OPEError(f"outcome {outcome!r} has {int(np.isnan(reward).sum())} missing values; drop those rows")

    pscore = None
    if "propensity" in df.columns and df["propensity"].notna().any():
        pscore = pd.to_numeric(df["propensity"], errors="coerce").to_numpy(dtype=float)

    if context_columns is None:
        context_columns = tuple(c for c in user_feature_columns(df) if not c.startswith(_NOT_CONTEXT_PREFIXES))
    context = _context_matrix(df, tuple(context_columns))
    return BanditLog(
        action=action,
        position=position,
        reward=reward,
        pscore=pscore,
        context=context,
        action_context=_action_context(df, ids, items),
        items=items,
        len_list=int(len_list),
        context_columns=tuple(context_columns),
        outcome=outcome,
    )


def _default_items(ids: pd.Series, n_actions: int | None) -> tuple[str, ...]:
    values = ids.unique()
    if all(v.isdigit() for v in values):
        m = max(int(v) for v in values) + 1
        if n_actions is not None:
            if n_actions < m:
                raise OPEError(f"n_actions is {n_actions} but the log shows item {m - 1}; pass n_actions >= {m}")
            m = n_actions
        return tuple(str(i) for i in range(m))
    return tuple(sorted(values))


def _context_matrix(df: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise OPEError(f"context columns {missing} are not in the log")
    blocks = []
    for col in columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            if s.isna().any():
                raise OPEError(f"context column {col!r} has missing values; fill or drop them")
            blocks.append(s.to_numpy(dtype=float)[:, None])
        else:
            dummies = pd.get_dummies(s.astype(str), drop_first=True, dtype=float)
            blocks.append(dummies.to_numpy())
    if not blocks:
        return np.zeros((len(df), 0))
    return np.hstack(blocks)


# how the item was served (the simulator's item-level logging probability) is no feature of the item
_NOT_ITEM_FEATURES = ("item_id", "item_text", "item_propensity")


def _action_context(df: pd.DataFrame, ids: pd.Series, items: tuple[str, ...]) -> np.ndarray:
    cols = [c for c in df.columns if isinstance(c, str) and c.startswith("item_") and c not in _NOT_ITEM_FEATURES]
    if not cols:
        return np.eye(len(items))
    per_item = df[cols].groupby(ids.to_numpy(), sort=False).first().reindex(list(items))
    if per_item.isna().any().any():
        return np.eye(len(items))  # some item was never shown: its features are unknown here
    blocks = []
    for col in cols:
        s = per_item[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            blocks.append(s.to_numpy(dtype=float)[:, None])
        else:
            _, codes = np.unique(s.astype(str).to_numpy(), return_inverse=True)  # sklearn LabelEncoder's codes
            blocks.append(codes.astype(float)[:, None])
    return np.hstack(blocks)
