"""The bootstrap replicates of one pair as a long table (the `replicates` rows), and back to arrays for deciding."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from causal.decide.posterior import ALL

COLUMNS = ("treatment", "outcome", "baseline", "segment", "segment_value", "n_rows", "replicate", "value", "mean")

if TYPE_CHECKING:  # annotations only: deciding from stored rows needs no network library (pgmpy)
    from causal.effects.bootstrap import BootstrapChunk
    from causal.effects.prepare import PreparedEffects


@dataclass(frozen=True, eq=False)
class ReplicateSet:
    """The replicates of one (pair, segment value): (replicates, values) means, nan where withheld."""

    treatment: str
    outcome: str
    baseline: str
    segment: str
    segment_value: str
    n_rows: int  # log rows in the segment value (all rows for "all")
    values: tuple[str, ...]
    means: np.ndarray  # (replicates, values)


def replicate_frame(prepared: PreparedEffects, chunks: Iterable[BootstrapChunk]) -> pd.DataFrame:
    """One row per (segment value, replicate, treatment value) of P(outcome=1 | do(value)), segment "all" first.

    A value whose estimate the run withholds (a thin arm, no overlap, a thin CATE arm) keeps nan replicates, so a
    decision is never read off numbers the run itself would not print; `recdo effects` says why.
    """
    config, values = prepared.config, prepared.values
    chunks = sorted(chunks, key=lambda c: c.chunk)
    do = np.concatenate([c.do for c in chunks]).copy()  # (replicates, values)
    no_overlap = dict(prepared.overlap.get("no_overlap", {}))
    for i, v in enumerate(values):
        if prepared.arm_check.why(v) or v in no_overlap:
            do[:, i] = np.nan
    sets = [ReplicateSet(config.treatment, config.outcome, prepared.baseline, ALL, ALL, prepared.n_rows, values, do)]
    if prepared.segment and prepared.point_cate is not None:
        cate = np.concatenate([c.cate for c in chunks]).copy()  # (replicates, values, segment states)
        for k, s in enumerate(prepared.segment_states):
            means = cate[:, :, k].copy()
            for i, v in enumerate(values):
                if (v, s) in prepared.segment_thin or np.isnan(do[:, i]).all():
                    means[:, i] = np.nan
            sets.append(
                ReplicateSet(
                    config.treatment,
                    config.outcome,
                    prepared.baseline,
                    prepared.segment,
                    str(s),
                    int(prepared.segment_rows[k]),
                    values,
                    means,
                )
            )
    return frame_of(sets)


def frame_of(sets: Iterable[ReplicateSet]) -> pd.DataFrame:
    """The long table of replicate sets (`COLUMNS`)."""
    parts = []
    for r in sets:
        b, k = r.means.shape
        parts.append(
            pd.DataFrame(
                {
                    "treatment": r.treatment,
                    "outcome": r.outcome,
                    "baseline": r.baseline,
                    "segment": r.segment,
                    "segment_value": r.segment_value,
                    "n_rows": r.n_rows,
                    "replicate": np.repeat(np.arange(b), k),
                    "value": np.tile(np.asarray(r.values, dtype=object), b),
                    "mean": r.means.reshape(-1),  # (replicates, values) row-major: replicate-major order
                }
            )
        )
    if not parts:
        return pd.DataFrame({c: [] for c in COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(COLUMNS)]


def replicate_sets(frame: pd.DataFrame) -> tuple[ReplicateSet, ...]:
    """The long table back to one `ReplicateSet` per (pair, segment, segment value), in a stable order."""
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"replicate rows lack columns {sorted(missing)}; expected {list(COLUMNS)}")
    out = []
    keys = ["treatment", "outcome", "segment", "segment_value"]
    for (t, y, seg, sv), part in frame.groupby(keys, sort=True):
        values = tuple(sorted(part["value"].astype(str).unique()))
        table = part.pivot(index="replicate", columns="value", values="mean")  # keeps nan means as nan
        table = table.reindex(columns=list(values))
        out.append(
            ReplicateSet(
                treatment=str(t),
                outcome=str(y),
                baseline=str(part["baseline"].iloc[0]),
                segment=str(seg),
                segment_value=str(sv),
                n_rows=int(part["n_rows"].iloc[0]),
                values=values,
                means=table.to_numpy(dtype=float),
            )
        )
    # The population first, then the segments: the order a reader takes them in.
    return tuple(sorted(out, key=lambda r: (r.treatment, r.outcome, r.segment != ALL, r.segment, r.segment_value)))
