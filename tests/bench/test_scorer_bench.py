"""The ranking metrics, calibration and bench/scorer.py on a tiny MovieLens-layout folder with known answers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.ranking.baselines import interactions, item_knn, item_similarity, neighbours, popularity, pure_svd
from bench.ranking.movielens import load_leave_last_out
from bench.ranking.ranker import RankerConfig, evaluate_scores, fit_ranker, history_windows, rank_queries, score_users
from scoring.calibrate import fit_calibrator, sigmoid
from scoring.metrics import ece, grouped_ndcg, paired_difference_ci, target_rank_metrics

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))


def test_rank_metrics_of_known_rankings() -> None:
    perfect = target_rank_metrics(np.array([0, 0]), np.array([0, 0]), np.array([100, 50]))
    assert (perfect.ndcg, perfect.recall, perfect.auc) == (1.0, 1.0, 1.0)
    third = target_rank_metrics(np.array([2]), np.array([0]), np.array([11]))
    assert third.ndcg == pytest.approx(1 / np.log2(4)) and third.recall == 1.0 and third.auc == pytest.approx(0.8)
    missed = target_rank_metrics(np.array([10]), np.array([0]), np.array([11]))
    assert missed.ndcg == 0.0 and missed.recall == 0.0 and missed.auc == 0.0
    # A constant scorer ties everything: expected metrics of a random order, not the best case.
    const = target_rank_metrics(np.array([0]), np.array([19]), np.array([20]))
    assert const.recall == pytest.approx(0.5) and const.auc == pytest.approx(0.5)


def test_paired_difference_interval_over_users() -> None:
    a, b = np.array([0.5, 0.0, 1.0, 0.25]), np.array([0.25, 0.0, 0.5, 0.25])
    gap, lo, hi = paired_difference_ci(a, a - 0.1)  # the same gap for every user: no spread to resample
    assert gap == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    gap, lo, hi = paired_difference_ci(a, b)
    assert gap == pytest.approx(0.1875) and 0.0 <= lo < gap < hi <= 0.5  # resampled means lie within [min d, max d]
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, 400)
    _, lo, hi = paired_difference_ci(noise, np.zeros(400))
    assert lo < 0 < hi  # a zero-mean difference: the interval holds 0
    with pytest.raises(ValueError, match="at least one user"):
        paired_difference_ci(np.empty(0), np.empty(0))


def test_full_ranking_excludes_the_history_and_keeps_the_target() -> None:
    scores = np.array([[9.0, 8.0, 7.0, 1.0, 0.0]])  # items 0, 1 are in the history and would outrank the target
    queries = rank_queries([np.array([0, 1])], [np.array([4.0, 5.0])], np.array([2]), n_items=5, length=3)
    m = evaluate_scores(scores, queries)
    assert (m.ndcg, m.recall, m.auc) == (1.0, 1.0, 1.0) and m.ndcg_by_user.tolist() == [1.0]
    assert queries.history[0].tolist() == [1, 0, 5]  # newest first, padded with n_items


def test_history_windows_never_hold_the_target_or_later_items() -> None:
    items, pad = np.array([10, 11, 12, 13]), 99
    win, rating = history_windows(items, np.array([1.0, 2.0, 3.0, 4.5]), 2, pad)
    assert win.tolist() == [[99, 99], [10, 99], [11, 10], [12, 11]]
    assert rating[3].tolist() == [6, 4]


def test_baselines_on_a_two_cluster_catalogue() -> None:
    # users 0-2 like items 0-2, users 3-5 like items 3-5; user 0 has not rated item 2
    hist = [
        np.array([0, 1]),
        np.array([0, 1, 2]),
        np.array([1, 2, 0]),
        np.array([3, 4]),
        np.array([3, 4, 5]),
        np.array([5, 4, 3]),
    ]
    knn = item_knn(hist, 6, k=2)
    assert knn[0, 2] > 0 and knn[0, 3:].max() == 0  # the unrated own-cluster item; nothing from the other
    svd = pure_svd(hist, 6, factors=2)
    assert svd[0, 2] > svd[0, 3:].max()
    pop = popularity(hist, 6)
    assert pop[0].tolist() == [3, 3, 2, 3, 3, 2]


def test_item_knn_from_shared_neighbour_lists_matches_the_dense_definition() -> None:
    rng = np.random.default_rng(3)
    hist = [rng.choice(30, size=rng.integers(2, 9), replace=False) for _ in range(40)]
    # Jittered so that no column has tied similarities: among ties any choice is a valid neighbour set.
    sim = item_similarity(hist, 30) + 1e-6 * rng.random((30, 30))
    near = neighbours(sim, 10)  # sorted once for the whole grid, as bench/scorer.py does
    for k in (1, 3, 10):
        kept = np.zeros_like(sim)  # dense reference: keep each column's k largest similarities
        for j in range(30):
            top = np.argsort(-sim[:, j], kind="stable")[:k]
            kept[top, j] = sim[top, j]
        want = np.asarray(interactions(hist, 30) @ kept)
        np.testing.assert_allclose(item_knn(hist, 30, k, near=near), want, rtol=1e-5)
        np.testing.assert_allclose(item_knn(hist, 30, k, sim=sim), want, rtol=1e-5)


@pytest.mark.slow
def test_softmax_ranker_learns_a_deterministic_successor() -> None:
    # Every user walks the catalogue in order (item i is always followed by i + 1): the next item is fully
    # determined by the newest history item, so a ranker that learns from sequences must put it first.
    n_items, rng = 20, np.random.default_rng(0)
    hist, rating, target = [], [], []
    for _ in range(60):
        seq = (rng.integers(n_items) + np.arange(9)) % n_items
        hist.append(seq[:8]), rating.append(np.full(8, 4.0)), target.append(seq[8])
    queries = rank_queries(hist, rating, np.array(target), n_items=n_items, length=10)
    text = rng.normal(size=(n_items, 16)).astype(np.float32)  # uninformative text: the ids must carry it
    config = RankerConfig(dim=16, max_epochs=30, patience=30, batch_size=64, progress=False)
    fit = fit_ranker(text, hist, rating, queries, config)
    learned = evaluate_scores(score_users(fit.net, queries), queries)
    assert learned.ndcg > 0.95 and learned.ndcg == pytest.approx(fit.best_val_ndcg)
    assert 1 <= fit.best_epoch <= fit.epochs
    assert evaluate_scores(popularity(hist, n_items), queries).ndcg < 0.5
    with pytest.raises(ValueError, match="loss must be"):
        RankerConfig(loss="hinge")


def test_temperature_scaling_reduces_ece_of_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 1.5, 20_000)
    y = (rng.random(20_000) < sigmoid(true_logit)).astype(float)
    overconfident = 4.0 * true_logit  # right ranking, probabilities far too extreme
    val, test = slice(0, 10_000), slice(10_000, None)
    cal = fit_calibrator(overconfident[val], y[val], "temperature")
    assert cal.temperature == pytest.approx(4.0, rel=0.15)
    before, after = ece(y[test], sigmoid(overconfident[test])), ece(y[test], cal(overconfident[test]))
    assert before > 0.1 and after < 0.02
    iso = fit_calibrator(overconfident[val], y[val], "isotonic")
    assert ece(y[test], iso(overconfident[test])) < 0.03
    assert not fit_calibrator(overconfident[val], np.zeros(10_000), "temperature").fitted  # one class: no fit


def test_ece_and_grouped_ndcg_known_answers() -> None:
    assert ece(np.array([1, 0]), np.array([0.5, 0.5])) == 0.0
    assert ece(np.array([1, 1]), np.array([0.0, 0.0])) == 1.0
    assert grouped_ndcg(np.array([1, 1, 2, 2]), np.array([1, 0, 0, 1]), np.array([0.9, 0.1, 0.2, 0.8])) == 1.0
    assert grouped_ndcg(np.array([1, 1]), np.array([0, 1]), np.array([0.9, 0.1])) == pytest.approx(1 / np.log2(3))


def _movielens_folder(root: Path, n_users: int = 30, n_items: int = 40, seed: int = 0) -> Path:
    """Two taste clusters (even / odd movie ids, with matching genres); each user's last rating is in their cluster."""
    rng = np.random.default_rng(seed)
    root.mkdir()
    movies = pd.DataFrame(
        {
            "movieId": np.arange(1, n_items + 1),
            "title": [f"Movie {i} ({1990 + i % 20})" for i in range(1, n_items + 1)],
            "genres": ["Comedy|Romance" if i % 2 else "Action|Thriller" for i in range(1, n_items + 1)],
        }
    )
    rows = []
    for u in range(1, n_users + 1):
        own = movies["movieId"][movies["movieId"] % 2 == u % 2].to_numpy()
        for t, m in enumerate(rng.choice(own, size=8, replace=False)):
            rows.append((u, int(m), float(rng.choice([3.5, 4.0, 5.0])), 1_000_000 + 100 * u + t))
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(root / "ratings.csv", index=False)
    movies.to_csv(root / "movies.csv", index=False)
    pd.DataFrame({"userId": [1], "movieId": [1], "tag": ["funny"], "timestamp": [1]}).to_csv(
        root / "tags.csv", index=False
    )
    return root


def test_leave_last_out_split_of_the_folder(tmp_path) -> None:
    data = load_leave_last_out(_movielens_folder(tmp_path / "ml"))
    assert data.n_users == 30 and data.n_items == 40
    assert all(h.size == 8 for h in data.histories)
    assert data.item_texts[1] == "Movie 2 (1992). Genres: Action, Thriller."


@pytest.mark.slow
def test_bench_runs_end_to_end_and_prints_json(tmp_path, capsys) -> None:
    import scorer

    from bench.ranking.ranker import RankerConfig
    from scoring import build_tiny_bert

    folder = _movielens_folder(tmp_path / "ml")
    backbone = build_tiny_bert(tmp_path / "bb", load_leave_last_out(folder).item_texts, seed=0)
    table, details = scorer.run(
        folder,
        str(backbone),
        tmp_path / "cache",
        seed=0,
        progress=False,
        log=lambda m: None,
        ablation=False,
        ranker=RankerConfig(max_epochs=3, batch_size=64, progress=False),
    )
    assert set(table) == {"popularity", "item-knn", "puresvd-mf", f"{backbone}-history-scorer"}
    for metrics in table.values():
        assert set(metrics) == {"ndcg@10", "recall@10", "auc"} and all(0 <= v <= 1 for v in metrics.values())
    # Clusters are disjoint and popularity ignores them: whatever k the val items pick, item-kNN's top 10 holds
    # only own-cluster items, popularity's mixes both clusters (0.23 against 0.08 on this seed).
    assert table["item-knn"]["ndcg@10"] > 2 * table["popularity"]["ndcg@10"]
    again, _ = scorer.run(
        folder,
        str(backbone),
        tmp_path / "cache",
        seed=0,
        progress=False,
        log=lambda m: None,
        ablation=False,
        ranker=RankerConfig(max_epochs=3, batch_size=64, progress=False),
    )
    assert again == table  # seeded: same split, same numbers
    gaps = details["ndcg_gap_ci"]
    assert set(gaps) == {"popularity", "item-knn", "puresvd-mf"}
    scorer_ndcg = table[f"{backbone}-history-scorer"]["ndcg@10"]
    for name, (gap, lo, hi) in gaps.items():
        assert gap == pytest.approx(scorer_ndcg - table[name]["ndcg@10"]) and lo <= gap <= hi
