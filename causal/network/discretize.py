"""Choose the network's nodes from the canonical log and turn each into a column of category strings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from causal.config import CausalConfig
from causal.network.plan import MISSING, OTHER, POSITION, SCORE, Plan, Rule, level_name, make_plan, user_features

__all__ = [
    "MISSING",
    "OTHER",
    "POSITION",
    "SCORE",
    "Discretized",
    "PandasSummaries",
    "apply_plan",
    "discretize",
    "discretized",
    "user_feature_columns",
]


@dataclass(frozen=True, eq=False)
class Discretized:
    """The network's data (str columns) and how each column was made, so it can be explained and redone."""

    data: pd.DataFrame
    treatment: str
    outcome: str
    tiers: tuple[tuple[str, ...], ...]  # temporal order: users, treatment, (score, position), outcome
    user_features: tuple[str, ...]
    state_names: dict[str, tuple[str, ...]]  # node -> every level, sorted
    bin_edges: dict[str, tuple[float, ...]] = field(default_factory=dict)  # quantile-binned node -> edges
    level_maps: dict[str, dict[str, str]] = field(default_factory=dict)  # categorical user feature -> value -> level
    # How many log rows each row of `data` stands for: None when data has one row per impression; a
    # count per cell when data is the contingency table over the nodes (the scale path: counts, not rows).
    weights: np.ndarray | None = None

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(node for tier in self.tiers for node in tier)


def user_feature_columns(df: pd.DataFrame) -> tuple[str, ...]:
    """The `user_*` columns that describe a user (not user_id, not user_item_* columns), in frame order."""
    return user_features(df.columns)


def discretize(df: pd.DataFrame, config: CausalConfig) -> Discretized:
    """Build the categorical frame: user features, treatment, score and position when present, outcome."""
    plan = make_plan(PandasSummaries(df), config)
    return discretized(plan, apply_plan(df, plan))


def discretized(plan: Plan, data: pd.DataFrame, weights: np.ndarray | None = None) -> Discretized:
    """The Discretized of a plan and its data: one row per impression, or the cells with their counts."""
    state_names = {name: tuple(sorted(map(str, data[name].unique()))) for name in data.columns}
    state_names[plan.outcome] = ("0", "1")  # both levels exist even where a log has no click
    return Discretized(
        data=data,
        treatment=plan.treatment,
        outcome=plan.outcome,
        tiers=plan.tiers,
        user_features=plan.user_features,
        state_names=state_names,
        bin_edges=plan.bin_edges,
        level_maps=plan.level_maps,
        weights=weights,
    )


class PandasSummaries:
    """The plan's column summaries of a log held in memory (the small-log path, and each Dask partition's)."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df

    def columns(self) -> tuple[str, ...]:
        return tuple(self.df.columns)

    def n_rows(self) -> int:
        return len(self.df)

    def is_numeric(self, column: str) -> bool:
        return is_numeric(self.df[column])

    def n_missing(self, column: str) -> int:
        return int(self.df[column].isna().sum())

    def n_distinct(self, column: str, limit: int) -> int:
        return int(self.df[column].nunique(dropna=True))

    def level_counts(self, column: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in as_levels(self.df[column]).value_counts().items()}

    def quantiles(self, column: str, probabilities: np.ndarray) -> np.ndarray:
        x = as_floats(self.df[column])
        finite = x[~np.isnan(x)]
        if finite.size == 0:
            return np.array([], dtype=float)
        return np.quantile(finite, probabilities)


def is_numeric(series: pd.Series) -> bool:
    """Numbers that are not booleans: these are binned or taken as levels; anything else keeps its top levels."""
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def as_floats(series: pd.Series) -> np.ndarray:
    """A binned column's values as floats, NaN where missing."""
    return pd.to_numeric(series, errors="raise").to_numpy(dtype=float)


def apply_plan(df: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """The plan's node columns of a frame (object columns of str), one row per row of df."""
    return pd.DataFrame({rule.node: apply_rule(df[rule.node], rule).to_numpy(dtype=object) for rule in plan.rules})


def apply_rule(series: pd.Series, rule: Rule) -> pd.Series:
    """One column's levels under its rule."""
    if rule.kind == "bins":
        return bin_by_edges(series, rule)
    levels = as_levels(series)
    if rule.kind == "top":
        return levels.map(rule.level_map).astype(object)
    return levels


def as_levels(series: pd.Series) -> pd.Series:
    """Values as strings; integral floats lose their '.0' so 1.0 and 1 name the same level."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    labels = np.array([level_name(v) for v in uniques] + [MISSING], dtype=object)
    return pd.Series(labels[codes], index=series.index, dtype=object)  # code -1 (missing) -> last label


def bin_by_edges(series: pd.Series, rule: Rule) -> pd.Series:
    """Quantile bin labels: bin i holds [edges[i], edges[i+1]); the top bin also holds the maximum."""
    x = as_floats(series)
    if not rule.edges:  # a column without any value
        return pd.Series([MISSING] * len(x), index=series.index, dtype=object)
    edges = np.asarray(rule.edges, dtype=float)
    labels = np.array(rule.labels, dtype=object)
    idx = np.searchsorted(edges[1:-1], x, side="right")
    out = np.where(np.isnan(x), MISSING, labels[np.minimum(idx, len(labels) - 1)])
    return pd.Series(out, index=series.index, dtype=object)
