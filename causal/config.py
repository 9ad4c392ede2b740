"""Settings of the Bayesian-network causal estimator (discretisation, search, prior, bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from common.values import check_int as _check_int

# Independent random streams: numpy Generators seeded with [seed, stream(, chunk)]. The tags are distinct
# and nonzero because numpy's SeedSequence ignores trailing zeros ([s, 7, 0] seeds like [s, 7]): a chunk
# number placed right after the seed would replay another stream (chunk 7 = the refutations').
BOOTSTRAP_STREAM = 1  # the estimate's replicates, one stream per chunk
PLACEBO_STREAM = 2  # the placebo's replicates, one stream per chunk
REFUTE_STREAM = 7  # the placebo's permutation, the random common cause and the random halves

# The arm rule: an arm (the rows of one treatment value, or of one value within one CATE segment) needs this many
# positive AND this many negative outcomes before any estimate involving it gets a number. 5 is the textbook
# condition for the normal approximation to a binomial (n p >= 5 and n (1 - p) >= 5) behind the A/B Wald
# interval; below it the naive bootstrap collapses (0 clicks: [0, 0]) and the network's interval is the BDeu
# prior's (all-zero clicks gave bn_do "ATEs" of -0.00009 whose intervals excluded 0). Open Bandit's sample has 38
# and 42 clicks in its policies' 10,000 rows each, far above it; its first 1,500 random rows hold 4, below.
MIN_ARM_EVENTS = 5

Resample = Literal["cells", "rows"]
RESAMPLES: tuple[str, ...] = get_args(Resample)


@dataclass(frozen=True)
class CausalConfig:
    """One run of learn → fit → identify → query; every field is checked on construction."""

    treatment: str = "policy"
    outcome: str = "click"
    baseline: str | None = None  # None: the first treatment value in sorted order that passes the arm rule
    n_bootstrap: int = 200
    # Replicates per independently seeded chunk: the unit a task runner fans out. The intervals depend on
    # (seed, n_bootstrap, bootstrap_chunk), never on how many workers ran the chunks or in what order.
    bootstrap_chunk: int = 25
    n_bins: int = 4  # quantile bins for numeric nodes (score, numeric user features)
    max_levels: int = 6  # categorical nodes keep the max_levels-1 most frequent values + "other"
    max_indegree: int | None = 3
    # BDeu prior strength of the CPDs. Small because clicks are rare: 10 pseudo-rows would lift a 0.4% click
    # rate by several percent. The flow's parameters take this default (one place for it).
    equivalent_sample_size: float = 1.0
    ci_level: float = 0.95
    seed: int = 0
    progress: bool = True
    # Unobserved common causes the analyst knows of, as node pairs: ("strategy", "click") means a hidden
    # variable drives both. Identification then looks for another back-door set or a front-door one.
    latent_confounders: tuple[tuple[str, str], ...] = ()
    direct_edge: bool = True  # keep treatment -> outcome in every structure (False: a front-door graph may drop it)
    segment: str | None = "auto"  # CATE by this pre-treatment node; "auto": first user feature adjusted for
    min_stratum_share: float = 0.01  # a stratum this large where a treatment value never occurs withholds it
    min_arm_events: int = MIN_ARM_EVENTS  # positives and negatives an arm needs for a number (0: no rule)
    refute: bool = True  # placebo, random common cause and random halves beside every ATE
    # How a bootstrap replicate redraws the log: "cells" draws multinomial counts over the contingency table's
    # cells (cost: cells x replicates), "rows" redraws the rows themselves (cost: rows x replicates; the
    # reference, and only possible when the input has one row per impression). Equal in distribution.
    resample: Resample = "cells"

    def __post_init__(self) -> None:
        for name in ("treatment", "outcome"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty column name; got {value!r}")
        if self.treatment == self.outcome:
            raise ValueError(
                f"treatment and outcome are the same column {self.treatment!r}; "
                "pass the column that served the row as treatment and the response as outcome"
            )
        if self.baseline is not None and not isinstance(self.baseline, str):
            raise ValueError(
                f"baseline must be a treatment value as a string or None; got {self.baseline!r}; "
                f"pass str({self.baseline!r})"
            )
        _check_int("n_bootstrap", self.n_bootstrap, 2, "use at least 2 replicates (200 for reported intervals)")
        _check_int(
            "bootstrap_chunk",
            self.bootstrap_chunk,
            1,
            "replicates per seeded chunk; 25 keeps a chunk a few seconds of work",
        )
        _check_int("n_bins", self.n_bins, 2, "use at least 2 quantile bins")
        _check_int("max_levels", self.max_levels, 2, "keep at least 2 levels (one value + 'other')")
        if self.max_indegree is not None:
            _check_int("max_indegree", self.max_indegree, 1, "use None for no limit or a positive integer")
        ess = self.equivalent_sample_size
        if isinstance(ess, bool) or not isinstance(ess, (int, float)) or not ess > 0:
            raise ValueError(f"equivalent_sample_size must be a positive number; got {ess!r}; 1.0 is a mild prior")
        level = self.ci_level
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
            raise ValueError(f"ci_level must lie strictly between 0 and 1; got {level!r}; use e.g. 0.95")
        _check_int("seed", self.seed, 0, "use a non-negative integer")
        for name in ("progress", "direct_edge", "refute"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False; got {getattr(self, name)!r}")
        pairs = tuple(tuple(pair) for pair in self.latent_confounders)
        for pair in pairs:
            if len(pair) != 2 or not all(isinstance(v, str) and v for v in pair) or pair[0] == pair[1]:
                raise ValueError(
                    f"latent_confounders holds {pair!r}; each entry is a pair of two different node names, "
                    "e.g. ('strategy', 'click')"
                )
        object.__setattr__(self, "latent_confounders", pairs)
        if self.segment is not None and (not isinstance(self.segment, str) or not self.segment):
            raise ValueError(f"segment must be a node name, 'auto' or None; got {self.segment!r}")
        if self.resample not in RESAMPLES:
            raise ValueError(
                f"resample must be one of {list(RESAMPLES)}; got {self.resample!r}; 'cells' reweights the "
                "contingency table (fast at any log size), 'rows' redraws the rows (the slow reference)"
            )
        _check_int(
            "min_arm_events",
            self.min_arm_events,
            0,
            f"an arm needs this many positive and negative outcomes for an estimate; {MIN_ARM_EVENTS} is the default",
        )
        share = self.min_stratum_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
            raise ValueError(
                f"min_stratum_share must be in [0, 1); got {share!r}; 0.01 withholds on strata of 1% of rows"
            )

    @property
    def n_chunks(self) -> int:
        """How many bootstrap chunks make the n_bootstrap replicates (the last may be smaller)."""
        return -(-self.n_bootstrap // self.bootstrap_chunk)

    def chunk_replicates(self, chunk: int) -> range:
        """The replicate numbers chunk `chunk` computes."""
        if isinstance(chunk, bool) or not isinstance(chunk, int) or not 0 <= chunk < self.n_chunks:
            raise ValueError(
                f"bootstrap chunk {chunk!r} does not exist: n_bootstrap={self.n_bootstrap} in chunks of "
                f"{self.bootstrap_chunk} makes chunks 0..{self.n_chunks - 1}; pass one of those"
            )
        return range(chunk * self.bootstrap_chunk, min(self.n_bootstrap, (chunk + 1) * self.bootstrap_chunk))

    def rng(self, stream: int, *key: int) -> np.random.Generator:
        """The Generator of one random stream (and chunk) of this config's seed."""
        return np.random.default_rng([self.seed, stream, *key])


@dataclass(frozen=True)
class OffPolicyConfig:
    """Off-policy evaluation of a target policy from the rows one logged policy served (Open Bandit protocol)."""

    prior: str  # Bernoulli-TS prior YAML (obp's prior_bts.yaml layout) that defines the target policy
    campaign: str = "all"  # which campaign's prior the target policy uses (all, men, women)
    logged: str = "random"  # treatment value whose rows are the logged data
    target: str = "bts"  # name the target policy's estimates are stored under (treatment_value)
    refits: int = 30  # resamples with the reward model refitted, for the DM/DR-family intervals
    # Logged rows read into memory. Above it, IPW/SNIPW use every row through counts (causal.policy.cells) and the
    # reward-model estimators and bn_policy a seeded sample of this many rows (causal.policy.at_scale).
    max_rows: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("prior", "campaign", "logged", "target"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"off-policy {name} must be a non-empty string; got {value!r}")
        if self.logged == self.target:
            raise ValueError(
                f"off-policy logged and target are both {self.logged!r}; the target policy is evaluated on "
                "another policy's rows: pass e.g. logged='random', target='bts'"
            )
        _check_int("refits", self.refits, 2, "use at least 2 reward-model refits (30 for reported intervals)")
        _check_int("max_rows", self.max_rows, 1000, "keep at least 1000 logged rows in memory (default 1,000,000)")
