"""Effects with bootstrap intervals: prepare on all rows → bootstrap chunks → combine into the report.

The stages mirror the method: learn the structure (BIC hill climb under the tiers) → identify (back-door
or front-door set, or a stated refusal) → fit the CPDs → query with the identification formula; `Engine`
does them. The bootstrap repeats all of it, structure included, on every replicate, so the intervals carry
the structural uncertainty; refutations and an overlap report go with the numbers, and the `ab_diff` rows
come from `ab_test` on the arms.

Three pure steps, so a task runner can spread one network's bootstrap over workers: `prepare_effects`
(everything on all rows, `causal.effects.prepare`) → `bootstrap_chunk(prepared, c)` for each independently
seeded chunk (`causal.effects.bootstrap`) → `combine_effects`. `estimate_effects` runs them in order here.
All of it works on the contingency table of the network's nodes (cells with counts), so a log of any size
costs what its cells cost; a log may also come as those counts (a `Discretized` with weights).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from causal.config import CausalConfig
from causal.effects.bootstrap import BootstrapChunk, bootstrap_chunk
from causal.effects.prepare import PreparedEffects, prepare_effects
from causal.effects.refute import refute
from causal.network.discretize import Discretized
from causal.network.identify import Identification
from causal.values import Edge, Estimand, Estimate, Method
from common.values import percentile_interval

# The three steps live in their own modules; this one is where callers have always found them.
__all__ = [
    "BootstrapChunk",
    "EffectReport",
    "PreparedEffects",
    "bootstrap_chunk",
    "combine_effects",
    "estimate_effects",
    "prepare_effects",
]

SHOWN_EDGE_FREQUENCY = 0.1  # bootstrap edges rarer than this (and not in the network) are not reported


@dataclass(frozen=True)
class EffectReport:
    """Every estimate of one (treatment, outcome) pair with the structure it came from."""

    treatment: str
    outcome: str
    estimates: tuple[Estimate, ...]
    edges: tuple[Edge, ...]  # the network learned on all rows
    edge_frequency: dict[Edge, float]  # share of bootstrap replicates whose relearned structure held the edge
    adjustment_set: tuple[str, ...]
    identification: Identification
    overlap: dict
    refutations: dict
    seconds: float  # compute time of preparation, chunks and combining, summed (wall time when run in order)


def estimate_effects(data: pd.DataFrame | Discretized, config: CausalConfig) -> EffectReport:
    """Discretise, learn, identify, fit and query; percentile bootstrap intervals over rows with the
    structure relearned in every replicate; refutations and an overlap report beside the numbers.

    `data` is the log or a `Discretized` (its rows, or cells with counts): see `prepare_effects`.

    The replicates run here one chunk after another; a task runner may run `bootstrap_chunk` on
    workers instead and get the same report: chunk c draws from its own Generator seeded with
    (config.seed, stream, c), so the numbers depend on (seed, n_bootstrap, bootstrap_chunk) only.
    """
    prepared = prepare_effects(data, config)
    chunks = []
    desc = f"bootstrap {config.treatment} → {config.outcome}"
    with tqdm(total=config.n_bootstrap, desc=desc, disable=not config.progress, leave=False) as bar:
        for c in range(config.n_chunks):
            chunks.append(bootstrap_chunk(prepared, c))
            bar.update(len(chunks[-1].do))
    return combine_effects(prepared, chunks)


def combine_effects(prepared: PreparedEffects, chunks: Iterable[BootstrapChunk]) -> EffectReport:
    """The report from the prepared pair and every one of its bootstrap chunks, in any order."""
    start = time.perf_counter()
    config = prepared.config
    chunks = sorted(chunks, key=lambda c: c.chunk)  # the replicates' order, whatever order the chunks finished in
    got = [c.chunk for c in chunks]
    if got != list(range(config.n_chunks)):
        raise ValueError(
            f"combining {config.treatment} → {config.outcome} needs each of the bootstrap chunks "
            f"0..{config.n_chunks - 1} exactly once; got chunks {got}; "
            "pass bootstrap_chunk(prepared, c) for every c in range(config.n_chunks)"
        )
    t, y = config.treatment, config.outcome
    values, baseline, base = prepared.values, prepared.baseline, prepared.base
    edges, ident, overlap = prepared.edges, prepared.identification, prepared.overlap
    point_do, point_naive, point_cate = prepared.point_do, prepared.point_naive, prepared.point_cate
    segment, seg_states, arms = prepared.segment, prepared.segment_states, prepared.arms
    seg_thin = prepared.segment_thin
    n = prepared.n_rows  # log rows, however many cells hold them
    boot_do = np.concatenate([c.do for c in chunks])
    boot_naive = np.concatenate([c.naive for c in chunks])
    boot_cate = np.concatenate([c.cate for c in chunks])
    edge_counts: Counter[Edge] = Counter()
    for c in chunks:
        edge_counts.update(c.edge_counts)
    same_set = sum(c.same_set for c in chunks)

    arm_check = prepared.arm_check
    refutations: dict = {}
    if prepared.refutation is not None:
        placebo = np.concatenate([c.placebo for c in chunks])
        checked = refute(prepared.refutation, boot_do, placebo, base, values, config.ci_level)
        # A withheld ATE has no number for a refutation to check: a thin arm's checks would test the prior.
        refutations = {v: r for v, r in checked.items() if not arm_check.why(v, baseline)}

    frequency = {e: c / config.n_bootstrap for e, c in edge_counts.items()}
    edge_frequency = {e: frequency.get(e, 0.0) for e in edges}
    edge_frequency.update({e: f for e, f in frequency.items() if f >= SHOWN_EDGE_FREQUENCY})
    common = {
        "identification": ident.strategy,
        "identification_note": ident.explanation,
        "adjustment_set_stability": round(same_set / config.n_bootstrap, 4),
        "replicates_identified": int((~np.isnan(boot_do).any(axis=1)).sum()),
    }
    if prepared.merged_levels:  # the adjustment is coarser than the columns: say so wherever the number goes
        common["merged_levels"] = {node: list(lost) for node, lost in prepared.merged_levels.items()}

    estimates: list[Estimate] = []
    nan = float("nan")

    def add(method: Method, estimand: Estimand, i: int, point: float, lo: float, hi: float, rows: int, **extra) -> None:
        estimates.append(
            Estimate(
                treatment=t,
                treatment_value=values[i],
                baseline_value=baseline if estimand != "interventional_mean" else None,
                outcome=y,
                estimand=estimand,
                method=method,
                estimate=float(point),
                ci_low=float(lo),
                ci_high=float(hi),
                n_rows=int(rows),
                adjustment_set=ident.adjustment_set if method == "bn_do" else (),
                **extra,
            )
        )

    # Why a bn_do number is withheld: an arm fails the arm rule, the effect is not identifiable, or a treatment
    # value has no overlap.
    withheld = {v: ident.explanation for v in values} if not ident.identified else dict(overlap["no_overlap"])

    def why(*vs: str) -> str | None:
        reasons = [arm_check.why(*vs), *(withheld[v] for v in dict.fromkeys(vs) if v in withheld)]
        return " ".join(r for r in reasons if r) or None

    for i, v in enumerate(values):
        reason = why(v)
        lo, hi = percentile_interval(boot_do[:, i], config.ci_level)
        diag = {**common, "overlap": overlap["values"].get(v, {})}
        if reason:
            add("bn_do", "interventional_mean", i, nan, nan, nan, n, diagnostics=diag, explanation=reason)
        else:
            add("bn_do", "interventional_mean", i, point_do[i], lo, hi, n, diagnostics=diag)
    for i, v in enumerate(values):
        if i == base:
            continue
        reason = why(v, baseline)
        diag = {**common, "refutations": refutations.get(v, {})}
        if refutations.get(v):
            checks = [r for r in refutations[v].values() if isinstance(r, dict) and "passed" in r]
            diag["refutations_passed"] = f"{sum(r['passed'] for r in checks)}/{len(checks)}"
        if reason:
            add("bn_do", "ate", i, nan, nan, nan, n, diagnostics=diag, explanation=reason)
        else:
            lo, hi = percentile_interval(boot_do[:, i] - boot_do[:, base], config.ci_level)
            add("bn_do", "ate", i, point_do[i] - point_do[base], lo, hi, n, diagnostics=diag)
    if segment and point_cate is not None:
        for i, v in enumerate(values):
            if i == base or why(v, baseline):
                continue
            for k, s in enumerate(seg_states):
                rows = prepared.segment_rows[k]
                where = {"diagnostics": {**common, "segment_share": round(rows / n, 4)}, "segment": f"{segment}={s}"}
                # Within a segment each of the two arms needs the rule's events too, or the contrast is the prior's.
                thin = [seg_thin[(u, s)] for u in dict.fromkeys((v, baseline)) if (u, s) in seg_thin]
                if thin:
                    add("bn_do", "cate", i, nan, nan, nan, rows, explanation=" ".join(thin), **where)
                    continue
                lo, hi = percentile_interval(boot_cate[:, i, k] - boot_cate[:, base, k], config.ci_level)
                add("bn_do", "cate", i, point_cate[i, k] - point_cate[base, k], lo, hi, rows, **where)

    # The naive rows follow the arm rule too: 0 clicks in an arm would give the interval [0, 0].
    for i, v in enumerate(values):
        reason = arm_check.why(v)
        if reason:
            add("naive", "interventional_mean", i, nan, nan, nan, arms.n[i], explanation=reason)
            continue
        lo, hi = percentile_interval(boot_naive[:, i], config.ci_level)
        add("naive", "interventional_mean", i, point_naive[i], lo, hi, arms.n[i])
    for i, v in enumerate(values):
        if i == base:
            continue
        reason = arm_check.why(v, baseline)
        if reason:
            add("naive", "ate", i, nan, nan, nan, arms.n[i] + arms.n[base], explanation=reason)
            continue
        lo, hi = percentile_interval(boot_naive[:, i] - boot_naive[:, base], config.ci_level)
        add("naive", "ate", i, point_naive[i] - point_naive[base], lo, hi, arms.n[i] + arms.n[base])

    # The A/B rows: ab_test on the arms' outcomes, so each ATE row's interval is the one its verdict quotes.
    estimates += prepared.ab

    return EffectReport(
        treatment=t,
        outcome=y,
        estimates=tuple(estimates),
        edges=edges,
        edge_frequency=edge_frequency,
        adjustment_set=ident.adjustment_set,
        identification=ident,
        overlap=overlap,
        refutations=refutations,
        seconds=prepared.seconds + sum(c.seconds for c in chunks) + time.perf_counter() - start,
    )
