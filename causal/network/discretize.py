"""Choose the network's nodes from the canonical log and turn each into a column of category strings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from causal.config import CausalConfig

OTHER = "other"
MISSING = "missing"
SCORE = "score"
POSITION = "position"
# user_id is an identifier and user_item_* are user x item quantities, not features of the user.
_NOT_USER_FEATURES = ("user_id",)
_NOT_USER_PREFIXES = ("user_item_",)


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

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(node for tier in self.tiers for node in tier)


def user_feature_columns(df: pd.DataFrame) -> tuple[str, ...]:
    """The `user_*` columns that describe a user (not user_id, not user_item_* columns), in frame order."""
    return tuple(
        col
        for col in df.columns
        if isinstance(col, str)
        and col.startswith("user_")
        and col not in _NOT_USER_FEATURES
        and not col.startswith(_NOT_USER_PREFIXES)
    )


def discretize(df: pd.DataFrame, config: CausalConfig) -> Discretized:
    """Build the categorical frame: user features, treatment, score and position when present, outcome."""
    for col in (config.treatment, config.outcome):
        if col not in df.columns:
            raise ValueError(f"column {col!r} is not in the log; columns: {sorted(map(str, df.columns))}")
    if len(df) == 0:
        raise ValueError("the log has no rows; discretise a non-empty log")

    columns: dict[str, pd.Series] = {}
    bin_edges: dict[str, tuple[float, ...]] = {}
    level_maps: dict[str, dict[str, str]] = {}

    users = user_feature_columns(df)
    for col in users:
        if col in (config.treatment, config.outcome):
            raise ValueError(f"column {col!r} is both a user feature and the treatment/outcome; rename it")
        series = df[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            if series.nunique(dropna=True) <= config.n_bins:
                columns[col] = _as_levels(series)
            else:
                columns[col], bin_edges[col] = _quantile_bins(series, config.n_bins)
        else:
            columns[col], level_maps[col] = _top_levels(series, config.max_levels)

    treatment = df[config.treatment]
    if treatment.isna().any():
        raise ValueError(
            f"treatment column {config.treatment!r} has {int(treatment.isna().sum())} missing values; "
            "drop or label those rows before estimating"
        )
    columns[config.treatment] = _as_levels(treatment)

    middle: list[str] = []
    if SCORE in df.columns and SCORE not in (config.treatment, config.outcome):
        columns[SCORE], bin_edges[SCORE] = _quantile_bins(df[SCORE], config.n_bins)
        middle.append(SCORE)
    if POSITION in df.columns and POSITION not in (config.treatment, config.outcome):
        columns[POSITION] = _as_levels(df[POSITION])
        middle.append(POSITION)

    columns[config.outcome] = _binary_outcome(df[config.outcome], config.outcome)

    data = pd.DataFrame({name: col.to_numpy(dtype=object) for name, col in columns.items()})
    state_names = {name: tuple(sorted(map(str, data[name].unique()))) for name in data.columns}
    state_names[config.outcome] = ("0", "1")  # both levels exist even where a log has no click
    tiers = tuple(tier for tier in (users, (config.treatment,), tuple(middle), (config.outcome,)) if tier)
    return Discretized(
        data=data,
        treatment=config.treatment,
        outcome=config.outcome,
        tiers=tiers,
        user_features=users,
        state_names=state_names,
        bin_edges=bin_edges,
        level_maps=level_maps,
    )


def _as_levels(series: pd.Series) -> pd.Series:
    """Values as strings; integral floats lose their '.0' so 1.0 and 1 name the same level."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    labels = np.array([_level_name(v) for v in uniques] + [MISSING], dtype=object)
    return pd.Series(labels[codes], index=series.index, dtype=object)  # code -1 (missing) -> last label


def _level_name(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _top_levels(series: pd.Series, max_levels: int) -> tuple[pd.Series, dict[str, str]]:
    levels = _as_levels(series)
    counts = levels.value_counts()
    # Ties in frequency are broken by the value itself so the kept set never depends on row order.
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ranked) <= max_levels:
        keep = [value for value, _ in ranked]
    else:
        keep = [value for value, _ in ranked[: max_levels - 1]]
    mapping = {value: (value if value in keep else OTHER) for value, _ in ranked}
    return levels.map(mapping).astype(object), mapping


def _quantile_bins(series: pd.Series, n_bins: int) -> tuple[pd.Series, tuple[float, ...]]:
    x = pd.to_numeric(series, errors="raise").to_numpy(dtype=float)
    finite = x[~np.isnan(x)]
    if finite.size == 0:
        return pd.Series([MISSING] * len(x), index=series.index, dtype=object), ()
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)))
    n_out = max(len(edges) - 1, 1)
    width = len(str(n_out))
    # Bin i holds [edges[i], edges[i+1]); the top bin also holds the maximum.
    idx = np.searchsorted(edges[1:-1], x, side="right")
    labels = np.array([f"q{i + 1:0{width}d}" for i in range(n_out)], dtype=object)
    out = np.where(np.isnan(x), MISSING, labels[np.minimum(idx, n_out - 1)])
    return pd.Series(out, index=series.index, dtype=object), tuple(float(e) for e in edges)


def _binary_outcome(series: pd.Series, name: str) -> pd.Series:
    if series.isna().any():
        raise ValueError(
            f"outcome column {name!r} has {int(series.isna().sum())} missing values; drop those rows first"
        )
    levels = _as_levels(series)
    bad = sorted(set(levels) - {"0", "1"})
    if bad:
        raise ValueError(f"outcome column {name!r} must hold 0/1; found {bad[:5]}; map it to 0/1 before estimating")
    return levels
