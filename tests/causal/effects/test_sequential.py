"""The always-valid confidence sequence: coverage at all looks at once, its width against the fixed interval, inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from causal.effects.ab import ArmCounts, ab_test
from causal.effects.sequential import (
    LookCounts,
    confidence_sequence,
    looks_frame,
    looks_from_ab,
    mixing_constant,
    sequence_bounds,
)


def _bernoulli_looks(sims: int, looks: int, per_look: int, p_t: float, p_c: float, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    hits_t = rng.binomial(per_look, p_t, size=(sims, looks)).cumsum(axis=1)
    hits_c = rng.binomial(per_look, p_c, size=(sims, looks)).cumsum(axis=1)
    n = np.broadcast_to(per_look * np.arange(1, looks + 1, dtype=float), (sims, looks))
    return n, hits_t, hits_t, n, hits_c, hits_c


def test_the_sequence_covers_the_truth_at_every_look_at_once() -> None:
    truth = 0.12 - 0.10
    counts = _bernoulli_looks(sims=2000, looks=25, per_look=300, p_t=0.12, p_c=0.10, seed=7)
    b = sequence_bounds(*counts, alpha=0.05)
    covered_all = (np.abs(b.estimate - truth) <= b.cs_half).all(axis=1).mean()
    fixed_all = (np.abs(b.estimate - truth) <= b.fixed_half).all(axis=1).mean()
    assert covered_all >= 0.95
    # the fixed interval, read at every look, misses somewhere far more often: what the sequence is for
    assert fixed_all < 0.85


def test_the_sequence_is_wider_than_the_fixed_interval_and_shrinks_with_n() -> None:
    looks = [LookCounts(500 * k, 50.0 * k, 50.0 * k, 500 * k, 45.0 * k, 45.0 * k) for k in range(1, 21)]
    seq = confidence_sequence(looks)
    widths = [s.cs_high - s.cs_low for s in seq]
    assert all(s.cs_low < s.fixed_low < s.estimate < s.fixed_high < s.cs_high for s in seq)
    assert all(a > b for a, b in zip(widths, widths[1:]))
    assert [s.n for s in seq] == [1000 * k for k in range(1, 21)]


def test_a_look_by_hand_and_the_fixed_interval_is_ab_tests() -> None:
    t, c = ArmCounts(2000, 260), ArmCounts(2000, 200)
    (look,) = confidence_sequence([(t, c)], alpha=0.05, horizon=8000)
    v = 0.13 * 0.87 / 1999 + 0.10 * 0.90 / 1999
    # tuned for 8,000 rows per arm: tau2 = c(alpha) V_H, V_H = V (1/8000 + 1/8000) / (1/2000 + 1/2000) = V / 4
    tau2 = mixing_constant(0.05) * v / 4
    half = math.sqrt(v * (v + tau2) / tau2 * math.log((v + tau2) / (v * 0.05**2)))  # Johari et al.'s formula
    assert look.estimate == pytest.approx(0.03)
    assert (look.cs_low, look.cs_high) == pytest.approx((0.03 - half, 0.03 + half))
    res = ab_test(t, c, alpha=0.05)
    assert (look.fixed_low, look.fixed_high) == pytest.approx((res.ci_low, res.ci_high))
    # z = 0.03 / sqrt(v) = 2.98 clears 1.96 but not the CS's multiplier at a quarter of the planned rows:
    # V / tau2 = 4 / 7.936 = 0.504, sqrt(1.504 * log((1 + 1.984) / 0.05^2)) = 3.264
    assert 0.03 / math.sqrt(v) == pytest.approx(2.976, abs=1e-3)
    assert half / math.sqrt(v) == pytest.approx(3.264, abs=1e-3)
    assert look.rejects_naive and not look.rejects_always_valid


def test_the_width_against_the_fixed_interval_is_smallest_at_the_horizon() -> None:
    looks = [LookCounts(400 * k, 40.0 * k, 40.0 * k, 400 * k, 40.0 * k, 40.0 * k) for k in range(1, 31)]
    seq = confidence_sequence(looks, horizon=400 * 12)
    ratio = [(s.cs_high - s.cs_low) / (s.fixed_high - s.fixed_low) for s in seq]
    assert int(np.argmin(ratio)) == 11  # the 12th look holds the planned 4,800 rows per arm
    assert min(ratio) == pytest.approx(math.sqrt(9.2125) / 1.959964, rel=1e-3)  # sqrt((1+1/c) log((1+c)/a^2)) / z


def test_increments_pairs_and_six_numbers_are_the_same_looks() -> None:
    parts = [(ArmCounts(300, 31), ArmCounts(300, 27)), (ArmCounts(250, 30), ArmCounts(260, 22))]
    pooled = [parts[0], (ArmCounts(550, 61), ArmCounts(560, 49))]
    by_increments = confidence_sequence(parts, increments=True)
    assert by_increments == confidence_sequence(pooled)
    assert by_increments == confidence_sequence([(300, 31, 31, 300, 27, 27), (550, 61, 61, 560, 49, 49)])


def test_a_bounded_outcome_uses_its_sum_of_squares() -> None:
    rng = np.random.default_rng(3)
    y_t, y_c = rng.uniform(0, 5, 400), rng.uniform(0, 5, 500)
    (look,) = confidence_sequence([(y_t.size, y_t.sum(), (y_t**2).sum(), y_c.size, y_c.sum(), (y_c**2).sum())])
    diff, se = y_t.mean() - y_c.mean(), math.sqrt(y_t.var(ddof=1) / 400 + y_c.var(ddof=1) / 500)
    assert (look.fixed_low, look.fixed_high) == pytest.approx((diff - 1.959964 * se, diff + 1.959964 * se))


def test_looks_from_ab_pools_partitions_in_order() -> None:
    results = [ab_test(ArmCounts(300, 31), ArmCounts(300, 27)), ab_test(ArmCounts(250, 30), ArmCounts(260, 22))]
    looks = looks_from_ab(results)
    assert looks == (LookCounts(300, 31, 31, 300, 27, 27), LookCounts(550, 61, 61, 560, 49, 49))
    stored = [r.as_diagnostics() for r in results]  # the ab_diff rows' diagnostics read back from the store
    assert looks_from_ab(stored) == looks
    empty = {"n_t": 0, "mean_t": float("nan"), "n_c": 0, "mean_c": float("nan")}
    assert looks_from_ab([stored[0], empty])[-1] == looks[0]  # a partition without rows adds nothing
    with pytest.raises(ValueError, match="not a count of 0/1 outcomes"):
        looks_from_ab([{"n_t": 10, "mean_t": 0.33, "n_c": 10, "mean_c": 0.2}])


def test_looks_without_a_variance_have_no_bounds_and_reject_nothing() -> None:
    seq = confidence_sequence([(1, 1, 1, 1, 0, 0), (10, 0, 0, 10, 0, 0), (100, 20, 20, 100, 5, 5)])
    assert all(math.isnan(s.cs_low) and not s.rejects_always_valid and not s.rejects_naive for s in seq[:2])
    assert seq[2].rejects_always_valid and seq[2].cs_low > 0


@pytest.mark.parametrize(
    ("looks", "kwargs", "message"),
    [
        ([], {}, "looks is empty"),
        ([(10, 1, 1, 10, 2, 2), (5, 1, 1, 10, 2, 2)], {}, "cumulative looks must not lose rows; look 1"),
        ([(10, 1, 1, 10)], {}, "six numbers .* got 4 values"),
        ([(10, 1, 1, -3, 2, 2)], {}, "n >= 0 in each arm"),
        ([(10, 1, 1, 10, 2, 2)], {"alpha": 1.5}, "alpha must lie strictly between 0 and 1; got 1.5"),
        ([(10, 1, 1, 10, 2, 2)], {"horizon": 0}, "horizon must be planned rows per arm"),
    ],
)
def test_invalid_looks_are_refused_with_the_fix(looks: list, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        confidence_sequence(looks, **kwargs)


def test_looks_frame_is_one_row_per_look_for_the_store() -> None:
    counts = looks_from_ab([{"n_t": 300, "mean_t": 0.1, "n_c": 300, "mean_c": 0.09}] * 3)
    looks = confidence_sequence(counts)
    frame = looks_frame(["2024-01-01", "2024-01-02", "2024-01-03"], counts, looks)
    assert list(frame.columns) == [
        "look", "partition", "n_treatment", "n_control", "n_rows", "estimate", "cs_low", "cs_high",
        "fixed_low", "fixed_high", "rejects_always_valid", "rejects_naive",
    ]  # fmt: skip
    assert frame.look.tolist() == [1, 2, 3] and frame.n_treatment.tolist() == [300, 600, 900]
    assert frame.cs_low.tolist() == [s.cs_low for s in looks] and frame.partition.iloc[-1] == "2024-01-03"
    with pytest.raises(ValueError, match="one per look; got 2, 3 and 3"):
        looks_frame(["a", "b"], counts, looks)
