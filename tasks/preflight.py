"""Task: check on the gated log, before the scorer trains, that each treatment can be compared at all."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

import causal
from sources.arm_counts import arm_counts


def check_treatments(
    clean_path: str, configs: tuple[causal.CausalConfig, ...], work_dir: str
) -> dict[tuple[str, str], causal.ArmCheck]:
    """Each pair's arm check on counts DuckDB takes from the gated log (causal.check_arms: the estimators' rule).

    Raises TreatmentArmsError (one line: the values, their rows, the fix) for a treatment with one value or
    without its baseline; an arm too small to estimate is no error: its rows will say why they hold no number.
    """
    outcomes = list(dict.fromkeys(c.outcome for c in configs))
    arms = {t: arm_counts(clean_path, t, outcomes, work_dir) for t in dict.fromkeys(c.treatment for c in configs)}
    return {
        (c.treatment, c.outcome): causal.check_arms(
            {a.value: (a.rows, a.positives[c.outcome]) for a in arms[c.treatment]}, c
        )
        for c in configs
    }


@task(name="check treatments", cache_policy=NO_CACHE)
def check_treatments_task(
    clean_path: str, configs: tuple[causal.CausalConfig, ...], work_dir: str
) -> dict[tuple[str, str], causal.ArmCheck]:
    return check_treatments(clean_path, configs, work_dir)
