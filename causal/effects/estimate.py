"""Effects with bootstrap intervals: prepare on all rows → bootstrap chunks → combine into the report.

The stages mirror the method: learn the structure (BIC hill climb under the tiers) → identify (back-door
or front-door set, or a stated refusal) → fit the CPDs → query with the identification formula; `Engine`
does them. The bootstrap repeats all of it, structure included, on every replicate, so the intervals carry
the structural uncertainty; refutations and an overlap report go with the numbers, and the `ab_diff` rows
come from `ab_test` on the arms.

Three pure steps, so a task runner can spread one network's bootstrap over workers: `prepare_effects`
(everything on all rows) → `bootstrap_chunk(prepared, c)` for each independently seeded chunk →
`combine_effects`. `estimate_effects` runs them in order in this process.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from causal.config import BOOTSTRAP_STREAM, CausalConfig
from causal.effects.ab import ab_estimates
from causal.effects.engine import POSITIVE, Engine
from causal.effects.refute import RefutationPoints, overlap_report, placebo_replicates, refutation_points, refute
from causal.network.discretize import Discretized, discretize
from causal.network.fit import fit_network
from causal.network.identify import Identification
from causal.network.joint import encode_states, resample
from causal.network.query import DoQueryMismatch, check_agreement, do_query
from causal.network.scores import EncodedData
from causal.values import Edge, Estimand, Estimate, Method
from common.values import percentile_interval

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


@dataclass(frozen=True, eq=False)
class PreparedEffects:
    """One (treatment, outcome) pair discretised, learned, identified and answered on all rows.

    All a bootstrap chunk and the combining step need, as integer codes and small arrays (no DataFrame,
    no fitted model): picklable, so the chunks can run on other workers.
    """

    config: CausalConfig
    values: tuple[str, ...]  # the treatment's values, sorted
    baseline: str
    enc: EncodedData  # every row, the network's nodes as integer codes
    engine: Engine
    arms: _Arms
    edges: tuple[Edge, ...]
    identification: Identification
    point_do: np.ndarray  # (values,)
    point_naive: np.ndarray  # (values,)
    segment: str | None  # the CATE's segment node
    segment_rows: tuple[int, ...]  # rows in each state of the segment
    point_cate: np.ndarray | None  # (values, segment states)
    overlap: dict
    refutation: RefutationPoints | None  # None when refutations are off or the effect is not identified
    seconds: float

    @property
    def base(self) -> int:
        return self.values.index(self.baseline)

    @property
    def segment_states(self) -> tuple[str, ...]:
        return tuple(self.enc.states[self.enc.index(self.segment)]) if self.segment else ()


@dataclass(frozen=True, eq=False)
class BootstrapChunk:
    """The replicates of one bootstrap chunk (`config.chunk_replicates(chunk)`), one row per replicate."""

    chunk: int
    do: np.ndarray  # (replicates, values); nan where a replicate's structure did not identify the effect
    naive: np.ndarray  # (replicates, values)
    cate: np.ndarray  # (replicates, values, segment states)
    edge_counts: dict[Edge, int]  # replicates whose relearned structure held the edge
    same_set: int  # replicates identifying with the full data's strategy and adjustment set
    placebo: np.ndarray | None  # (replicates, values) placebo means; None when there is no placebo
    seconds: float


def estimate_effects(df: pd.DataFrame, config: CausalConfig) -> EffectReport:
    """Discretise, learn, identify, fit and query; percentile bootstrap intervals over rows with the
    structure relearned in every replicate; refutations and an overlap report beside the numbers.

    The replicates run here one chunk after another; a task runner may run `bootstrap_chunk` on
    workers instead and get the same report: chunk c draws from its own Generator seeded with
    (config.seed, stream, c), so the numbers depend on (seed, n_bootstrap, bootstrap_chunk) only.
    """
    prepared = prepare_effects(df, config)
    chunks = []
    desc = f"bootstrap {config.treatment} → {config.outcome}"
    with tqdm(total=config.n_bootstrap, desc=desc, disable=not config.progress, leave=False) as bar:
        for c in range(config.n_chunks):
            chunks.append(bootstrap_chunk(prepared, c))
            bar.update(len(chunks[-1].do))
    return combine_effects(prepared, chunks)


def prepare_effects(df: pd.DataFrame, config: CausalConfig) -> PreparedEffects:
    """Everything on all rows: discretise, learn, identify, the point estimates, overlap and the refutations' points."""
    start = time.perf_counter()
    disc = discretize(df, config)
    t, y = config.treatment, config.outcome
    values = disc.state_names[t]
    if len(values) < 2:
        raise ValueError(
            f"treatment {t!r} takes only the value(s) {list(values)}; "
            "an effect needs logs served by at least two treatment values"
        )
    baseline = config.baseline if config.baseline is not None else values[0]
    if baseline not in values:
        raise ValueError(f"baseline {baseline!r} is not a value of {t!r}; values: {list(values)}")

    enc = encode_states(disc.data.loc[:, list(disc.nodes)], disc.state_names)
    engine = Engine(disc, config)
    edges, ident = engine.learn(enc)
    net = engine.fit(enc, edges)
    point_do = engine.means(net, ident)
    if ident.strategy == "backdoor" and not config.latent_confounders:
        _cross_check(disc, edges, config, values, point_do)
    segment = engine.segment_of(ident)
    seg_codes = disc.data[segment].to_numpy() if segment else None
    segment_rows = tuple(int((seg_codes == s).sum()) for s in disc.state_names[segment]) if segment else ()
    adjusted = ident.adjustment_set if ident.strategy == "backdoor" else ()
    arms = _Arms(disc)
    refuting = config.refute and ident.identified
    return PreparedEffects(
        config=config,
        values=tuple(values),
        baseline=baseline,
        enc=enc,
        engine=engine,
        arms=arms,
        edges=edges,
        identification=ident,
        point_do=point_do,
        point_naive=arms.means(None),
        segment=segment,
        segment_rows=segment_rows,
        point_cate=engine.cate(net, edges, ident, segment) if segment else None,
        overlap=overlap_report(disc.data, t, values, adjusted, config.min_stratum_share, outcome=y),
        refutation=refutation_points(disc, config, engine, enc) if refuting else None,
        seconds=time.perf_counter() - start,
    )


def bootstrap_chunk(prepared: PreparedEffects, chunk: int) -> BootstrapChunk:
    """Replicates `config.chunk_replicates(chunk)`: resample the rows, relearn, refit and requery in each.

    Chunk c draws from its own Generator, seeded (seed, BOOTSTRAP_STREAM, c), so a chunk gives the same
    arrays wherever and whenever it runs.
    """
    start = time.perf_counter()
    config, enc, engine, ident = prepared.config, prepared.enc, prepared.engine, prepared.identification
    replicates = len(config.chunk_replicates(chunk))
    rng = config.rng(BOOTSTRAP_STREAM, chunk)
    n, k, segment = enc.n_rows, len(prepared.values), prepared.segment
    boot_do = np.full((replicates, k), np.nan)
    boot_naive = np.empty((replicates, k))
    boot_cate = np.full((replicates, k, len(prepared.segment_states)), np.nan)
    edge_counts: Counter[Edge] = Counter()
    same_set = 0
    for b in range(replicates):
        rows = rng.integers(0, n, size=n)
        replicate = resample(enc, rows)
        edges_b, ident_b = engine.learn(replicate)
        net_b = engine.fit(replicate, edges_b)
        edge_counts.update(edges_b)
        same_set += ident_b.strategy == ident.strategy and ident_b.adjustment_set == ident.adjustment_set
        boot_do[b] = engine.means(net_b, ident_b)
        if segment:
            boot_cate[b] = engine.cate(net_b, edges_b, ident_b, segment)
        boot_naive[b] = prepared.arms.means(np.bincount(rows, minlength=n).astype(float))
    placebo = None
    if prepared.refutation is not None:
        placebo = placebo_replicates(prepared.refutation, engine, enc, config, chunk)
    return BootstrapChunk(
        chunk=chunk,
        do=boot_do,
        naive=boot_naive,
        cate=boot_cate,
        edge_counts=dict(edge_counts),
        same_set=int(same_set),
        placebo=placebo,
        seconds=time.perf_counter() - start,
    )


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
    n = prepared.enc.n_rows
    boot_do = np.concatenate([c.do for c in chunks])
    boot_naive = np.concatenate([c.naive for c in chunks])
    boot_cate = np.concatenate([c.cate for c in chunks])
    edge_counts: Counter[Edge] = Counter()
    for c in chunks:
        edge_counts.update(c.edge_counts)
    same_set = sum(c.same_set for c in chunks)

    refutations: dict = {}
    if prepared.refutation is not None:
        placebo = np.concatenate([c.placebo for c in chunks])
        refutations = refute(prepared.refutation, boot_do, placebo, base, values, config.ci_level)

    frequency = {e: c / config.n_bootstrap for e, c in edge_counts.items()}
    edge_frequency = {e: frequency.get(e, 0.0) for e in edges}
    edge_frequency.update({e: f for e, f in frequency.items() if f >= SHOWN_EDGE_FREQUENCY})
    common = {
        "identification": ident.strategy,
        "identification_note": ident.explanation,
        "adjustment_set_stability": round(same_set / config.n_bootstrap, 4),
        "replicates_identified": int((~np.isnan(boot_do).any(axis=1)).sum()),
    }

    estimates: list[Estimate] = []

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

    # Why a bn_do number is withheld: the effect is not identifiable, or a treatment value has no overlap.
    withheld = {v: ident.explanation for v in values} if not ident.identified else dict(overlap["no_overlap"])

    def why(*vs: str) -> str | None:
        reasons = [withheld[v] for v in dict.fromkeys(vs) if v in withheld]
        return " ".join(reasons) if reasons else None

    for i, v in enumerate(values):
        reason = why(v)
        lo, hi = percentile_interval(boot_do[:, i], config.ci_level)
        diag = {**common, "overlap": overlap["values"].get(v, {})}
        if reason:
            add("bn_do", "interventional_mean", i, np.nan, np.nan, np.nan, n, diagnostics=diag, explanation=reason)
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
            add("bn_do", "ate", i, np.nan, np.nan, np.nan, n, diagnostics=diag, explanation=reason)
        else:
            lo, hi = percentile_interval(boot_do[:, i] - boot_do[:, base], config.ci_level)
            add("bn_do", "ate", i, point_do[i] - point_do[base], lo, hi, n, diagnostics=diag)
    if segment and point_cate is not None:
        for i, v in enumerate(values):
            if i == base or why(v, baseline):
                continue
            for k, s in enumerate(seg_states):
                lo, hi = percentile_interval(boot_cate[:, i, k] - boot_cate[:, base, k], config.ci_level)
                rows = prepared.segment_rows[k]
                diag = {**common, "segment_share": round(rows / n, 4)}
                cate = point_cate[i, k] - point_cate[base, k]
                add("bn_do", "cate", i, cate, lo, hi, rows, diagnostics=diag, segment=f"{segment}={s}")

    for i in range(len(values)):
        lo, hi = percentile_interval(boot_naive[:, i], config.ci_level)
        add("naive", "interventional_mean", i, point_naive[i], lo, hi, arms.n[i])
    for i in range(len(values)):
        if i != base:
            lo, hi = percentile_interval(boot_naive[:, i] - boot_naive[:, base], config.ci_level)
            add("naive", "ate", i, point_naive[i] - point_naive[base], lo, hi, arms.n[i] + arms.n[base])

    # The A/B rows: ab_test on the arms' outcomes, so each ATE row's interval is the one its verdict quotes.
    estimates += ab_estimates(t, y, values, baseline, [arms.outcomes(i) for i in range(len(values))], config.ci_level)

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


def _cross_check(disc: Discretized, edges, config: CausalConfig, values, point_do: np.ndarray) -> None:
    """The numpy answer must equal pgmpy's do-query (itself checked against elimination on the mutilated network)."""
    model = fit_network(disc.data.loc[:, list(disc.nodes)], edges, config, disc.state_names)
    for v, mine in zip(values, point_do):
        reference = do_query(model, config.treatment, v, config.outcome, POSITIVE)
        try:
            check_agreement(mine, reference, f"P({config.outcome}=1 | do({config.treatment}={v!r})) (numpy vs pgmpy)")
        except DoQueryMismatch as exc:
            raise DoQueryMismatch(f"recdo's back-door formula disagrees with pgmpy: {exc}") from None


class _Arms:
    """Per-treatment-value outcome rates for row weights (the naive, unadjusted means)."""

    def __init__(self, disc: Discretized) -> None:
        values = list(disc.state_names[disc.treatment])
        self.arm = pd.Categorical(disc.data[disc.treatment], categories=values).codes.astype(np.int64)
        self.y = (disc.data[disc.outcome].to_numpy() == POSITIVE).astype(float)
        self.k = len(values)
        self.n = np.bincount(self.arm, minlength=self.k)

    def means(self, weights: np.ndarray | None) -> np.ndarray:
        """Each arm's weighted outcome rate; all weights 1 when `weights` is None."""
        w = np.ones(len(self.arm)) if weights is None else weights
        total = np.bincount(self.arm, weights=w, minlength=self.k)
        hits = np.bincount(self.arm, weights=w * self.y, minlength=self.k)
        with np.errstate(invalid="ignore", divide="ignore"):
            return hits / total  # nan where a replicate drew no row of an arm

    def outcomes(self, i: int) -> np.ndarray:
        """The 0/1 outcomes of the rows served the i-th treatment value."""
        return self.y[self.arm == i]
