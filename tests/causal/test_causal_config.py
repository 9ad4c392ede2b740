"""CausalConfig rejects bad settings with messages that name the value and the fix."""

from __future__ import annotations

import pytest

from causal.config import CausalConfig


def test_defaults():
    config = CausalConfig()
    assert (config.treatment, config.outcome, config.baseline) == ("policy", "click", None)
    assert (config.n_bootstrap, config.n_bins, config.max_levels, config.max_indegree) == (200, 4, 6, 3)
    assert (config.bootstrap_chunk, config.n_chunks, config.chunk_replicates(7)) == (25, 8, range(175, 200))
    assert CausalConfig(n_bootstrap=30, bootstrap_chunk=25).chunk_replicates(1) == range(25, 30)  # the short last chunk
    assert (config.equivalent_sample_size, config.ci_level, config.seed, config.progress) == (1.0, 0.95, 0, True)
    assert config.resample == "cells"  # the bootstrap reweights the contingency table's cells by default
    with pytest.raises(AttributeError):
        config.seed = 1  # frozen


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"treatment": ""}, r"treatment must be a non-empty column name; got ''"),
        ({"outcome": 3}, r"outcome must be a non-empty column name; got 3"),
        ({"treatment": "click"}, r"treatment and outcome are the same column 'click'"),
        ({"baseline": 1}, r"baseline must be a treatment value as a string or None; got 1; pass str\(1\)"),
        ({"n_bootstrap": 1}, r"n_bootstrap must be an integer >= 2; got 1"),
        ({"n_bootstrap": 20.0}, r"n_bootstrap must be an integer >= 2; got 20.0"),
        ({"bootstrap_chunk": 0}, r"bootstrap_chunk must be an integer >= 1; got 0; replicates per seeded chunk"),
        ({"bootstrap_chunk": 2.5}, r"bootstrap_chunk must be an integer >= 1; got 2.5"),
        ({"n_bins": 1}, r"n_bins must be an integer >= 2; got 1"),
        ({"max_levels": True}, r"max_levels must be an integer >= 2; got True"),
        ({"max_indegree": 0}, r"max_indegree must be an integer >= 1; got 0; use None for no limit"),
        ({"equivalent_sample_size": 0}, r"equivalent_sample_size must be a positive number; got 0"),
        ({"ci_level": 95}, r"ci_level must lie strictly between 0 and 1; got 95; use e.g. 0.95"),
        ({"seed": -1}, r"seed must be an integer >= 0; got -1"),
        ({"progress": "yes"}, r"progress must be True or False; got 'yes'"),
        ({"resample": "cell"}, r"resample must be one of \['cells', 'rows'\]; got 'cell'; 'cells' reweights"),
        ({"resample": None}, r"resample must be one of \['cells', 'rows'\]; got None"),
    ],
)
def test_invalid_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CausalConfig(**kwargs)


def test_no_indegree_limit_is_allowed():
    assert CausalConfig(max_indegree=None).max_indegree is None
