"""A scored log counted by (segment value, served value, outcome, propensity) in DuckDB: the DR policy value's input."""

from __future__ import annotations

import duckdb
import pandas as pd

from sources.duck import ident

# The columns of the counted cells, in the order causal.decide.policy.CELL_COLUMNS names them.
COLUMNS = ("segment_value", "value", "y", "propensity", "n")


def decision_cells(scored_path: str, treatment: str, outcome: str, segment: str | None) -> pd.DataFrame | str:
    """The log's rows counted per (segment, treatment value, outcome, propensity), or why they cannot be.

    DuckDB counts the Parquet file out of core, so the rows are never read whole; rows missing any of the
    three values are left out, as the network leaves them out.
    """
    if not segment:
        return "no CATE segment, so no segment policy"
    con = duckdb.connect()
    try:
        columns = set(con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [scored_path]).df()["column_name"])
        lacking = sorted({segment, treatment, outcome, "propensity"} - columns)
        if lacking:
            return f"the log has no column {lacking} (DR needs the segment, the served value and its propensity)"
        seg, t, y = ident(segment), ident(treatment), ident(outcome)
        cells = con.execute(
            f"SELECT CAST({seg} AS VARCHAR), CAST({t} AS VARCHAR), CAST({y} AS DOUBLE), "
            f"CAST(propensity AS DOUBLE), count(*) FROM read_parquet(?) WHERE {seg} IS NOT NULL "
            f"AND {t} IS NOT NULL AND {y} IS NOT NULL GROUP BY ALL",
            [scored_path],
        ).df()
    finally:
        con.close()
    cells.columns = list(COLUMNS)
    return cells
