"""Prepare one (treatment, outcome) pair on all rows: to cells, learn, identify, the point estimates."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from causal.config import CausalConfig
from causal.effects.ab import ArmCounts, ab_estimates
from causal.effects.arms import Arm, ArmCheck, check_arms, thin_arms
from causal.effects.engine import POSITIVE, Engine
from causal.effects.overlap import overlap_report
from causal.effects.refute import RefutationPoints, refutation_points
from causal.network.discretize import OTHER, Discretized, discretize
from causal.network.fit import CountFitter, fit_network
from causal.network.identify import Identification
from causal.network.joint import encode_states
from causal.network.query import DoQueryMismatch, check_agreement, do_query
from causal.network.scores import EncodedData, compress
from causal.values import Edge, Estimate


class Arms:
    """Per-treatment-value outcome counts of (weighted) rows: the naive means and the A/B test's arms."""

    def __init__(self, enc: EncodedData, treatment: str, outcome: str) -> None:
        t, y = enc.index(treatment), enc.index(outcome)
        self.k = enc.cards[t]
        self.arm = enc.codes[t]
        self.y = (enc.codes[y] == enc.states[y].index(POSITIVE)).astype(float)
        self.weights = enc.weights  # None: each row once
        w = np.ones(enc.n_cells) if enc.weights is None else enc.weights
        self.n = np.rint(np.bincount(self.arm, weights=w, minlength=self.k)).astype(np.int64)
        self.hits = np.rint(np.bincount(self.arm, weights=w * self.y, minlength=self.k)).astype(np.int64)

    def means(self, weights: np.ndarray | None) -> np.ndarray:
        """Each arm's outcome rate under these row (or cell) weights; the data's own weights when None."""
        w = (np.ones(len(self.arm)) if self.weights is None else self.weights) if weights is None else weights
        total = np.bincount(self.arm, weights=w, minlength=self.k)
        hits = np.bincount(self.arm, weights=w * self.y, minlength=self.k)
        with np.errstate(invalid="ignore", divide="ignore"):
            return hits / total  # nan where a replicate drew no row of an arm

    def outcomes(self, i: int) -> np.ndarray | ArmCounts:
        """The i-th treatment value's 0/1 outcomes, one per row, or their counts when the rows are weighted."""
        if self.weights is None:
            return self.y[self.arm == i]
        return ArmCounts(int(self.n[i]), int(self.hits[i]))


@dataclass(frozen=True, eq=False)
class PreparedEffects:
    """One (treatment, outcome) pair discretised, learned, identified and answered on all rows.

    All a bootstrap chunk and the combining step need, as integer codes and small arrays (no DataFrame,
    no fitted model): picklable, so the chunks can run on other workers. With resample="cells" its size
    is set by the cells, not the rows.
    """

    config: CausalConfig
    values: tuple[str, ...]  # the treatment's values, sorted
    baseline: str
    enc: EncodedData  # the cells: each distinct row of the network's nodes once, weighted by its log rows
    rows: EncodedData | None  # every row, uncompressed: kept only for resample="rows", which redraws them
    engine: Engine
    arms: Arms  # over what the bootstrap redraws (`resampled`)
    edges: tuple[Edge, ...]
    identification: Identification
    point_do: np.ndarray  # (values,)
    point_naive: np.ndarray  # (values,)
    segment: str | None  # the CATE's segment node
    segment_rows: tuple[int, ...]  # log rows in each state of the segment
    point_cate: np.ndarray | None  # (values, segment states)
    arm_check: ArmCheck  # every arm's rows and positives; why each thin arm's rows carry no number
    segment_thin: dict[tuple[str, str], str]  # (value, segment state) -> why that CATE arm carries no number
    overlap: dict
    refutation: RefutationPoints | None  # None when refutations are off or the effect is not identified
    ab: tuple[Estimate, ...]  # the ab_diff rows (they need no bootstrap)
    seconds: float
    # adjusted node -> its values the plan merged into OTHER (CausalConfig.max_levels): the adjustment is coarser
    merged_levels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def base(self) -> int:
        return self.values.index(self.baseline)

    @property
    def n_rows(self) -> int:
        """The log rows behind every estimate: the sum of the cells' weights."""
        return self.enc.n_rows

    @property
    def resampled(self) -> EncodedData:
        """What a bootstrap replicate redraws: the rows (resample="rows") or the cells."""
        return self.rows if self.rows is not None else self.enc

    @property
    def segment_states(self) -> tuple[str, ...]:
        return tuple(self.enc.states[self.enc.index(self.segment)]) if self.segment else ()


def prepare_effects(data: pd.DataFrame | Discretized, config: CausalConfig) -> PreparedEffects:
    """Everything on all rows: learn, identify, the point estimates, overlap and the refutations' points.

    `data` is the log (one row per impression, discretised here) or an already discretised `Discretized`:
    its rows, or its cells with `weights` (how many log rows each stands for). Either way the network's
    nodes are compressed to their contingency table first: a discrete network needs only the counts, so
    every number below is the one the rows give, at a cost set by the number of cells.
    """
    start = time.perf_counter()
    disc = data if isinstance(data, Discretized) else discretize(data, config)
    t, y = config.treatment, config.outcome
    for name, node in (("treatment", disc.treatment), ("outcome", disc.outcome)):
        if node != getattr(config, name):
            raise ValueError(
                f"the Discretized has {name} {node!r} but the config asks about {getattr(config, name)!r}; "
                "discretise with the same config"
            )
    values = disc.state_names[t]
    rows = encode_states(disc.data.loc[:, list(disc.nodes)], disc.state_names)
    weights = _checked_weights(disc, config)
    if weights is not None:
        rows = EncodedData(rows.names, rows.codes, rows.cards, rows.states, weights)
    # The A/B rows and the arm rule from the rows themselves when there are rows (their exact arithmetic).
    row_arms = Arms(rows, t, y)
    # Before any learning: a treatment with one value or without its baseline is refused in one line, and a
    # thin arm (one stray row, no clicks) only withholds the rows that involve it.
    arm_check = check_arms({v: (int(row_arms.n[i]), int(row_arms.hits[i])) for i, v in enumerate(values)}, config)
    baseline = arm_check.baseline
    enc = compress(rows)
    if enc.n_rows < 2:
        raise ValueError(f"the log holds {enc.n_rows} rows; an effect needs at least 2")
    engine = Engine(disc, config)
    edges, ident = engine.learn(enc)
    net = engine.fit(enc, edges)
    point_do = engine.means(net, ident)
    if ident.strategy == "backdoor" and not config.latent_confounders:
        _cross_check(disc, edges, config, values, point_do)
    segment = engine.segment_of(ident)
    segment_rows: tuple[int, ...] = ()
    segment_thin: dict[tuple[str, str], str] = {}
    if segment:
        s = enc.index(segment)
        counted = np.bincount(enc.codes[s], weights=enc.weights, minlength=enc.cards[s])
        segment_rows = tuple(int(round(c)) for c in counted)
        segment_thin = _segment_thin(enc, config, segment, baseline)
    adjusted = ident.adjustment_set if ident.strategy == "backdoor" else ()
    resampled = rows if config.resample == "rows" else enc
    arms = Arms(resampled, t, y)
    outcomes = [row_arms.outcomes(i) for i in range(len(values))]
    ab = ab_estimates(t, y, values, baseline, outcomes, config.ci_level, min_events=config.min_arm_events)
    # Refutations check reported ATEs: none when every ATE is withheld by the arm rule (a thin baseline, say).
    reported = any(v != baseline and arm_check.why(v, baseline) is None for v in values)
    refuting = config.refute and ident.identified and reported
    return PreparedEffects(
        config=config,
        values=tuple(values),
        baseline=baseline,
        enc=enc,
        rows=rows if config.resample == "rows" else None,
        engine=engine,
        arms=arms,
        edges=edges,
        identification=ident,
        point_do=point_do,
        point_naive=arms.means(None),
        segment=segment,
        segment_rows=segment_rows,
        point_cate=engine.cate(net, edges, ident, segment) if segment else None,
        arm_check=arm_check,
        segment_thin=segment_thin,
        overlap=overlap_report(enc, t, values, adjusted, config.min_stratum_share, outcome=y),
        refutation=refutation_points(disc, config, engine, resampled) if refuting else None,
        ab=tuple(ab),
        seconds=time.perf_counter() - start,
        merged_levels=merged_levels(disc, adjusted),
    )


def merged_levels(disc: Discretized, nodes: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Each of `nodes` whose rarer values the plan merged into OTHER (max_levels), with those values, sorted."""
    merged = {}
    for node in nodes:
        lost = sorted(v for v, level in disc.level_maps.get(node, {}).items() if level == OTHER and v != OTHER)
        if lost:
            merged[node] = tuple(lost)
    return merged


def _segment_thin(enc: EncodedData, config: CausalConfig, segment: str, baseline: str) -> dict[tuple[str, str], str]:
    """(value, segment state) -> why that arm of the CATE fails the arm rule, for every arm that does."""
    t, s, y = enc.index(config.treatment), enc.index(segment), enc.index(config.outcome)
    k, m = enc.cards[t], enc.cards[s]
    w = np.ones(enc.n_cells) if enc.weights is None else enc.weights
    positive = enc.codes[y] == enc.states[y].index(POSITIVE)
    cell = enc.codes[t] * m + enc.codes[s]
    n = np.rint(np.bincount(cell, weights=w, minlength=k * m)).astype(np.int64).reshape(k, m)
    hits = np.rint(np.bincount(cell, weights=w * positive, minlength=k * m)).astype(np.int64).reshape(k, m)
    thin: dict[tuple[str, str], str] = {}
    for j, state in enumerate(enc.states[s]):
        arms = tuple(Arm(v, int(n[i, j]), int(hits[i, j])) for i, v in enumerate(enc.states[t]))
        found = thin_arms(arms, config.treatment, config.outcome, baseline, config.min_arm_events, f"{segment}={state}")
        thin.update({(v, state): reason for v, reason in found.items()})
    return thin


def _checked_weights(disc: Discretized, config: CausalConfig) -> np.ndarray | None:
    """The Discretized's cell counts, checked; None when it holds one row per impression."""
    if disc.weights is None:
        return None
    if config.resample == "rows":
        raise ValueError(
            "resample='rows' redraws the log's rows, but this Discretized holds counts (weights), not rows; "
            "use resample='cells' (the same bootstrap in distribution, drawn from the counts) or pass the rows"
        )
    w = np.asarray(disc.weights, dtype=np.float64)
    if w.shape != (len(disc.data),):
        raise ValueError(
            f"Discretized.weights has shape {w.shape}; pass one count per row of its data ({len(disc.data)} rows)"
        )
    if not (np.isfinite(w).all() and (w >= 0).all() and np.array_equal(w, np.rint(w))):
        raise ValueError(
            "Discretized.weights must be whole, non-negative numbers: how many log rows each row stands for"
        )
    return w


def _cross_check(disc: Discretized, edges, config: CausalConfig, values, point_do: np.ndarray) -> None:
    """The numpy answer must equal pgmpy's do-query (itself checked against elimination on the mutilated network)."""
    frame = disc.data.loc[:, list(disc.nodes)]
    if disc.weights is None:
        model = fit_network(frame, edges, config, disc.state_names)
    else:  # pgmpy's estimator counts rows; CountFitter gives its numbers from weighted cells (tested to agree)
        model = CountFitter(frame, edges, config, disc.state_names).fit(np.asarray(disc.weights, dtype=np.float64))
    for v, mine in zip(values, point_do):
        reference = do_query(model, config.treatment, v, config.outcome, POSITIVE)
        try:
            check_agreement(mine, reference, f"P({config.outcome}=1 | do({config.treatment}={v!r})) (numpy vs pgmpy)")
        except DoQueryMismatch as exc:
            raise DoQueryMismatch(f"recdo's back-door formula disagrees with pgmpy: {exc}") from None
