"""The discretisation plan: each node's rule, decided from per-column summaries that any engine can compute."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from causal.config import CausalConfig

OTHER = "other"
MISSING = "missing"
SCORE = "score"
POSITION = "position"
# user_id is an identifier and user_item_* are user x item quantities, not features of the user.
_NOT_USER_FEATURES = ("user_id",)
_NOT_USER_PREFIXES = ("user_item_",)

Kind = Literal["levels", "bins", "top"]


@dataclass(frozen=True)
class Rule:
    """How one node's column is made: its values as levels, quantile bins between edges, or the top levels."""

    node: str
    kind: Kind
    edges: tuple[float, ...] = ()  # bins: the unique quantile edges; () when the column has no value
    level_map: dict[str, str] = field(default_factory=dict)  # top: every level name -> kept level or OTHER

    @property
    def labels(self) -> tuple[str, ...]:
        """The bins' names q1..qk, zero-padded so that they sort in bin order."""
        n_out = max(len(self.edges) - 1, 1)
        width = len(str(n_out))
        return tuple(f"q{i + 1:0{width}d}" for i in range(n_out))

    @property
    def kept(self) -> tuple[str, ...]:
        """top: the level names kept as themselves (the rest become OTHER)."""
        return tuple(value for value, level in self.level_map.items() if value == level)


@dataclass(frozen=True)
class Plan:
    """Every node's rule in tier order; the same plan applied by pandas, DuckDB or Dask gives the same cells."""

    treatment: str
    outcome: str
    user_features: tuple[str, ...]
    tiers: tuple[tuple[str, ...], ...]
    rules: tuple[Rule, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(rule.node for rule in self.rules)

    @property
    def bin_edges(self) -> dict[str, tuple[float, ...]]:
        return {rule.node: rule.edges for rule in self.rules if rule.kind == "bins"}

    @property
    def level_maps(self) -> dict[str, dict[str, str]]:
        return {rule.node: dict(rule.level_map) for rule in self.rules if rule.kind == "top"}


class Summaries(Protocol):
    """What a plan needs to know about a log's columns; each engine answers from its own data."""

    def columns(self) -> tuple[str, ...]:
        """Every column, in the log's order."""
        ...

    def n_rows(self) -> int: ...

    def is_numeric(self, column: str) -> bool:
        """Numbers that are not booleans."""
        ...

    def n_missing(self, column: str) -> int: ...

    def n_distinct(self, column: str, limit: int) -> int:
        """Distinct non-missing values; any number above `limit` when there are more (counting may stop there)."""
        ...

    def level_counts(self, column: str) -> dict[str, int]:
        """Rows per level name (`level_name` of each value, MISSING for a missing one)."""
        ...

    def quantiles(self, column: str, probabilities: np.ndarray) -> np.ndarray:
        """np.quantile (linear) of the column's non-missing values as floats; empty when it has none."""
        ...


def user_features(columns: Iterable[object]) -> tuple[str, ...]:
    """The `user_*` columns that describe a user (not user_id, not user_item_* columns), in the given order."""
    return tuple(
        col
        for col in columns
        if isinstance(col, str)
        and col.startswith("user_")
        and col not in _NOT_USER_FEATURES
        and not col.startswith(_NOT_USER_PREFIXES)
    )


def level_name(value: object) -> str:
    """A value's level: a string; integral floats lose their '.0' so 1.0 and 1 name the same level."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def make_plan(summaries: Summaries, config: CausalConfig) -> Plan:
    """Decide every node's rule: user features, treatment, score and position when present, outcome."""
    columns = summaries.columns()
    for col in (config.treatment, config.outcome):
        if col not in columns:
            raise ValueError(f"column {col!r} is not in the log; columns: {sorted(map(str, columns))}")
    if summaries.n_rows() == 0:
        raise ValueError("the log has no rows; discretise a non-empty log")
    probabilities = np.linspace(0.0, 1.0, config.n_bins + 1)

    rules: list[Rule] = []
    users = user_features(columns)
    for col in users:
        if col in (config.treatment, config.outcome):
            raise ValueError(f"column {col!r} is both a user feature and the treatment/outcome; rename it")
        if not summaries.is_numeric(col):
            rules.append(Rule(col, "top", level_map=top_level_map(summaries.level_counts(col), config.max_levels)))
        elif summaries.n_distinct(col, config.n_bins) <= config.n_bins:
            rules.append(Rule(col, "levels"))
        else:
            rules.append(Rule(col, "bins", edges=_unique_edges(summaries.quantiles(col, probabilities))))

    missing = summaries.n_missing(config.treatment)
    if missing:
        raise ValueError(
            f"treatment column {config.treatment!r} has {missing} missing values; "
            "drop or label those rows before estimating"
        )
    rules.append(Rule(config.treatment, "levels"))

    middle: list[str] = []
    if SCORE in columns and SCORE not in (config.treatment, config.outcome):
        rules.append(Rule(SCORE, "bins", edges=_unique_edges(summaries.quantiles(SCORE, probabilities))))
        middle.append(SCORE)
    if POSITION in columns and POSITION not in (config.treatment, config.outcome):
        rules.append(Rule(POSITION, "levels"))
        middle.append(POSITION)

    missing = summaries.n_missing(config.outcome)
    if missing:
        raise ValueError(f"outcome column {config.outcome!r} has {missing} missing values; drop those rows first")
    bad = sorted(set(summaries.level_counts(config.outcome)) - {"0", "1"})
    if bad:
        raise ValueError(
            f"outcome column {config.outcome!r} must hold 0/1; found {bad[:5]}; map it to 0/1 before estimating"
        )
    rules.append(Rule(config.outcome, "levels"))

    tiers = tuple(tier for tier in (users, (config.treatment,), tuple(middle), (config.outcome,)) if tier)
    return Plan(
        treatment=config.treatment, outcome=config.outcome, user_features=users, tiers=tiers, rules=tuple(rules)
    )


def top_level_map(counts: Mapping[str, int], max_levels: int) -> dict[str, str]:
    """Every level -> itself when it is among the max_levels-1 most frequent (all when few enough), else OTHER."""
    # Ties in frequency are broken by the value itself so the kept set never depends on row order.
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ranked) <= max_levels:
        keep = {value for value, _ in ranked}
    else:
        keep = {value for value, _ in ranked[: max_levels - 1]}
    return {value: (value if value in keep else OTHER) for value, _ in ranked}


def _unique_edges(quantiles: np.ndarray) -> tuple[float, ...]:
    return tuple(float(e) for e in np.unique(quantiles))


def quantile_ranks(n: int, probabilities: np.ndarray) -> list[int]:
    """The 0-based ranks of the sorted values that np.quantile's linear method reads for these probabilities."""
    previous, following, _ = _neighbours(n, probabilities)
    return sorted({int(i) for i in np.concatenate([previous, following])})


def exact_quantiles(
    n: int, probabilities: np.ndarray, order_statistics: Callable[[Sequence[int]], Mapping[int, float]]
) -> np.ndarray:
    """np.quantile(values, probabilities) bit for bit, from the n values' order statistics at quantile_ranks.

    An engine that can sort out of core (DuckDB, Dask) fetches only those few ranked values; the arithmetic
    here is numpy's own (virtual index (n-1)*p, floor and floor+1, its two-sided lerp), so the edges equal
    those pandas computes on the whole column. DuckDB's quantile_cont interpolates lo + d*(hi-lo) only,
    which differs from numpy's in the last bit where d >= 0.5, and keeps every value in memory.
    """
    if n == 0:
        return np.array([], dtype=float)
    values = order_statistics(quantile_ranks(n, probabilities))
    previous, following, gamma = _neighbours(n, probabilities)
    a = np.array([float(values[int(i)]) for i in previous], dtype=float)
    b = np.array([float(values[int(i)]) for i in following], dtype=float)
    diff_b_a = b - a
    out = np.add(a, diff_b_a * gamma)
    np.subtract(b, diff_b_a * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def _neighbours(n: int, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # numpy.lib._function_base_impl._get_indexes and _get_gamma for method="linear", with its -1 (the last
    # value) spelled n-1 for the lookup but kept as -1 in gamma, as numpy computes gamma.
    virtual = (n - 1) * np.asarray(probabilities, dtype=float)
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous[above] = -1
    following[above] = -1
    below = virtual < 0
    previous[below] = 0
    following[below] = 0
    gamma = np.asarray(virtual - previous, dtype=virtual.dtype)
    last = n - 1
    return np.where(previous < 0, last, previous), np.where(following < 0, last, following), gamma
