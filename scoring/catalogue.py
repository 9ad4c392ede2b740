"""The scorer's P(outcome) for every (user context, logged item): what a policy over the catalogue is valued by."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.predict import RowScorer
from scoring.text import feature_columns, row_parts

# Above this many (context, item) pairs the matrix is not built: a log whose user side is (nearly) unique per user
# would need users x items scores, which the off-policy step could not hold either.
MAX_PAIRS = 2_000_000
N_CLUSTERS = 30  # MIPS's action embedding: k-means clusters of the items (Saito & Joachims use tens, not thousands)
NEEDED = ("user_id", "item_id", "item_propensity")


@dataclass(frozen=True)
class CatalogueScores:
    """P(outcome) per (user context, item), each item's cluster, and what the clusters were made from."""

    contexts: tuple[str, ...]  # G distinct user-side texts of the scorer (its whole view of a user)
    items: tuple[str, ...]  # I item ids, in first-seen order
    scores: np.ndarray  # (G, I) calibrated P(outcome)
    clusters: np.ndarray  # (I,) int64 in [0, C)
    cluster_basis: str  # "item text embeddings" (frozen backbone) or "score profiles over the contexts"

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            contexts=np.array(self.contexts, dtype=object),
            items=np.array(self.items, dtype=object),
            scores=self.scores,
            clusters=self.clusters,
            cluster_basis=np.array(self.cluster_basis),
        )

    @classmethod
    def load(cls, path: str | Path) -> CatalogueScores:
        with np.load(path, allow_pickle=True) as z:  # our own file, written by save() in this run's folder
            return cls(
                tuple(str(c) for c in z["contexts"]),
                tuple(str(i) for i in z["items"]),
                z["scores"],
                z["clusters"].astype(np.int64),
                str(z["cluster_basis"]),
            )


@dataclass
class CatalogueInputs:
    """The distinct user contexts and each item's text, gathered batch by batch; `reason` once it cannot be built."""

    outcome: str
    contexts: dict[str, int] = field(default_factory=dict)
    item_text: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    def add(self, frame: pd.DataFrame, parts: tuple[list[str], list[str]] | None = None) -> None:
        """Take one batch's rows (the canonical columns) and, when the caller has them, its `row_parts` (user and
        item side texts, made once per batch); sets `reason` instead when the matrix cannot be made."""
        if self.reason is not None:
            return
        self.reason = why_no_catalogue(frame.columns, self.outcome)
        if self.reason is not None:
            return
        users, items = parts if parts is not None else row_parts(frame, exclude=(self.outcome,))
        for text in users:
            self.contexts.setdefault(text, len(self.contexts))
        for item_id, text in zip(frame["item_id"].astype(str).tolist(), items):
            self.item_text.setdefault(item_id, text)
        pairs = len(self.contexts) * len(self.item_text)
        if pairs > MAX_PAIRS:
            self.reason = (
                f"{len(self.contexts)} distinct user contexts x {len(self.item_text)} items = {pairs:,} scores, over "
                f"{MAX_PAIRS:,}: the user side is close to unique per user, so a policy over items is not valued here"
            )


def why_no_catalogue(columns: Iterable[str], outcome: str) -> str | None:
    """Why this log cannot have item policies valued off-policy (None: it can)."""
    names = {str(c) for c in columns}
    lacking = [c for c in NEEDED if c not in names]
    if lacking:
        return f"the log has no {lacking} column(s); item-level off-policy values need the logger's P(item | user)"
    _, _, pair = feature_columns(pd.DataFrame(columns=sorted(names)), (outcome,))
    if pair:
        return (
            f"user-item features {pair} make an item's text depend on the user; the catalogue has no one text per item"
        )
    return None


def score_catalogue(
    inputs: CatalogueInputs, scorer: RowScorer, n_clusters: int = N_CLUSTERS, seed: int = 0
) -> CatalogueScores:
    """Every (context, item) through the trained scorer (`scoring.predict.RowScorer`), and k-means item clusters.

    Frozen backbones embed each side once, so G x I pairs cost one pass of the head; other modes send each pair
    through the network. Clusters come from the items' text embeddings when the backbone is frozen, else from
    their score profiles over the contexts.
    """
    from sklearn.cluster import KMeans

    if inputs.reason is not None or not inputs.contexts or not inputs.item_text:
        raise ValueError(f"no catalogue to score: {inputs.reason or 'no rows were added'}")
    contexts, items = list(inputs.contexts), list(inputs.item_text)
    texts = [inputs.item_text[i] for i in items]
    user_side = [c for c in contexts for _ in texts]
    item_side = texts * len(contexts)
    scores = scorer.calibrator(scorer.logits(user_side, item_side)).reshape(len(contexts), len(items))
    if scorer.mode == "frozen":
        basis, features = "item text embeddings", scorer.embed(texts)
    else:
        basis, features = "score profiles over the contexts", scores.T.copy()
    k = min(n_clusters, len(items))
    clusters = (
        KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(features) if k > 1 else np.zeros(len(items))
    )
    return CatalogueScores(tuple(contexts), tuple(items), scores, np.asarray(clusters, dtype=np.int64), basis)


@dataclass(frozen=True)
class CatalogueRows:
    """Each logged row as (context index, item index, outcome, the logger's P(item | user)): item-level OPE's input."""

    context: np.ndarray  # (M,) int64 into CatalogueScores.contexts
    item: np.ndarray  # (M,) int64 into CatalogueScores.items
    reward: np.ndarray  # (M,) float64
    pscore: np.ndarray  # (M,) float64


def catalogue_rows(
    scored_path: str, catalogue: CatalogueScores, outcome: str, batch_rows: int = 262_144
) -> CatalogueRows:
    """The scored log's rows mapped onto the catalogue, read batch by batch and only the columns that matter."""
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(scored_path)
    user, _, _ = feature_columns(pd.DataFrame(columns=reader.schema_arrow.names), (outcome,))
    columns = [*user, "item_id", outcome, "item_propensity"]
    contexts = {c: k for k, c in enumerate(catalogue.contexts)}
    items = {i: k for k, i in enumerate(catalogue.items)}
    parts: list[tuple[np.ndarray, ...]] = []
    for batch in reader.iter_batches(batch_size=batch_rows, columns=columns):
        frame = batch.to_pandas()
        users, _ = row_parts(frame[user], exclude=(outcome,)) if user else ([""] * len(frame), None)
        parts.append(
            (
                np.fromiter((contexts[u] for u in users), np.int64, len(frame)),
                np.fromiter((items[i] for i in frame["item_id"].astype(str)), np.int64, len(frame)),
                frame[outcome].to_numpy(dtype=float),
                frame["item_propensity"].to_numpy(dtype=float),
            )
        )
    return CatalogueRows(*(np.concatenate(column) for column in zip(*parts)))
