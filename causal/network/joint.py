"""Exact queries on small discrete networks in numpy: CPDs from weighted counts, marginals by einsum, the
back-door and front-door formulas. Fast enough to relearn and requery the network in every bootstrap replicate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import ascii_letters

import networkx as nx
import numpy as np
import pandas as pd

from causal.network.scores import EncodedData

Edge = tuple[str, str]


def encode_states(data: pd.DataFrame, state_names: Mapping[str, Sequence[str]]) -> EncodedData:
    """Integer codes of every column against fixed state lists, so every resample keeps every state."""
    names = tuple(str(c) for c in data.columns)
    codes = np.empty((len(names), len(data)), dtype=np.int64)
    states = []
    for i, name in enumerate(names):
        levels = tuple(state_names[name])
        cat = pd.Categorical(data[name].astype(str), categories=list(levels))
        if (cat.codes < 0).any():
            unknown = sorted(set(map(str, data[name].unique())) - set(levels))
            raise ValueError(f"column {name!r} holds values {unknown[:5]} outside its states {list(levels)}")
        codes[i] = cat.codes
        states.append(levels)
    return EncodedData(names=names, codes=codes, cards=tuple(len(s) for s in states), states=tuple(states))


def resample(enc: EncodedData, rows: np.ndarray) -> EncodedData:
    """The same variables and states on the given rows (a bootstrap replicate, a half), weights carried along."""
    weights = None if enc.weights is None else enc.weights[rows]
    return EncodedData(enc.names, np.ascontiguousarray(enc.codes[:, rows]), enc.cards, enc.states, weights)


@dataclass(frozen=True, eq=False)
class CountNetwork:
    """A fitted network: per node its sorted parents and its CPD as an array (node state, *parent states)."""

    names: tuple[str, ...]
    cards: tuple[int, ...]
    states: tuple[tuple[str, ...], ...]
    parents: dict[str, tuple[str, ...]]
    cpds: dict[str, np.ndarray]

    def card(self, node: str) -> int:
        return self.cards[self.names.index(node)]

    def state_index(self, node: str, value: str) -> int:
        states = self.states[self.names.index(node)]
        if value not in states:
            raise ValueError(f"{value!r} is not a state of {node!r}; states: {list(states)}")
        return states.index(value)

    def marginal(self, keep: Sequence[str]) -> np.ndarray:
        """P(keep) as an array with one axis per node of `keep`, in that order (exact, by einsum)."""
        keep = list(keep)
        graph = nx.DiGraph()
        graph.add_nodes_from(self.names)
        graph.add_edges_from((p, n) for n, ps in self.parents.items() for p in ps)
        needed = set(keep)
        for node in keep:
            needed |= nx.ancestors(graph, node)  # the rest are barren: summing them out gives 1
        order = [n for n in self.names if n in needed]
        if len(order) > len(ascii_letters):
            raise ValueError(f"{len(order)} nodes in one query; exact queries here handle at most {len(ascii_letters)}")
        operands: list[object] = []
        for node in order:
            operands.append(self.cpds[node])
            operands.append([order.index(node)] + [order.index(p) for p in self.parents[node]])
        operands.append([order.index(n) for n in keep])
        return np.einsum(*operands, optimize="greedy")


def fit_counts(enc: EncodedData, edges: Sequence[Edge], ess: float, weights: np.ndarray | None = None) -> CountNetwork:
    """BDeu posterior-mean CPDs (pseudo-count ess / (r * q) per cell) from weighted counts.

    Each row counts `enc.weights` times (once when None), multiplied by `weights` when given (a resample's
    multiplicities). The same numbers as pgmpy's DiscreteBayesianEstimator(prior_type="BDeu") on the rows
    those weights stand for.
    """
    if weights is None:
        weights = enc.weights
    elif enc.weights is not None:
        weights = enc.weights * weights
    index = {n: i for i, n in enumerate(enc.names)}
    parents = {n: tuple(sorted(a for a, b in edges if b == n)) for n in enc.names}
    cpds: dict[str, np.ndarray] = {}
    for node in enc.names:
        pa = parents[node]
        cards = [enc.cards[index[p]] for p in pa]
        q = int(np.prod(cards, dtype=np.int64))
        r = enc.cards[index[node]]
        column = np.zeros(enc.n_cells, dtype=np.int64)
        for p, card in zip(pa, cards):  # first parent slowest, as TabularCPD orders its columns
            column = column * card + enc.codes[index[p]]
        counts = np.bincount(enc.codes[index[node]] * q + column, weights=weights, minlength=r * q).astype(float)
        counts = counts.reshape(r, q) + ess / (r * q)
        counts /= counts.sum(axis=0, keepdims=True)
        cpds[node] = counts.reshape(r, *cards)
    return CountNetwork(enc.names, enc.cards, enc.states, parents, cpds)


def backdoor_means(
    net: CountNetwork, treatment: str, outcome: str, adjust: Sequence[str], positive: int, segment: str | None = None
) -> np.ndarray:
    """P(outcome=positive | do(treatment=t)) for every t: sum_z P(z) P(y | t, z).

    With `segment` S (a pre-treatment variable) the result is per segment state, shape (t, s):
    sum_z P(z | s) P(y | t, z, s), the conditional effect within each segment.
    """
    z = [v for v in adjust if v != segment]
    keep = [treatment, outcome] + ([segment] if segment else []) + z
    joint = net.marginal(keep)  # (t, y, [s], z...)
    p_y = joint[:, positive] / joint.sum(axis=1)  # (t, [s], z...) P(y | t, s, z)
    p_rest = joint.sum(axis=(0, 1))  # ([s], z...)
    if segment:
        p_rest = p_rest / p_rest.reshape(p_rest.shape[0], -1).sum(axis=1).reshape((-1,) + (1,) * len(z))
        axes = tuple(range(2, 2 + len(z)))
        return (p_y * p_rest[None]).sum(axis=axes)
    return (p_y * p_rest[None]).reshape(p_y.shape[0], -1).sum(axis=1)


def frontdoor_means(
    net: CountNetwork, treatment: str, outcome: str, mediators: Sequence[str], positive: int
) -> np.ndarray:
    """P(outcome=positive | do(treatment=t)) for every t: sum_m P(m | t) sum_t' P(y | m, t') P(t')."""
    keep = [treatment, outcome, *mediators]
    joint = net.marginal(keep)  # (t, y, m...)
    p_tm = joint.sum(axis=1)  # (t, m...)
    p_t = p_tm.reshape(p_tm.shape[0], -1).sum(axis=1)  # (t,)
    p_m_given_t = p_tm / p_t.reshape((-1,) + (1,) * len(mediators))
    p_y_given_tm = joint[:, positive] / p_tm  # (t', m...)
    inner = (p_y_given_tm * p_t.reshape((-1,) + (1,) * len(mediators))).sum(axis=0)  # (m...)
    return (p_m_given_t * inner[None]).reshape(p_t.shape[0], -1).sum(axis=1)
