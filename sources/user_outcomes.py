"""Per-user outcome totals of one partition by arm, with the same users' totals over the earlier dates (DuckDB).

CUPED on a partitioned run needs one row per user of the partition D: the one treatment value they were served
in D, their outcome sums in D, and their outcome sums over every date before D (the pre-period covariate, fixed
before assignment). Both are GROUP BYs over Parquet files, so the log is never read whole; what comes back has
one row per user of D. A design that does not allow it (no earlier dates, users served several values in D, no
column to date a row by) comes back as a reason instead of a frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sources.duck import LogPaths, ident, literal, parquet_files, parquet_source, rows, spilling
from sources.partitions import PARTITION, TS, check_partition

PRE_PREFIX = "pre_"  # the pre-period total of outcome y is column pre_<y>


@dataclass(frozen=True)
class UserOutcomes:
    """One partition's users with their arm, outcome totals in it and before it; or why there are none.

    `frame` (None when `reason` is set): index `user`, columns <treatment> (str), each outcome's sum in the
    partition, `impressions`, and pre_<outcome> (the sum over earlier dates, 0 for a user with no earlier row).
    """

    treatment: str
    partition: str
    frame: pd.DataFrame | None
    pre_rows: int  # rows of the log dated before the partition
    pre_first: str | None  # the earliest and latest earlier date
    pre_last: str | None
    reason: str | None = None


def user_outcomes(
    period: LogPaths,
    log: LogPaths,
    partition: str,
    treatment: str,
    outcomes: Sequence[str],
    user: str = "user_id",
    work_dir: str | Path | None = None,
) -> UserOutcomes:
    """Per-user totals of `outcomes` in `period` (the partition's rows) by arm, and over `log`'s dates before it.

    `period` is the run's own input for the partition (the validated rows); `log` is the whole log the run was
    cut from. Earlier rows are the log's rows whose partition (its `partition` column, else the UTC date of `ts`)
    sorts before `partition`; only rows with a user and a numeric outcome count.
    """
    check_partition(partition)
    period_src, log_src = parquet_source(parquet_files(period)), parquet_source(parquet_files(log))

    def skip(reason: str, pre_rows: int = 0, first: str | None = None, last: str | None = None) -> UserOutcomes:
        return UserOutcomes(treatment, partition, None, pre_rows, first, last, reason)

    with spilling(work_dir) as con:
        con.execute("SET TimeZone = 'UTC'")  # a TIMESTAMPTZ's date is its UTC date, as sources.partitions reads it
        have = _columns(con, period_src)
        lacking = [c for c in (user, treatment, *outcomes) if c not in have]
        if lacking:
            return skip(f"the partition's rows lack column(s) {lacking}; CUPED needs the user, treatment and outcome")
        mixed, users, example = rows(
            con,
            f"SELECT count(*) FILTER (WHERE k > 1), count(*), min(u) FILTER (WHERE k > 1) FROM ("
            f"SELECT CAST({ident(user)} AS VARCHAR) u, count(DISTINCT CAST({ident(treatment)} AS VARCHAR)) k "
            f"FROM {period_src} WHERE {ident(user)} IS NOT NULL GROUP BY u)",
        )[0]
        if mixed:
            served = [
                r[0]
                for r in rows(
                    con,
                    f"SELECT DISTINCT CAST({ident(treatment)} AS VARCHAR) v FROM {period_src} "
                    f"WHERE CAST({ident(user)} AS VARCHAR) = {literal(example)} AND {ident(treatment)} IS NOT NULL "
                    "ORDER BY v",
                )
            ]
            return skip(
                f"{mixed} of {users} users of partition {partition} saw several values of {treatment!r} "
                f"(e.g. {user}={example!r} saw {served}); CUPED needs each user assigned one value in the partition"
            )
        day = _day(_columns(con, log_src))
        if day is None:
            return skip(
                f"the log has no {PARTITION!r} column and its {TS!r} is not a timestamp, so no row can be dated "
                f"before {partition}; give the log a {PARTITION!r} column (YYYY-MM-DD)"
            )
        earlier = f"{day} < {literal(partition)}"
        pre_rows, first, last = rows(con, f"SELECT count(*), min({day}), max({day}) FROM {log_src} WHERE {earlier}")[0]
        if not pre_rows:
            return skip(f"the log holds no date before partition {partition}, so there is no pre-period covariate")
        frame = _frame(con, period_src, log_src, earlier, treatment, outcomes, user)
    return UserOutcomes(treatment, partition, frame, int(pre_rows), str(first), str(last))


def _columns(con, source: str) -> dict[str, str]:
    """Column name -> DuckDB type of a FROM source."""
    return {str(r[0]): str(r[1]) for r in rows(con, f"DESCRIBE SELECT * FROM {source}")}


def _day(columns: dict[str, str]) -> str | None:
    """The SQL of a row's partition as YYYY-MM-DD text, as sources.partitions.partition_of gives it; None: no date."""
    if PARTITION in columns:
        return f"CAST({ident(PARTITION)} AS VARCHAR)"
    kind = columns.get(TS, "")
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        return f"strftime(CAST({ident(TS)} AS TIMESTAMPTZ), '%Y-%m-%d')"
    if kind == "VARCHAR":  # text that does not parse has no date, like the gate's unparseable ts
        return f"strftime(TRY_CAST({ident(TS)} AS TIMESTAMPTZ), '%Y-%m-%d')"
    return None  # epoch numbers: their unit is a guess (expectations.epoch) this query does not make


def _frame(
    con, period_src: str, log_src: str, earlier: str, treatment: str, outcomes: Sequence[str], user: str
) -> pd.DataFrame:
    """One row per user of the partition: arm, outcome sums, impressions, and pre-period sums (0 when none)."""
    u, t = ident(user), ident(treatment)

    def num(o: str) -> str:  # an outcome that is not a finite number counts for nothing, in either period
        return f"CASE WHEN isfinite(TRY_CAST({ident(o)} AS DOUBLE)) THEN TRY_CAST({ident(o)} AS DOUBLE) END"

    now = ", ".join(f"coalesce(sum({num(o)}), 0) AS {ident(o)}" for o in outcomes)
    pre = ", ".join(f"coalesce(sum({num(o)}), 0) AS {ident(PRE_PREFIX + o)}" for o in outcomes)
    picked = ", ".join(f"coalesce(p.{ident(PRE_PREFIX + o)}, 0.0)" for o in outcomes)
    sql = (
        f"WITH cur AS (SELECT CAST({u} AS VARCHAR) AS u, min(CAST({t} AS VARCHAR)) AS arm, {now}, "
        f"count(*) AS impressions FROM {period_src} WHERE {u} IS NOT NULL AND {t} IS NOT NULL GROUP BY 1), "
        f"pre AS (SELECT CAST({u} AS VARCHAR) AS u, {pre} FROM {log_src} WHERE {earlier} AND {u} IS NOT NULL "
        f"AND CAST({u} AS VARCHAR) IN (SELECT u FROM cur) GROUP BY 1) "
        f"SELECT c.*, {picked} FROM cur c LEFT JOIN pre p USING (u) ORDER BY c.u"
    )
    columns = [user, treatment, *outcomes, "impressions", *(PRE_PREFIX + o for o in outcomes)]
    frame = pd.DataFrame(rows(con, sql), columns=columns).set_index(user)
    floats = [*outcomes, *(PRE_PREFIX + o for o in outcomes)]
    frame[floats] = frame[floats].astype(float)
    return frame.astype({"impressions": "int64", treatment: str})
