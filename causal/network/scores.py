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
    codes: np.ndarray  # (n_vars, n_cells) int64, C-contiguous so one variable is one contiguous row
    cards: tuple[int, ...]
    states: tuple[tuple[object, ...], ...]
    # How many log rows each column of `codes` stands for (float64, >= 0); None: one row each. Every
    # statistic counts with these, so a contingency table scores and fits exactly like the rows it counts.
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.weights is None:
            return
        w = np.ascontiguousarray(self.weights, dtype=np.float64)
        if w.shape != (self.n_cells,):
            raise ValueError(f"weights has shape {w.shape}; the data has {self.n_cells} rows, so pass one weight each")
        if not (np.isfinite(w).all() and (w >= 0).all()):
            raise ValueError("weights must be finite and non-negative: each is how many log rows a row stands for")
        object.__setattr__(self, "weights", w)

    @property
    def n_cells(self) -> int:
        """Columns of `codes`: the rows of the table as stored (cells when the data is compressed)."""
        return int(self.codes.shape[1])

    @property
    def total_weight(self) -> float:
        """How many log rows the data stands for: the sum of the weights (the row count when unweighted)."""
        return float(self.n_cells if self.weights is None else self.weights.sum())

    @property
    def n_rows(self) -> int:
        """The log rows the data stands for (`total_weight` rounded): what estimates report as their rows."""
        return int(round(self.total_weight))

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
        self._log_n = log(self.data.total_weight)  # BIC's n: the log rows, however many cells hold them
        # Above this many cells a dense bincount costs more than sorting the rows: compress instead.
        self._dense_limit = max(4 * self.data.n_cells, 1 << 12)

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
        x, w = self.data.codes[node], self.data.weights
        if config is None:
            return np.bincount(x, weights=w, minlength=r).reshape(1, r)
        if bound * r > self._dense_limit:
            config, bound = self._compress(config)
        cells = np.bincount(config * r + x, weights=w, minlength=bound * r).reshape(bound, r)
        # A configuration whose rows all weigh 0 (a bootstrap replicate that drew none of them) is unobserved.
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


def compress(enc: EncodedData) -> EncodedData:
    """The distinct rows of `enc` with their total weight, lexicographic by codes; rows weighing 0 are dropped.

    A discrete network needs only this contingency table: every score, fit and query on it equals the one
    on the rows it counts, at a cost set by the number of cells instead of the number of rows.
    """
    w = np.ones(enc.n_cells) if enc.weights is None else enc.weights
    if enc.n_cells == 0:
        return EncodedData(enc.names, enc.codes.copy(), enc.cards, enc.states, np.zeros(0))
    size = prod(enc.cards)
    if size < 1 << 62:  # one mixed-radix key per row, first variable slowest: sorting keys sorts rows lexicographically
        key = np.ravel_multi_index(tuple(enc.codes), enc.cards)
        if size <= max(4 * enc.n_cells, 1 << 12):  # few possible cells: count them densely, no sort
            totals = np.bincount(key, weights=w, minlength=size)
            cells = np.flatnonzero(totals)
            return _cells(enc, np.array(np.unravel_index(cells, enc.cards)), totals[cells])
        uniq, inverse = np.unique(key, return_inverse=True)
        codes = np.array(np.unravel_index(uniq, enc.cards))
    else:  # too many possible cells for an int64 key: sort the code columns themselves
        columns, inverse = np.unique(enc.codes.T, axis=0, return_inverse=True)
        codes = columns.T
    totals = np.bincount(inverse.reshape(-1), weights=w, minlength=codes.shape[1])
    keep = totals > 0
    return _cells(enc, codes[:, keep], totals[keep])


def _cells(enc: EncodedData, codes: np.ndarray, weights: np.ndarray) -> EncodedData:
    codes = np.ascontiguousarray(codes, dtype=np.int64).reshape(len(enc.names), -1)
    return EncodedData(enc.names, codes, enc.cards, enc.states, weights.astype(np.float64))


def reweight(enc: EncodedData, weights: np.ndarray) -> EncodedData:
    """The same cells with other weights (a bootstrap replicate, a half): codes shared, states kept."""
    return EncodedData(enc.names, enc.codes, enc.cards, enc.states, weights)
