"""Tests of the ranking metrics, calibration and bench/scorer.py on a tiny MovieLens-layout folder with known answers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.baselines import item_knn, popularity, pure_svd
from scoring.calibrate import fit_calibrator, sigmoid
from scoring.metrics import ece, grouped_ndcg, target_rank_metrics
from scoring.movielens import load_leave_last_out
from scoring.ranker import evaluate_scores, history_windows, rank_queries

REPO = Path(__file__).resolve().parent.parent
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


def test_full_ranking_excludes_the_history_and_keeps_the_target() -> None:
    scores = np.array([[9.0, 8.0, 7.0, 1.0, 0.0]])  # items 0, 1 are in the history and would outrank the target
    queries = rank_queries([np.array([0, 1])], [np.array([4.0, 5.0])], np.array([2]), n_items=5, length=3)
    m = evaluate_scores(scores, queries)
    assert (m.ndcg, m.recall, m.auc) == (1.0, 1.0, 1.0)
    assert queries.history[0].tolist() == [1, 0, 5]  # newest first, padded with n_items


def test_history_windows_never_hold_the_target_or_later_items() -> None:
    items, pad = np.array([10, 11, 12, 13]), 99
    win, rating = history_windows(items, np.array([1.0, 2.0, 3.0, 4.5]), 2, pad)
    assert win.tolist() == [[99, 99], [10, 99], [11, 10], [12, 11]]
    assert rating[3].tolist() == [6, 4]


def test_baselines_on_a_two_cluster_catalogue() -> None:
    # users 0-2 like items 0-2, users 3-5 like items 3-5; user 0 has not rated item 2
    hist = [np.array([0, 1]), np.array([0, 1, 2]), np.array([1, 2, 0]), np.array([3, 4]), np.array([3, 4, 5]), np.array([5, 4, 3])]
    knn = item_knn(hist, 6, k=2)
    assert knn[0, 2] > 0 and knn[0, 3:].max() == 0  # the unrated own-cluster item; nothing from the other
    svd = pure_svd(hist, 6, factors=2)
    assert svd[0, 2] > svd[0, 3:].max()
    pop = popularity(hist, 6)
    assert pop[0].tolist() == [3, 3, 2, 3, 3, 2]


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
    movies = pd.DataFrame({
        "movieId": np.arange(1, n_items + 1),
        "title": [f"Movie {i} ({1990 + i % 20})" for i in range(1, n_items + 1)],
        "genres": ["Comedy|Romance" if i % 2 else "Action|Thriller" for i in range(1, n_items + 1)],
    })
    rows = []
    for u in range(1, n_users + 1):
        own = movies["movieId"][movies["movieId"] % 2 == u % 2].to_numpy()
        for t, m in enumerate(rng.choice(own, size=8, replace=False)):
            rows.append((u, int(m), float(rng.choice([3.5, 4.0, 5.0])), 1_000_000 + 100 * u + t))
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(root / "ratings.csv", index=False)
    movies.to_csv(root / "movies.csv", index=False)
    pd.DataFrame({"userId": [1], "movieId": [1], "tag": ["funny"], "timestamp": [1]}).to_csv(root / "tags.csv", index=False)
    return root


def test_leave_last_out_split_of_the_folder(tmp_path) -> None:
    data = load_leave_last_out(_movielens_folder(tmp_path / "ml"))
    assert data.n_users == 30 and data.n_items == 40
    assert all(h.size == 8 for h in data.histories)
    assert data.item_texts[1] == "Movie 2 (1992). Genres: Action, Thriller."


def test_bench_runs_end_to_end_and_prints_json(tmp_path, capsys) -> None:
    import scorer
    from scoring import build_tiny_bert
    from scoring.ranker import RankerConfig

    folder = _movielens_folder(tmp_path / "ml")
    backbone = build_tiny_bert(tmp_path / "bb", load_leave_last_out(folder).item_texts, seed=0)
    table, details = scorer.run(
        folder, str(backbone), tmp_path / "cache", seed=0, progress=False, log=lambda m: None, ablation=False,
        ranker=RankerConfig(max_epochs=3, batch_size=64, progress=False),
    )
    assert set(table) == {"popularity", "item-knn", "puresvd-mf", f"{backbone}-history-scorer"}
    for metrics in table.values():
        assert set(metrics) == {"ndcg@10", "recall@10", "auc"} and all(0 <= v <= 1 for v in metrics.values())
    # Clusters are disjoint: item-kNN puts the 20 other-cluster items below the target, and within the cluster
    # (11 other unrated items) it has nothing to go on, so its AUC is about (20 + 11 / 2) / 31 = 0.82.
    assert table["item-knn"]["auc"] > 0.75 and table["item-knn"]["auc"] > table["popularity"]["auc"]
    again, _ = scorer.run(folder, str(backbone), tmp_path / "cache", seed=0, progress=False, log=lambda m: None,
                          ablation=False, ranker=RankerConfig(max_epochs=3, batch_size=64, progress=False))
    assert again == table  # seeded: same split, same numbers
