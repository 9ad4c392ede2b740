"""Fit the network's CPDs (BDeu posterior mean) on a learned structure, once or per bootstrap replicate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pgmpy.factors.discrete import TabularCPD
from pgmpy.models import DiscreteBayesianNetwork
from pgmpy.parameter_estimator import DiscreteBayesianEstimator

from causal.config import CausalConfig

Edge = tuple[str, str]


def state_names_of(data: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Every level of every column, sorted: the states a network keeps whatever rows a resample drew."""
    return {str(col): tuple(sorted(map(str, data[col].unique()))) for col in data.columns}


def empty_network(nodes: Sequence[str], edges: Sequence[Edge]) -> DiscreteBayesianNetwork:
    """A network holding every node, isolated ones included, and the given edges."""
    model = DiscreteBayesianNetwork()
    model.add_nodes_from(nodes)
    model.add_edges_from(edges)
    return model


def fit_network(
    data: pd.DataFrame,
    edges: Sequence[Edge],
    config: CausalConfig,
    state_names: Mapping[str, Sequence[str]] | None = None,
) -> DiscreteBayesianNetwork:
    """Fit all CPDs with pgmpy's Bayesian estimator, BDeu prior of `config.equivalent_sample_size`.

    Pass the full data's `state_names` when `data` is a resample so the CPDs keep every state.
    """
    _check_edges(data.columns, edges)
    states = {k: list(v) for k, v in (state_names or state_names_of(data)).items()}
    model = empty_network([str(c) for c in data.columns], edges)
    estimator = DiscreteBayesianEstimator(
        state_names=states,
        prior_type="BDeu",
        equivalent_sample_size=config.equivalent_sample_size,
    )
    model.add_cpds(*estimator.fit(model, data.astype(str)).parameters_)
    model.check_model()
    return model


class CountFitter:
    """Refits the CPDs of one fixed structure from row weights by counting in numpy.

    Same numbers as `fit_network` (BDeu pseudo-count ess / (r_i * q_i) added to each cell, then
    normalised per parent configuration; parents in sorted order as pgmpy orders them), but the
    integer codes of every node and parent configuration are computed once, so a bootstrap
    replicate costs one weighted bincount per node. Row weights are the replicate's
    multiplicities: resampling rows with replacement and counting is the same as weighting.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        edges: Sequence[Edge],
        config: CausalConfig,
        state_names: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        _check_edges(data.columns, edges)
        self.n_rows = len(data)
        self.nodes = tuple(str(c) for c in data.columns)
        self.edges = tuple(edges)
        self.state_names = {k: tuple(v) for k, v in (state_names or state_names_of(data)).items()}
        self.ess = float(config.equivalent_sample_size)
        codes: dict[str, np.ndarray] = {}
        for node in self.nodes:
            states = self.state_names[node]
            cat = pd.Categorical(data[node].astype(str), categories=list(states))
            if (cat.codes < 0).any():
                unknown = sorted(set(map(str, data[node].unique())) - set(states))
                raise ValueError(f"column {node!r} holds values {unknown[:5]} outside its state names {states}")
            codes[node] = cat.codes.astype(np.int64)
        self._plan: list[tuple[str, tuple[str, ...], tuple[int, ...], np.ndarray, int]] = []
        for node in self.nodes:
            parents = tuple(sorted(a for a, b in self.edges if b == node))
            cards = tuple(len(self.state_names[p]) for p in parents)
            n_configs = int(np.prod(cards, dtype=np.int64))
            r = len(self.state_names[node])
            # Column index of a row = its parent configuration, first parent slowest (TabularCPD order).
            column = np.zeros(self.n_rows, dtype=np.int64)
            for p, card in zip(parents, cards):
                column = column * card + codes[p]
            cell = codes[node] * n_configs + column
            self._plan.append((node, parents, cards, cell, r * n_configs))

    def cpds(self, weights: np.ndarray | None = None) -> list[TabularCPD]:
        """The CPDs for row weights (None: every row once)."""
        if weights is not None and len(weights) != self.n_rows:
            raise ValueError(f"weights has length {len(weights)} but the data has {self.n_rows} rows")
        out = []
        for node, parents, cards, cell, size in self._plan:
            r = len(self.state_names[node])
            n_configs = size // r
            counts = np.bincount(cell, weights=weights, minlength=size).astype(float).reshape(r, n_configs)
            counts += self.ess / (r * n_configs)
            counts /= counts.sum(axis=0, keepdims=True)
            out.append(
                TabularCPD(
                    node,
                    r,
                    counts,
                    evidence=list(parents) or None,
                    evidence_card=list(cards) or None,
                    state_names={v: list(self.state_names[v]) for v in (node, *parents)},
                )
            )
        return out

    def fit(self, weights: np.ndarray | None = None) -> DiscreteBayesianNetwork:
        """A new network on the structure with CPDs for row weights (None: every row once)."""
        model = empty_network(self.nodes, self.edges)
        model.add_cpds(*self.cpds(weights))
        return model


def _check_edges(columns: Sequence[object], edges: Sequence[Edge]) -> None:
    known = {str(c) for c in columns}
    for a, b in edges:
        if a not in known or b not in known:
            raise ValueError(f"edge ({a!r}, {b!r}) names a node that is not a column; known nodes: {sorted(known)}")
