"""Decomposable local scores (BIC, BDeu, K2) of discrete data: integer codes, numpy bincount counts, a cache."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import lgamma, log, prod
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy.special import gammaln, xlogy

ScoreName = Literal["bic", "bdeu", "k2"]
SCORES: tuple[str, ...] = get_args(ScoreName)


@dataclass(frozen=True, eq=False)
class EncodedData:
    """Discrete columns as integer codes 0..r-1 (one row of `codes` per variable) and their states.

    States are the sorted observed values of each column, as pgmpy's `collect_state_names` takes
    them, so cardinalities (and with them the BIC penalty and the BDeu prior) agree with pgmpy.
    """

    names: tuple[str, ...]
    codes: np.ndarray  # (n_vars, n_rows) int64, C-contiguous so one variable is one contiguous row
    cards: tuple[int, ...]
    states: tuple[tuple[object, ...], ...]

    @property
    def n_rows(self) -> int:
        return int(self.codes.shape[1])

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"variable {name!r} is not a column of the data; columns: {list(self.names)}") from None


def encode(data: pd.DataFrame) -> EncodedData:
    """Integer-code every column of `data`; missing values are refused (pgmpy's searches refuse them too)."""
    if data.shape[1] == 0:
        raise ValueError("the data has no columns; pass a table with at least one discrete column")
    if len(data) < 2:
        raise ValueError(f"the data has {len(data)} rows; structure learning needs at least 2")
    names = tuple(str(c) for c in data.columns)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"column names {dup} appear more than once; give every column a unique name")
    missing = [name for name, col in zip(names, data.columns) if data[col].isna().any()]
    if missing:
        raise ValueError(f"columns {missing} hold missing values; drop those rows or code missing as its own state")
    codes = np.empty((len(names), len(data)), dtype=np.int64)
    cards: list[int] = []
    states: list[tuple[object, ...]] = []
    for i, col in enumerate(data.columns):
        values = data[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        try:
            code, uniques = pd.factorize(values, sort=True)
        except TypeError:  # mixed types that do not sort: keep first-seen order (scores do not depend on it)
            code, uniques = pd.factorize(values, sort=False)
        codes[i] = code
        cards.append(len(uniques))
        states.append(tuple(uniques.tolist()))
    return EncodedData(names=names, codes=np.ascontiguousarray(codes), cards=tuple(cards), states=tuple(states))


class LocalScore:
    """Cached local score of one variable given a parent set, for one data set and one score.

    Scores use natural logarithms and count parent configurations over all state combinations
    (q = product of the parents' cardinalities), observed or not, as pgmpy 1.1 does:

    - ``bic``: log-likelihood - 0.5 * log(n) * q * (r - 1); equals pgmpy's ``bic-d``.
    - ``bdeu``: Bayesian Dirichlet, equivalent uniform prior with `equivalent_sample_size` (ESS);
      an unobserved parent configuration contributes 0. Equals pgmpy's ``bdeu``.
    - ``k2``: Bayesian Dirichlet with all pseudo-counts 1; an unobserved parent configuration
      contributes lgamma(r) - lgamma(0 + r) = 0. pgmpy 1.1's ``K2`` adds q * lgamma(r) over all
      configurations but subtracts lgamma(N_ij + r) only over the observed ones, so it is too high by
      (q - q_observed) * lgamma(r); the two agree when r = 2 (lgamma(2) = 0) or every parent
      configuration occurs in the data. This class computes the textbook K2.

    The cache is keyed by (variable index, frozenset of parent indices): a parent set's score does
    not depend on the order its members are listed in.
    """

    def __init__(
        self,
        data: pd.DataFrame | EncodedData,
        score: ScoreName = "bic",
        equivalent_sample_size: float = 10.0,
    ) -> None:
        if score not in SCORES:
            raise ValueError(f"score must be one of {list(SCORES)}; got {score!r}")
        ess = equivalent_sample_size
        if isinstance(ess, bool) or not isinstance(ess, (int, float)) or not ess > 0:
            raise ValueError(f"equivalent_sample_size must be a positive number; got {ess!r}; 10 is pgmpy's default")
        self.data = data if isinstance(data, EncodedData) else encode(data)
        self.score = score
        self.equivalent_sample_size = float(ess)
        self.cache: dict[tuple[int, frozenset[int]], float] = {}
        self.n_computed = 0  # local scores counted from the data (cache misses)
        n = self.data.n_rows
        self._log_n = log(n)
        # Above this many cells a dense bincount costs more than sorting the rows: compress instead.
        self._dense_limit = max(4 * n, 1 << 12)

    # -- public API -------------------------------------------------------------------------------

    def local_score(self, variable: str, parents: Iterable[str] = ()) -> float:
        """Local score of `variable` given `parents`, both by column name."""
        return self(self.data.index(variable), [self.data.index(p) for p in parents])

    def __call__(self, node: int, parents: Iterable[int] = ()) -> float:
        """Local score of variable `node` given parent indices `parents`."""
        key = (node, frozenset(parents))
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        base, bound = self._configurations(sorted(key[1]))
        value = self._score_from_config(node, base, bound, prod(self.data.cards[p] for p in key[1]))
        self.cache[key] = value
        return value

    def with_one_more(self, node: int, parents: Sequence[int], candidates: Sequence[int]) -> np.ndarray:
        """Local scores of `node` given `parents` plus each one of `candidates`, in candidate order.

        The configuration index of `parents` is built once and extended by each candidate, so a
        column of add-edge scores costs one multiply-add and one bincount per candidate.
        """
        out = np.empty(len(candidates), dtype=float)
        base: np.ndarray | None = None
        bound, built = 1, False
        q_parents = prod(self.data.cards[p] for p in parents)
        parent_set = frozenset(parents)
        codes, cards = self.data.codes, self.data.cards
        for i, c in enumerate(candidates):
            key = (node, parent_set | {c})
            cached = self.cache.get(key)
            if cached is None:
                if not built:
                    base, bound = self._configurations(sorted(parent_set))
                    built = True
                if base is None:
                    config, config_bound = codes[c], cards[c]
                else:
                    config, config_bound = self._extend(base, bound, c)
                cached = self._score_from_config(node, config, config_bound, q_parents * cards[c])
                self.cache[key] = cached
            out[i] = cached
        return out

    def total(self, parents_of: dict[int, Iterable[int]] | Sequence[Iterable[int]]) -> float:
        """Score of a whole DAG given as each node's parents (decomposable: a sum of local scores)."""
        items = parents_of.items() if isinstance(parents_of, dict) else enumerate(parents_of)
        return float(sum(self(node, pa) for node, pa in items))

    def counts(self, node: int, parents: Iterable[int] = ()) -> np.ndarray:
        """N_ijk for the observed parent configurations: shape (q_observed, r)."""
        base, bound = self._configurations(sorted(set(parents)))
        return self._count(node, base, bound)

    # -- counting ---------------------------------------------------------------------------------

    def _compress(self, config: np.ndarray) -> tuple[np.ndarray, int]:
        uniq, inverse = np.unique(config, return_inverse=True)
        return inverse.astype(np.int64, copy=False).reshape(-1), len(uniq)

    def _extend(self, base: np.ndarray, bound: int, var: int) -> tuple[np.ndarray, int]:
        """Mixed-radix index of (base configuration, var); compressed first if it would grow too large."""
        card = self.data.cards[var]
        if bound * card > self._dense_limit:
            base, bound = self._compress(base)
        return base * card + self.data.codes[var], bound * card

    def _configurations(self, parents: Sequence[int]) -> tuple[np.ndarray | None, int]:
        """Parent-configuration index of every row (None when there are no parents) and its bound."""
        if not parents:
            return None, 1
        config, bound = self.data.codes[parents[0]], self.data.cards[parents[0]]
        for p in parents[1:]:
            config, bound = self._extend(config, bound, p)
        return config, bound

    def _count(self, node: int, config: np.ndarray | None, bound: int) -> np.ndarray:
        r = self.data.cards[node]
        x = self.data.codes[node]
        if config is None:
            return np.bincount(x, minlength=r).reshape(1, r)
        if bound * r > self._dense_limit:
            config, bound = self._compress(config)
        cells = np.bincount(config * r + x, minlength=bound * r).reshape(bound, r)
        return cells[cells.any(axis=1)]

    def _score_from_config(self, node: int, config: np.ndarray | None, bound: int, q: int) -> float:
        self.n_computed += 1
        return self._from_counts(self._count(node, config, bound), self.data.cards[node], q)

    def _from_counts(self, counts: np.ndarray, r: int, q: int) -> float:
        """The local score from the observed rows of the count table (unobserved rows add 0)."""
        n_ij = counts.sum(axis=1)
        if self.score == "bic":
            ll = float(xlogy(counts, counts).sum() - xlogy(n_ij, n_ij).sum())
            return ll - 0.5 * self._log_n * q * (r - 1)
        if self.score == "bdeu":
            alpha = self.equivalent_sample_size / q
            beta = alpha / r
            n_obs = counts.shape[0]
            return float(
                n_obs * (lgamma(alpha) - r * lgamma(beta)) - gammaln(n_ij + alpha).sum() + gammaln(counts + beta).sum()
            )
        # k2
        n_obs = counts.shape[0]
        return float(n_obs * lgamma(r) - gammaln(n_ij + r).sum() + gammaln(counts + 1.0).sum())
