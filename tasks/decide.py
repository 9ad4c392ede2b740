"""Tasks: read the allocation that served new data, and write the next one from the run's stored replicates."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

import store
from causal.decide.loop import next_allocation, pooling_breach, previous_of, read_previous
from causal.decide.replicates import replicate_sets
from causal.decide.run import decide_sets
from common.files import atomic_write_text
from tasks._retry import retry_unless_bad_input

_io = dict(cache_policy=NO_CACHE, retry_condition_fn=retry_unless_bad_input)


@dataclass(frozen=True)
class AllocationRef:
    """Where the next allocation went (None when none could be made, with why) and the run it follows."""

    treatment: str
    outcome: str
    path: str | None
    run_id: str
    previous_run_id: str | None
    explanation: str | None = None


@task(name="read previous allocation", **_io)
def read_previous_allocation(path: str) -> dict[str, str | None] | None:
    """run_id, previous_run_id and segment_column of the allocation at `path` (it served the new data); None: none."""
    body = read_previous(path)
    if body is None:
        return None
    return {k: body.get(k) for k in ("run_id", "previous_run_id", "segment_column")} | {"run_id": str(body["run_id"])}


@task(name="check pooling", **_io)
def check_pooling(db: str, run_id: str, treatment: str, outcome: str, previous: dict | None) -> str | None:
    """Why the pooled run `run_id` may not decide for `treatment` (causal.decide.loop.pooling_breach); None: it may."""
    segment = (previous or {}).get("segment_column")
    with store.connect(db, read_only=True) as con:
        found = con.execute(
            "SELECT adjustment_set FROM interventions WHERE run_id = ? AND treatment = ? AND outcome = ? "
            "AND method = 'bn_do' AND estimand = 'ate' AND adjustment_set IS NOT NULL LIMIT 1",
            [run_id, treatment, outcome],
        ).fetchone()
    adjusted = None if found is None else json.loads(found[0]) if isinstance(found[0], str) else list(found[0])
    return pooling_breach(treatment, segment, adjusted)


@task(name="write next allocation", **_io)
def write_next_allocation(
    db: str, run_id: str, treatment: str, outcome: str, path: str, previous: dict | None, floor: float
) -> AllocationRef:
    """Decide from the run's stored replicates and replace `path` atomically (a server never reads half a file).

    `previous` is what `read_previous_allocation` read before the run. A run with no decision for the pair
    leaves the previous file in force and says why.
    """
    previous_run_id = previous_of(previous, run_id)
    with store.connect(db, read_only=True) as con:
        frame = con.execute(
            "SELECT * FROM replicates WHERE run_id = ? AND treatment = ? AND outcome = ?", [run_id, treatment, outcome]
        ).df()
        values = con.execute(
            "SELECT * EXCLUDE (run_id) FROM policy_values WHERE run_id = ? AND treatment = ? AND outcome = ?",
            [run_id, treatment, outcome],
        ).df()
    ref = dict(treatment=treatment, outcome=outcome, run_id=run_id, previous_run_id=previous_run_id)
    if frame.empty:
        why = f"run {run_id} stored no replicates of {treatment} on {outcome}; the previous allocation stays"
        return AllocationRef(**ref, path=None, explanation=why)
    policy_values = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        | {"policy": json.loads(row["policy"]) if row["policy"] else {}}
        for row in values.astype(object).to_dict("records")
    ]
    try:
        body = next_allocation(
            decide_sets(replicate_sets(frame)),
            floor=floor,
            run_id=run_id,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            previous_run_id=previous_run_id,
            policy_values=policy_values,
        )
    except ValueError as exc:  # no decision anywhere: serving on stays with the file that is there
        return AllocationRef(**ref, path=None, explanation=f"{exc}; the previous allocation stays")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(body, indent=2) + "\n")
    return AllocationRef(**ref, path=str(out))
