"""Random draws on a contingency table equal in distribution to the same draws on the rows it counts.

Every function takes cells with whole-number weights (how many log rows each cell stands for) and costs a
few operations per cell, whatever the number of rows: a bootstrap replicate, a permuted column, a random
coin per row, a random half. Without-replacement draws use numpy's multivariate hypergeometric, which
needs fewer than 10**9 rows; above that its with-replacement twin (multinomial, binomial) takes over, whose
difference from it is of relative order 1 / rows.
"""

from __future__ import annotations

import numpy as np

from causal.network.scores import EncodedData, compress

HYPERGEOMETRIC_ROWS = 10**9  # numpy's "marginals" method loses precision from this many rows on


def row_counts(enc: EncodedData) -> np.ndarray:
    """The weights as whole numbers (int64); one each when unweighted. Refuses fractions: rows are counted."""
    if enc.weights is None:
        return np.ones(enc.n_cells, dtype=np.int64)
    counts = np.rint(enc.weights)
    if not np.array_equal(counts, enc.weights):
        raise ValueError("cell weights must be whole numbers of log rows to be resampled; round or recount them")
    return counts.astype(np.int64)


def bootstrap_weights(rng: np.random.Generator, enc: EncodedData) -> np.ndarray:
    """One bootstrap replicate as cell weights: N rows drawn with replacement, counted by cell.

    Drawing N rows with replacement and counting them per cell is Multinomial(N, w / N) over the cells,
    so the replicate costs one draw per cell. Cells drawn 0 times keep their place (weight 0): the
    states, and with them the BDeu prior, stay those of the full data.
    """
    counts = row_counts(enc)
    total = int(counts.sum())
    return rng.multinomial(total, counts / total).astype(np.float64)


def half_weights(rng: np.random.Generator, enc: EncodedData) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random halves of the rows (N // 2 and the rest), as cell weights.

    A random N // 2 of the rows, counted by cell, is multivariate hypergeometric over the cells: the
    same halves, in distribution, as splitting a random permutation of the rows. Binomial(w, 1/2)
    thinning (halves of random size) stands in beyond `HYPERGEOMETRIC_ROWS`.
    """
    counts = row_counts(enc)
    total = int(counts.sum())
    if total < HYPERGEOMETRIC_ROWS:
        first = rng.multivariate_hypergeometric(counts, total // 2)
    else:
        first = rng.binomial(counts, 0.5)
    return first.astype(np.float64), (counts - first).astype(np.float64)


def permuted_column(rng: np.random.Generator, enc: EncodedData, column: str) -> EncodedData:
    """The cells after permuting `column` across the rows: it keeps its marginal counts, loses every link.

    Permuting the column deals its values to the rows uniformly at random. Group the rows by the other
    columns ("rest" cells of c_r rows); the rows that get value j are a uniform draw of n_j rows, without
    replacement, from those not yet dealt a value, so per rest cell they are multivariate hypergeometric:
    one draw over the rest cells per value of the column gives the permuted table exactly in distribution.
    Beyond `HYPERGEOMETRIC_ROWS` each rest cell's rows get their values independently with the column's
    marginal shares (multinomial), the with-replacement twin of the permutation.
    """
    col = enc.index(column)
    rest = [i for i in range(len(enc.names)) if i != col]
    counts = row_counts(enc)
    per_value = np.bincount(enc.codes[col], weights=counts, minlength=enc.cards[col]).astype(np.int64)
    grouped = compress(
        EncodedData(
            tuple(enc.names[i] for i in rest),
            np.ascontiguousarray(enc.codes[rest]),
            tuple(enc.cards[i] for i in rest),
            tuple(enc.states[i] for i in rest),
            counts.astype(np.float64),
        )
    )
    left = row_counts(grouped)  # rows of each rest cell not yet dealt a value
    total = int(left.sum())
    split = np.zeros((grouped.n_cells, enc.cards[col]), dtype=np.int64)  # rows of rest cell r given value j
    if total < HYPERGEOMETRIC_ROWS:
        for j, n_j in enumerate(per_value):
            split[:, j] = rng.multivariate_hypergeometric(left, int(n_j))
            left -= split[:, j]
    else:
        split = rng.multinomial(left, per_value / total)
    r, j = np.nonzero(split)
    codes = np.empty((len(enc.names), len(r)), dtype=np.int64)
    codes[rest] = grouped.codes[:, r]
    codes[col] = j
    return compress(EncodedData(enc.names, codes, enc.cards, enc.states, split[r, j].astype(np.float64)))


def with_coin(rng: np.random.Generator, enc: EncodedData, coin: str, names: tuple[str, ...]) -> EncodedData:
    """The cells with a fair coin flipped for every row as a new column `coin` (states "0", "1").

    The rows of a cell that come up heads are Binomial(w, 1/2), independently per cell: the same
    table, in distribution, as flipping each row's own coin. `names` orders the columns (the coin's
    place among the others matters: the structure search breaks ties by column order).
    """
    counts = row_counts(enc)
    heads = rng.binomial(counts, 0.5)
    both = np.concatenate([counts - heads, heads]).astype(np.float64)
    side = np.repeat(np.array([0, 1], dtype=np.int64), enc.n_cells)
    rows = {name: np.tile(enc.codes[i], 2) for i, name in enumerate(enc.names)} | {coin: side}
    cards = {name: enc.cards[i] for i, name in enumerate(enc.names)} | {coin: 2}
    states = {name: enc.states[i] for i, name in enumerate(enc.names)} | {coin: ("0", "1")}
    codes = np.stack([rows[n] for n in names])
    table = EncodedData(names, codes, tuple(cards[n] for n in names), tuple(states[n] for n in names), both)
    return compress(table)
