"""Off-policy evaluation's inputs from a large log, out of core in DuckDB: row counts, cells, a seeded sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from causal.policy.cells import BanditCells
from causal.policy.logged import OPEError
from common.values import item_name
from sources.duck import LogPaths, ident, literal, parquet_files, parquet_source, rows, spilling


def policy_rows(log: LogPaths, policy_column: str, outcome: str, work_dir: str | Path | None = None) -> pd.DataFrame:
    """Rows, outcome mean and positives per value of the policy column: (policy, n, mean, positives), one line each."""
    source = parquet_source(parquet_files(log))
    with spilling(work_dir) as con:
        found = rows(
            con,
            f"SELECT CAST({ident(policy_column)} AS VARCHAR), count(*), avg(CAST({ident(outcome)} AS DOUBLE)), "
            f"count(*) FILTER (WHERE {ident(outcome)} = 1) FROM {source} GROUP BY 1 ORDER BY 1",
        )
    return pd.DataFrame(found, columns=["policy", "n", "mean", "positives"])


def bandit_cells(
    log: LogPaths,
    policy_column: str,
    logged: str,
    outcome: str,
    items: tuple[str, ...],
    work_dir: str | Path | None = None,
) -> BanditCells:
    """The `logged` policy's rows counted by (item, slot, propensity, reward): one GROUP BY over the files."""
    source = parquet_source(parquet_files(log))
    with spilling(work_dir) as con:
        found = rows(
            con,
            "SELECT item_id, position, propensity, CAST("
            + ident(outcome)
            + f" AS DOUBLE), count(*) FROM {source} WHERE CAST({ident(policy_column)} AS VARCHAR) = "
            + f"{literal(logged)} GROUP BY ALL ORDER BY ALL",
        )
    if not found:
        raise OPEError(f"no rows were served by {policy_column}={logged!r}")
    index = {item: i for i, item in enumerate(items)}
    names = [item_name(r[0]) for r in found]
    unknown = sorted({n for n in names if n not in index})[:5]
    if unknown:
        raise OPEError(f"item ids {unknown} of the log are not in the target policy's {len(items)} items")
    position = np.array([r[1] for r in found], dtype=np.int64)
    return BanditCells(
        action=np.array([index[n] for n in names], dtype=np.int64),
        position=position,
        pscore=np.array([np.nan if r[2] is None else r[2] for r in found], dtype=np.float64),
        reward=np.array([r[3] for r in found], dtype=np.float64),
        count=np.array([r[4] for r in found], dtype=np.float64),
        items=items,
        len_list=int(position.max()) + 1,
    )


def seeded_sample(
    log: LogPaths, policy_column: str, logged: str, n: int, seed: int, work_dir: str | Path | None = None
) -> pd.DataFrame:
    """`n` of the `logged` policy's rows, the same ones whatever the file order or thread count.

    Rows are ranked by a hash of (seed, event_id) and the n smallest kept: a uniform sample without
    replacement, fixed by the seed, that DuckDB finds in one pass plus a sort of about n rows.
    """
    source = parquet_source(parquet_files(log))
    where = f"CAST({ident(policy_column)} AS VARCHAR) = {literal(logged)}"
    with spilling(work_dir) as con:
        con.execute("SET preserve_insertion_order = true")
        total = rows(con, f"SELECT count(*) FROM {source} WHERE {where}")[0][0]
        # a hash below this bound keeps each row with probability ~1.2 n / total: the sort sees ~1.2 n rows
        bound = min(2**64 - 1, int((2**64) * min(1.0, 1.2 * n / max(total, 1))) + 1)
        key = f"hash({literal(str(seed))} || CAST(event_id AS VARCHAR))"
        ranked = f"SELECT *, {key} AS _h FROM {source} WHERE {where}"

        def smallest(cut: str) -> pd.DataFrame:
            sql = f"SELECT * EXCLUDE (_h) FROM ({ranked}) {cut} ORDER BY _h, event_id LIMIT {int(n)}"
            return con.execute(sql).df()

        frame = smallest(f"WHERE _h < {bound}::UBIGINT")
        if len(frame) < min(n, total):  # the bound kept too few (a chance of about e^-n/60): rank every row
            frame = smallest("")
    return frame
