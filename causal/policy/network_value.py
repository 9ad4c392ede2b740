"""The network's answer to "what click rate would policy pi get?", OPE beside it, and the rows the flow stores.

bn_policy: V(pi) = sum over context u, item a and slot k of P(click=1 | do(item=a, position=k), u) pi(a, k | u) P(u),
from a Bayesian network over (user features, item_id, position, click) learned and fitted with the
same machinery as `causal.effects.engine` (tiers, BIC hill climb, BDeu CPDs, percentile bootstrap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from pgmpy.factors.discrete import TabularCPD
from pgmpy.models import DiscreteBayesianNetwork

from causal.config import CausalConfig
from causal.network.discretize import POSITION, discretize
from causal.network.fit import CountFitter, empty_network
from causal.network.query import VariableElimination, ancestral_part
from causal.network.structure import learn_structure
from causal.policy.estimators import OPE_METHODS, PolicyEstimate, evaluate_policy
from causal.policy.logged import BanditLog, OPEError, bandit_log
from causal.policy.policies import bts_action_dist, load_bts_prior
from causal.policy.reward import RewardModel
from causal.policy.support import check_action_dist
from causal.values import Estimate
from common.values import jsonable

ITEM = "item_id"
POSITIVE = "1"


@dataclass(frozen=True, eq=False)
class PolicyNetwork:
    """A network over (user features, item_id, position, outcome) with a fixed structure, refittable per bootstrap.

    The user, item and slot CPDs are the BDeu posterior means of `causal.network.fit.CountFitter`. The
    outcome's CPD keeps BDeu's equivalent sample size (ess / q pseudo-rows per parent cell, q the
    number of parent cells) but centres it on the outcome's overall rate instead of on 1/2: with
    clicks at 0.4% and 240+ (item, slot) cells, BDeu's uniform prior would give every cell without
    a row a click rate of 0.5 (bootstrap resamples empty some cells, and a policy may favour items
    the log barely shows). With data in a cell the two priors agree to within ess / q rows.
    """

    data: pd.DataFrame  # discretised nodes, str
    edges: tuple[tuple[str, str], ...]
    fitter: CountFitter
    outcome: str
    items: tuple[str, ...]  # action index -> item id, as in the BanditLog
    len_list: int
    action: np.ndarray  # (n,) action index of each row
    position: np.ndarray  # (n,) slot of each row

    @property
    def outcome_parents(self) -> tuple[str, ...]:
        return tuple(sorted(a for a, b in self.edges if b == self.outcome))

    @property
    def user_parents(self) -> tuple[str, ...]:
        """The outcome's parents besides item and slot: the adjustment set the query sums over."""
        return tuple(p for p in self.outcome_parents if p not in (ITEM, POSITION))

    def cpds(self, weights: np.ndarray | None = None) -> dict[str, TabularCPD]:
        """Every CPD for row weights (None: every row once), the outcome's with the rate-centred prior."""
        cpds = {cpd.variable: cpd for cpd in self.fitter.cpds(weights)}
        parents = list(self.outcome_parents)
        states = {v: list(self.fitter.state_names[v]) for v in (self.outcome, *parents)}
        counts = self._cell_counts([self.outcome, *parents], states, weights)  # (2, *cards)
        n_cells = int(np.prod(counts.shape[1:]))
        totals = counts.reshape(counts.shape[0], -1).sum(axis=1)
        rate = totals / totals.sum()  # the outcome's marginal distribution in these rows
        prior = self.fitter.ess / n_cells  # BDeu's pseudo-rows per parent cell
        table = counts + prior * rate.reshape(-1, *([1] * len(parents)))
        table = table / table.sum(axis=0, keepdims=True)
        cpds[self.outcome] = TabularCPD(
            self.outcome,
            len(states[self.outcome]),
            table.reshape(len(states[self.outcome]), -1),
            evidence=parents or None,
            evidence_card=[len(states[p]) for p in parents] or None,
            state_names=states,
        )
        return cpds

    def model(self, weights: np.ndarray | None = None) -> DiscreteBayesianNetwork:
        """The fitted network itself, e.g. to cross-check a value with `causal.network.query.mutilate`."""
        model = empty_network(self.fitter.nodes, self.edges)
        model.add_cpds(*self.cpds(weights).values())
        return model

    def value(self, action_dist: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
        """(V(pi), share of pi's mass on (item, slot, u) cells holding no row) for row weights (None: all once)."""
        pi = np.asarray(action_dist, dtype=float)
        cpds = self.cpds(weights)
        p1, counts = self._click_table(cpds[self.outcome], weights)  # (A, K, *U) each
        w = np.ones(len(self.data)) if weights is None else np.asarray(weights, dtype=float)
        if pi.ndim == 3:  # a per-row policy: average over the logged rows' contexts and slots
            rows = (slice(None), self.position, *(self._codes(u) for u in self.user_parents))
            q = p1[rows].T  # (n, A): P(outcome=1 | a, k_t, u_t)
            empty = (counts[rows] == 0).T.astype(float)
            per_row = pi[np.arange(len(w)), :, self.position]  # (n, A)
            value = float(np.sum(w * np.einsum("na,na->n", per_row, q)) / w.sum())
            share = float(np.sum(w * np.einsum("na,na->n", per_row, empty)) / w.sum())
            return value, share
        slot_share = np.bincount(self.position, weights=w, minlength=self.len_list) / w.sum()  # (K,)
        joint = pi * slot_share[None, :]  # pi(a, k) as the logged rows weigh the slots
        if self.user_parents:
            pu = self._user_marginal(cpds)  # (*U)
            axes = (tuple(range(2, p1.ndim)), tuple(range(pu.ndim)))
            q_ak = np.tensordot(p1, pu, axes=axes)
            empty_ak = np.tensordot((counts == 0).astype(float), pu, axes=axes)
        else:
            q_ak, empty_ak = p1, (counts == 0).astype(float)
        return float(np.sum(joint * q_ak)), float(np.sum(joint * empty_ak))

    def _click_table(self, cpd: TabularCPD, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """P(outcome=1 | parents) and the rows per parent cell, both as (A, K, *U) in action/slot index order."""
        parents = list(cpd.variables[1:])  # TabularCPD order: the variable, then its evidence
        states = {v: list(cpd.state_names[v]) for v in cpd.variables}
        values = cpd.get_values()[states[self.outcome].index(POSITIVE)].reshape([len(states[p]) for p in parents])
        counts = self._cell_counts(parents, states, weights)
        order = [parents.index(ITEM)] + ([parents.index(POSITION)] if POSITION in parents else [])
        order += [parents.index(u) for u in self.user_parents]
        values, counts = np.transpose(values, order), np.transpose(counts, order)
        item_axis = [states[ITEM].index(item) for item in self.items]
        values, counts = values[item_axis], counts[item_axis]
        if POSITION in parents:
            slot_states = states[POSITION]
            slot_axis = [slot_states.index(str(k)) if str(k) in slot_states else -1 for k in range(self.len_list)]
            missing = [k for k, s in enumerate(slot_axis) if s < 0]
            values = values[:, [max(s, 0) for s in slot_axis]]
            counts = counts[:, [max(s, 0) for s in slot_axis]]
            if missing:
                counts[:, missing] = 0
        else:  # one slot in the data: every slot gets the same answer
            values = np.repeat(values[:, None], self.len_list, axis=1)
            counts = np.repeat(counts[:, None], self.len_list, axis=1)
        return values, counts

    def _cell_counts(self, nodes: list[str], states: dict, weights: np.ndarray | None) -> np.ndarray:
        cards = [len(states[p]) for p in nodes]
        flat = np.zeros(len(self.data), dtype=np.int64)
        for p, card in zip(nodes, cards):
            codes = pd.Categorical(self.data[p], categories=states[p]).codes.astype(np.int64)
            flat = flat * card + codes
        return np.bincount(flat, weights=weights, minlength=int(np.prod(cards))).astype(float).reshape(cards)

    def _codes(self, node: str) -> np.ndarray:
        states = list(self.fitter.state_names[node])
        return pd.Categorical(self.data[node], categories=states).codes.astype(np.int64)

    def _user_marginal(self, cpds: dict) -> np.ndarray:
        """P(U) for the outcome's user parents from the network (variable elimination over the user nodes)."""
        model = empty_network(self.fitter.nodes, self.edges)
        model.add_cpds(*cpds.values())
        part = ancestral_part(model, self.user_parents)
        factor = VariableElimination(part).query(list(self.user_parents), joint=True, show_progress=False)
        order = [factor.variables.index(u) for u in self.user_parents]
        values = np.transpose(factor.values, order)
        for axis, u in enumerate(self.user_parents):  # align the factor's states with the fitter's
            have = list(factor.state_names[u])
            want = list(self.fitter.state_names[u])
            values = np.take(values, [have.index(s) for s in want], axis=axis)
        return values


def policy_network(
    df: pd.DataFrame,
    config: CausalConfig,
    *,
    items: Sequence[str] | None = None,
    log: BanditLog | None = None,
) -> PolicyNetwork:
    """Discretise the logged rows, learn the structure (item and slot required parents of the outcome), set up fitting.

    Tiers: user features, then item_id, then position, then the outcome; the hill climber may add
    user -> user, user -> item/slot (a contextual logger), item -> slot and user -> outcome edges.
    Every item in `items` is a state of item_id, shown or not, so the network answers for it too
    (from its BDeu prior alone when the log never shows it; the diagnostics report that mass).
    """
    cfg = replace(config, treatment=ITEM, baseline=None)
    log = log if log is not None else bandit_log(df, items=items, outcome=cfg.outcome, context_columns=())
    disc = discretize(df, cfg)
    users = tuple(disc.user_features)
    nodes = [*users, ITEM, *([POSITION] if POSITION in disc.data.columns else []), cfg.outcome]
    data = disc.data.loc[:, nodes].reset_index(drop=True)
    state_names = {k: v for k, v in disc.state_names.items() if k in nodes}
    state_names[ITEM] = tuple(sorted(set(state_names[ITEM]) | set(log.items)))
    tiers = tuple(t for t in (users, (ITEM,), (POSITION,) if POSITION in nodes else (), (cfg.outcome,)) if t)
    required = ((ITEM, cfg.outcome), *(((POSITION, cfg.outcome),) if POSITION in nodes else ()))
    structure = learn_structure(data, tiers, required, cfg)
    fitter = CountFitter(data, structure.edges, cfg, state_names)
    return PolicyNetwork(
        data=data,
        edges=structure.edges,
        fitter=fitter,
        outcome=cfg.outcome,
        items=log.items,
        len_list=log.len_list,
        action=log.action,
        position=log.position,
    )


def bn_policy_value(
    df: pd.DataFrame,
    action_dist: np.ndarray,
    config: CausalConfig,
    *,
    items: Sequence[str] | None = None,
) -> PolicyEstimate:
    """The network's value of pi with a percentile bootstrap interval (method `bn_policy`).

    `df` holds the logged rows (canonical log), `action_dist` is (n_actions, len_list) or per row
    (len(df), n_actions, len_list) over the log's items (`items`, default as `bandit_log` numbers
    them). The structure is learned once on all rows; each of `config.n_bootstrap` replicates
    resamples the rows (numpy `default_rng(config.seed)`), refits the CPDs and recomputes V(pi).
    Slots are weighted as the logged rows weigh them (one row = one slot, as obp's policy value).
    """
    log = bandit_log(df, items=items, outcome=config.outcome, context_columns=())
    pi = check_action_dist(log, action_dist)
    net = policy_network(df, config, log=log)
    point, empty_share = net.value(pi)
    rng = np.random.default_rng(config.seed)
    n = len(net.data)
    draws = np.empty(config.n_bootstrap)
    for b in range(config.n_bootstrap):
        draws[b] = net.value(pi, np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float))[0]
    lo, hi = np.quantile(draws, [(1 - config.ci_level) / 2, (1 + config.ci_level) / 2])
    return PolicyEstimate(
        method="bn_policy",
        estimate=point,
        ci_low=float(lo),
        ci_high=float(hi),
        n_rows=n,
        adjustment_set=net.user_parents,
        diagnostics={
            "edges": [f"{a}->{b}" for a, b in net.edges],
            "outcome_parents": list(net.outcome_parents),
            "share_of_target_mass_on_cells_without_data": empty_share,
            "bootstrap_replicates": config.n_bootstrap,
            "ci_level": config.ci_level,
            "equivalent_sample_size": config.equivalent_sample_size,
            "outcome_prior": "BDeu equivalent sample size, centred on the outcome's overall rate",
            "n_rows": n,
        },
    )


def to_estimates(
    policy_estimates: Sequence[PolicyEstimate],
    treatment: str = "policy",
    treatment_value: str = "bts",
    outcome: str = "click",
) -> tuple[Estimate, ...]:
    """Rows for the interventions table: interventional means under the method's name, JSON-safe diagnostics."""
    return tuple(
        Estimate(
            treatment=treatment,
            treatment_value=treatment_value,
            baseline_value=None,
            outcome=outcome,
            estimand="interventional_mean",
            method=pe.method,  # type: ignore[arg-type]
            estimate=float(pe.estimate),
            ci_low=float(pe.ci_low),
            ci_high=float(pe.ci_high),
            n_rows=int(pe.n_rows),
            adjustment_set=tuple(pe.adjustment_set),
            diagnostics=jsonable(pe.diagnostics),
        )
        for pe in policy_estimates
    )


def evaluate_obd_target(
    df_canonical: pd.DataFrame,
    logged_value: str = "random",
    prior_path: str | Path = "data/obd-sample/bts_prior.yaml",
    campaign: str = "all",
    n_bootstrap: int = 200,
    seed: int = 0,
    *,
    target_value: str = "bts",
    methods: Sequence[str] = OPE_METHODS,
    reward_model: RewardModel | None = None,
    config: CausalConfig | None = None,
    n_sim: int = 100_000,
    model_refits: int = 30,
    policy_column: str = "policy",
    outcome: str = "click",
    with_bn: bool = True,
) -> tuple[Estimate, ...]:
    """OPE and bn_policy estimates of the prior-only Bernoulli-TS policy's click rate from the `logged_value` rows.

    When the frame also holds rows served by `target_value` (OBD logs both), their click rate is
    the on-policy truth: each row's diagnostics then carry it and the relative error against it.
    """
    if policy_column not in df_canonical.columns:
        raise OPEError(f"column {policy_column!r} is not in the log; it names the policy that served each row")
    logged = df_canonical[df_canonical[policy_column].astype(str) == logged_value]
    if logged.empty:
        values = sorted(map(str, df_canonical[policy_column].unique()))
        raise OPEError(f"no rows were served by {policy_column}={logged_value!r}; values there: {values}")
    alpha, _ = load_bts_prior(prior_path, campaign)
    log = bandit_log(logged, n_actions=len(alpha), outcome=outcome)
    pi = bts_action_dist(prior_path, campaign, log.n_actions, log.len_list, n_sim=n_sim)
    progress = config.progress if config is not None else False
    found = list(
        evaluate_policy(log, pi, methods, reward_model, n_bootstrap, seed, model_refits=model_refits, progress=progress)
    )
    if with_bn:
        base = config if config is not None else CausalConfig(progress=False)
        cfg = replace(base, treatment=ITEM, outcome=outcome, baseline=None, n_bootstrap=n_bootstrap, seed=seed)
        found.append(bn_policy_value(logged, pi, cfg, items=log.items))
    common = {
        "logged_policy": logged_value,
        "target_policy": f"bernoulli_ts_prior:{campaign}",
        "prior_file": Path(prior_path).name,
        "n_sim": n_sim,
    }
    target = df_canonical[df_canonical[policy_column].astype(str) == target_value]
    if not target.empty:
        truth = float(pd.to_numeric(target[outcome]).mean())
        common.update(on_policy_value=truth, n_on_policy_rows=int(len(target)))
    out = []
    for pe in found:
        extra = dict(common)
        if "on_policy_value" in common and common["on_policy_value"] > 0:
            truth = common["on_policy_value"]
            extra["relative_error_vs_on_policy"] = abs(pe.estimate - truth) / truth
        out.append(replace(pe, diagnostics={**pe.diagnostics, **extra}))
    return to_estimates(out, treatment=policy_column, treatment_value=target_value, outcome=outcome)
