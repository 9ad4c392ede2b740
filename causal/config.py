"""Settings of the Bayesian-network causal estimator (discretisation, search, prior, bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CausalConfig:
    """One run of learn → fit → identify → query; every field is checked on construction."""

    treatment: str = "policy"
    outcome: str = "click"
    baseline: str | None = None  # None: the first treatment value in sorted order
    n_bootstrap: int = 200
    n_bins: int = 4  # quantile bins for numeric nodes (score, numeric user features)
    max_levels: int = 6  # categorical nodes keep the max_levels-1 most frequent values + "other"
    max_indegree: int | None = 3
    equivalent_sample_size: float = 10.0  # BDeu prior strength
    ci_level: float = 0.95
    seed: int = 0
    progress: bool = True

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
        _check_int("n_bins", self.n_bins, 2, "use at least 2 quantile bins")
        _check_int("max_levels", self.max_levels, 2, "keep at least 2 levels (one value + 'other')")
        if self.max_indegree is not None:
            _check_int("max_indegree", self.max_indegree, 1, "use None for no limit or a positive integer")
        ess = self.equivalent_sample_size
        if isinstance(ess, bool) or not isinstance(ess, (int, float)) or not ess > 0:
            raise ValueError(f"equivalent_sample_size must be a positive number; got {ess!r}; 10.0 is a mild prior")
        level = self.ci_level
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
            raise ValueError(f"ci_level must lie strictly between 0 and 1; got {level!r}; use e.g. 0.95")
        _check_int("seed", self.seed, 0, "use a non-negative integer")
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress must be True or False; got {self.progress!r}")


def _check_int(name: str, value: object, minimum: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}; {fix}")
