"""bench/text_causal.py: the JSON shape of both tables, the bars its summary applies, and the id-free baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.text_causal import OPE_NAMES, VARIANTS, main, print_tables, run, summarise
from common.values import jsonable


def hashed_words(texts: list[str]) -> np.ndarray:
    """A real, cheap text featuriser standing in for MiniLM: hashed word counts, 64 dimensions, unit rows."""
    from sklearn.feature_extraction.text import HashingVectorizer

    x = HashingVectorizer(n_features=64, alternate_sign=False, norm="l2").transform(texts).toarray()
    return x + 1e-6  # no all-zero row: a text of only stop characters still gets a direction


def ope_rows(name: str, errors: list[float]) -> list[dict]:
    return [{"estimator": name, "target": f"t{k}", "rel_error": e} for k, e in enumerate(errors)]


def conf_rows(variant: str, errors: list[float], covered: list[bool]) -> list[dict]:
    return [{"variant": variant, "abs_error": e, "covered": c} for e, c in zip(errors, covered)]


def test_the_bars_compare_the_best_text_estimator_with_ipw_and_dm_logistic() -> None:
    ope = ope_rows("ipw", [0.2, 0.4]) + ope_rows("dm_logistic", [0.2, 0.2]) + ope_rows("dr_text", [0.1, 0.1])
    ope += ope_rows("mips_text", [0.5, 0.5])  # the worse of the two text estimators is not the one judged
    ope += [r for n in ("snipw", "dr_logistic", "dm_text") for r in ope_rows(n, [0.3, 0.3])]
    conf = conf_rows("observed", [0.01] * 3, [True] * 3) + conf_rows("hidden", [0.06, 0.03, 0.09], [False] * 3)
    conf += conf_rows("hidden_text", [0.01, 0.02, 0.005], [True, True, False])
    out = summarise(ope, conf)
    assert out["ope"]["ipw"]["rel_error"] == pytest.approx(0.3)
    assert out["bars"]["ope_best_text_at_most_half_ipw"]  # 0.1 <= 0.15
    assert out["bars"]["ope_best_text_below_dm_logistic"]  # 0.1 < 0.2
    assert out["confounding"]["hidden_text"]["ate_error"] == pytest.approx(0.01)  # the median, not the mean
    assert out["bars"]["hidden_text_error_at_most_third_hidden"]  # 0.01 <= 0.06 / 3
    assert not out["bars"]["hidden_text_coverage_at_least_0_8"]  # 2 of 3 cells cover
    worse = summarise(ope_rows("dr_text", [0.2, 0.2]) + [r for r in ope if r["estimator"] != "dr_text"], conf)
    assert not worse["bars"]["ope_best_text_at_most_half_ipw"]
    assert not worse["bars"]["ope_best_text_below_dm_logistic"]  # 0.2 is not below 0.2


@pytest.mark.slow  # two simulations of the MovieLens world, k-means over its 9,742 items, and bn_do three times
def test_a_tiny_run_returns_both_tables_in_the_contract_shape(capsys: pytest.CaptureFixture[str]) -> None:
    result = run([3], 3_000, vectors_of=hashed_words, bootstrap=10, progress=False)
    print_tables(result)
    assert "mips_text" in capsys.readouterr().out
    result = json.loads(json.dumps(jsonable(result)))  # what --json writes
    assert set(result["ope"]) == set(OPE_NAMES)
    assert set(result["confounding"]) == set(VARIANTS)
    for row in result["ope"].values():
        assert isinstance(row["rel_error"], float) and row["rel_error"] >= 0
        assert row["n_cells"] == 6  # four strategies, greedy and softmax on the text score
    for row in result["confounding"].values():
        assert 0 <= row["ate_error"] < 0.5 and 0 <= row["coverage"] <= 1
        assert row["n_cells"] == 3  # popular, collaborative, content vs random
    records = result["ope_records"]
    truths = {(r["target"], r["estimator"]): r["truth"] for r in records}
    # one exact truth per target, whichever estimator is compared with it
    assert len({(t, v) for (t, _), v in truths.items()}) == len({t for t, _ in truths})
    for r in records:
        if isinstance(r["estimate"], float):  # jsonable wrote a missing estimate as "nan"
            assert r["rel_error"] == pytest.approx(abs(r["estimate"] - r["truth"]) / r["truth"])
    # the strategies' own distributions are inside the logger's support: IPW has bounded weights there
    ipw_popular = next(r for r in records if (r["target"], r["estimator"]) == ("popular", "ipw"))
    assert ipw_popular["max_weight"] < 50
    assert result["timings_s"]["total"] > 0 and result["config"]["mips_clusters"] == 30  # MIPS_TEXT_CLUSTERS


def test_seeds_must_be_integers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--seeds", "0,one"])
    assert "--seeds must be comma-separated integers like 0,1,2; got '0,one'" in capsys.readouterr().err


def test_action_embeddings_cross_text_clusters_with_popularity_bands_and_the_users_pools() -> None:
    from bench.text_causal_models import IdFreeLogistic, action_embedding, popularity_bands

    pop = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 3.0])  # half the items share the lowest value: ties merge bands
    bands = popularity_bands(pop, 5)
    assert bands.tolist() == [1, 1, 1, 2, 3, 3]  # quintile edges 0, 0, 1, 2 -> 0, 1, 2; band = edges <= value
    pools = (np.array([[1, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]], bool), np.array([[1, 1, 0, 0, 0, 0]] * 2, bool))
    idf = IdFreeLogistic(np.zeros(2, int), np.zeros(2, int), pools, pop)
    text = np.array([0, 1, 0, 1, 0, 1])
    assert np.array_equal(action_embedding(text, idf, "text"), text)
    assert action_embedding(text, idf, "text_pop").tolist() == [1, 6, 1, 7, 3, 8]  # text * 5 + band
    per_user = action_embedding(text, idf, "text_pop_pool")
    assert per_user.shape == (2, 6)
    # (text * 5 + band) * 4 + pool bitmask (first pool 1, second pool 2)
    assert per_user.tolist() == [[7, 26, 4, 28, 12, 33], [6, 26, 4, 28, 12, 32]]
    with pytest.raises(ValueError, match="MIPS embedding must be one of"):
        action_embedding(text, idf, "title")
