"""Pre-treatment user features read from text: frozen item embeddings, then each user's pre-cutoff history clustered."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from common.errors import InputError
from common.values import check_int
from scoring.config import MINILM
from scoring.text_propensity import fit_propensity_head

if TYPE_CHECKING:
    from scoring.embed import Embedded

USER_TEXT = "user_text"  # a user_* column, so the network plan puts it in the pre-treatment tier
NO_HISTORY = "none"  # the state of a user the caller asked for who has no history row before the cutoff
MAX_LENGTH = 128  # tokens per text: "title | genres" fits many times over; MiniLM was trained on 128
OTHER_STATE = "other"  # the "dominant" states held by fewer than min_share of the users, merged
REPRESENTATIONS = ("mean", "dominant", "propensity", "text_logit")
HEADED = ("propensity", "text_logit")  # the representations that fit the propensity head on a treatment_log
DEFAULT_REPRESENTATION = "mean"  # the unsupervised default: it reads no column of the log
# The propensity head's defaults, chosen on bench/text_causal.py's dev seeds (100-102): unit-norm mean vectors
# have coordinates near 0.05, so C = 1 shrank the head to near-constant propensities.
PROPENSITY_C = 100.0
PROPENSITY_SHARES = 20
LEAKAGE_RULE = "leakage rule: text features use only history strictly before the log's first impression"

VectorsOf = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True, eq=False)
class UserText:
    """One row per described user: its text state (`frame`) and its unit-norm mean history vector (`vectors`)."""

    frame: pd.DataFrame  # user_id (str), user_text (str: "t0".."t{k-1}", or NO_HISTORY)
    vectors: np.ndarray  # (users, H) float64 in frame order; zeros for a user with no history before the cutoff
    centroids: np.ndarray  # state t{i}'s centroid: (k, H) text; (k, T) treatment or logit space for the headed ones
    cutoff: pd.Timestamp  # only history rows with ts < cutoff were read
    n_rows: int  # history rows used (before the cutoff)
    n_texts: int  # distinct texts passed to vectors_of


def item_vectors(
    texts: Sequence[str],
    backbone: str = MINILM,
    cache_dir: Path | None = None,
    *,
    max_length: int = MAX_LENGTH,
    batch_size: int = 64,
) -> np.ndarray:
    """(n, H) float32 unit-norm mean-pooled embeddings of `texts` by a frozen backbone; each distinct text once.

    all-MiniLM-L6-v2 is mean pooling followed by L2 normalisation (its sentence-transformers modules), so the
    vectors here are the ones it was trained to compare by cosine. With cache_dir, vectors live on disk under
    cache_dir/<backbone fingerprint>, so a second call (or run) encodes nothing it has seen.
    """
    return embed_items(texts, backbone, cache_dir, max_length=max_length, batch_size=batch_size).vectors


def embed_items(
    texts: Sequence[str],
    backbone: str = MINILM,
    cache_dir: Path | None = None,
    *,
    max_length: int = MAX_LENGTH,
    batch_size: int = 64,
) -> Embedded:
    """item_vectors with the encoder's counts (texts encoded vs read from the cache) and its seconds."""
    # torch and transformers take seconds to import: only callers that embed pay for them.
    from scoring.backbone import backbone_fingerprint, load_backbone, resolve_backbone_dir
    from scoring.embed import Embedded, embed_texts

    texts = [str(t) for t in texts]
    # A built backbone (tiny-bert, whose vocabulary comes from the texts) lives beside the cache, else in tmp.
    work_dir = (Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "recdo") / "backbones"
    where = resolve_backbone_dir(backbone, work_dir, texts, seed=0)
    key = str(where)
    if key not in _MODELS:  # loading MiniLM takes about a second: once per process and backbone
        _MODELS[key] = load_backbone(backbone, work_dir, texts, seed=0)
    model, tokenizer = _MODELS[key]
    cache = Path(cache_dir) / backbone_fingerprint(backbone, where) if cache_dir is not None else None
    emb = embed_texts(
        model, tokenizer, texts, pooling="mean", max_length=max_length, cache_dir=cache, batch_size=batch_size
    )
    vectors = emb.vectors / np.maximum(np.linalg.norm(emb.vectors, axis=1, keepdims=True), 1e-12)
    return Embedded(vectors.astype(np.float32), emb.n_encoded, emb.n_cached, emb.seconds)


_MODELS: dict[str, tuple[Any, Any]] = {}  # resolved backbone folder -> (model, tokenizer)


def check_cutoff(log: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    """Raise InputError unless cutoff <= the log's earliest impression ts (history after it would leak)."""
    if "ts" not in log.columns:
        raise InputError(
            f"{LEAKAGE_RULE}; the log has no 'ts' column (columns: {sorted(map(str, log.columns))}); "
            "fix: pass the canonical log with its UTC 'ts' column"
        )
    if len(log) == 0:
        raise InputError(
            f"{LEAKAGE_RULE}; the log has no rows, so no first impression bounds the cutoff; "
            "fix: pass the log the features will join"
        )
    first = _utc(log["ts"]).min()
    cut = _utc_cutoff(cutoff)
    if cut > first:
        raise InputError(
            f"{LEAKAGE_RULE}: cutoff {cut} is after the log's earliest ts {first}, so history the logging "
            f"policy had not yet seen would describe its users; fix: pass cutoff <= {first} (e.g. log['ts'].min())"
        )


def user_text_features(
    history: pd.DataFrame,
    cutoff: pd.Timestamp,
    vectors_of: VectorsOf,
    n_clusters: int = 6,
    seed: int = 0,
    *,
    users: Sequence[object] | None = None,
    representation: str = DEFAULT_REPRESENTATION,
    min_share: float = 0.02,
    treatment_log: pd.DataFrame | None = None,
    treatment: str = "strategy",
    covariates: Sequence[str] = ("user_activity",),
    propensity_c: float = PROPENSITY_C,
    propensity_shares: int = PROPENSITY_SHARES,
) -> UserText:
    """Each user's text state "t0".. from history rows with ts < cutoff; `vectors` is the unit mean history vector.

    `vectors_of` maps texts to an (n, H) array; it is called once, on the distinct texts in sorted order.
    States are numbered by falling cluster size (ties by centroid), so a relabelling of k-means never shows.
    `users`: the users to describe (e.g. the log's); those without a pre-cutoff row get NO_HISTORY and a zero
    vector. By default every user with a pre-cutoff row, so rows at or after the cutoff change nothing at all.
    `representation` (REPRESENTATIONS):
    - "mean": k-means (n_clusters) of the users' unit mean history vectors.
    - "dominant": k-means (n_clusters) of the distinct history texts' vectors into item-text clusters; a user's
      state is the cluster holding most of their history rows (ties: the lower, i.e. larger, cluster). States
      held by fewer than `min_share` of the described users are merged into OTHER_STATE.
    - "propensity": a multinomial logistic (inverse regularisation `propensity_c`) of `treatment_log[treatment]`
      on [mean vector, the user's shares of history rows in `propensity_shares` item-text clusters (as
      "dominant" builds them; 0 leaves them out), one-hots of `covariates`] (the logged treatment, never an
      outcome), each user's predicted treatment distribution k-means'd (n_clusters): the text summarised for
      what the logger did (CausalBERT's propensity head).
    - "text_logit": the same head, but k-means (n_clusters) of the text's own part of its logits, the covariates'
      part left out: states then split users by what their text says about the logger, not by the activity the
      network holds as its own node.
    """
    check_int("n_clusters", n_clusters, 1, "use at least one text state, e.g. 6")
    if representation not in REPRESENTATIONS:
        raise InputError(
            f"representation must be one of {list(REPRESENTATIONS)}; got {representation!r}; fix: use 'mean' "
            "(the default), 'dominant', 'propensity' or 'text_logit'"
        )
    if not 0 <= min_share < 1:
        raise InputError(f"min_share must lie in [0, 1); got {min_share!r}; fix: e.g. 0.02 (2% of users)")
    if not propensity_c > 0:
        raise InputError(f"propensity_c must be > 0; got {propensity_c!r}; fix: e.g. {PROPENSITY_C:g}")
    check_int("propensity_shares", propensity_shares, 0, "use 0 (no cluster shares) or e.g. 20 clusters")
    if representation in HEADED and treatment_log is None:
        raise InputError(
            f"representation={representation!r} needs treatment_log (the log with user_id, the treatment and "
            "covariates); fix: pass the log, or use representation='mean' or 'dominant'"
        )
    missing = [c for c in ("user_id", "ts", "text") if c not in history.columns]
    if missing:
        raise InputError(
            f"history needs columns user_id, ts, text; {missing} missing (columns: "
            f"{sorted(map(str, history.columns))}); fix: pass causal.sim.history.user_history's frame"
        )
    cut = _utc_cutoff(cutoff)
    before = history.loc[_utc(history["ts"]) < cut]  # THE LEAKAGE RULE: strictly before the cutoff
    user_codes, user_ids = pd.factorize(before["user_id"].astype(str), sort=True)
    text_codes, texts = pd.factorize(before["text"].astype(str), sort=True)
    n_users, n_texts = len(user_ids), len(texts)

    if n_texts:
        table = np.asarray(vectors_of(list(texts)), dtype=np.float64)
        if table.ndim != 2 or table.shape[0] != n_texts or not np.isfinite(table).all():
            raise InputError(
                f"vectors_of must return a finite ({n_texts}, H) array for {n_texts} texts; got shape "
                f"{table.shape}; fix: return one row per text, in the order given"
            )
        # Mean of the rows' vectors per user: counts (users x texts) @ table, so each text's vector is read once.
        counts = sparse.csr_matrix(
            (np.ones(len(before)), (user_codes, text_codes)), shape=(n_users, n_texts)
        )  # duplicate (user, text) pairs add up: a film rated twice counts twice
        means = (counts @ table) / np.asarray(counts.sum(axis=1))  # (users, H)
    else:
        means = np.zeros((0, 0))
    unit = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)

    if representation == "dominant" and n_texts:
        per_cluster, centroids = _rows_per_text_cluster(counts, table, n_clusters, seed)
        labels = per_cluster.argmax(axis=1)  # argmax takes the lower index on ties
    elif representation in HEADED and n_users:
        x = unit
        if propensity_shares > 0:
            per_cluster, _ = _rows_per_text_cluster(counts, table, propensity_shares, seed)
            x = np.hstack([unit, per_cluster / per_cluster.sum(axis=1, keepdims=True)])
        head = fit_propensity_head(x, pd.Index(user_ids), treatment_log, treatment, covariates, propensity_c, seed)
        summary = head.proba if representation == "propensity" else head.text_logits
        labels, centroids = _clusters(summary, n_clusters, seed)
    else:
        labels, centroids = _clusters(unit, n_clusters, seed)
    states = np.array([f"t{i}" for i in labels], dtype=object)
    frame = pd.DataFrame({"user_id": np.asarray(user_ids, dtype=object), USER_TEXT: states})
    vectors = unit
    if users is not None:
        wanted = pd.Index(pd.unique(pd.Series(list(users), dtype=object).astype(str)))
        position = pd.Index(frame["user_id"]).get_indexer(wanted)
        has = position >= 0
        vectors = np.zeros((len(wanted), unit.shape[1] if n_users else 0))
        vectors[has] = unit[position[has]]
        described = np.full(len(wanted), NO_HISTORY, dtype=object)
        described[has] = frame[USER_TEXT].to_numpy()[position[has]]
        frame = pd.DataFrame({"user_id": np.asarray(wanted, dtype=object), USER_TEXT: described})
    if representation == "dominant":
        frame[USER_TEXT] = _merge_rare(frame[USER_TEXT], min_share)
    return UserText(frame=frame, vectors=vectors, centroids=centroids, cutoff=cut, n_rows=len(before), n_texts=n_texts)


def with_user_text(log: pd.DataFrame, features: UserText) -> pd.DataFrame:
    """The log with its users' `user_text` state (NO_HISTORY where unknown), after checking the leakage rule."""
    check_cutoff(log, features.cutoff)
    states = dict(zip(features.frame["user_id"], features.frame[USER_TEXT]))
    return log.assign(**{USER_TEXT: log["user_id"].astype(str).map(states).fillna(NO_HISTORY).to_numpy()})


def _merge_rare(states: pd.Series, min_share: float) -> np.ndarray:
    """States held by fewer than min_share of the users become OTHER_STATE (NO_HISTORY is kept as it is)."""
    share = states.value_counts(normalize=True)
    rare = [s for s in share.index[share < min_share] if s != NO_HISTORY]
    return states.where(~states.isin(rare), OTHER_STATE).to_numpy(dtype=object)


def _rows_per_text_cluster(
    counts: sparse.csr_matrix, table: np.ndarray, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """((users, k) history rows in each of k k-means clusters of the distinct texts' vectors, the centroids)."""
    text_labels, centroids = _clusters(table, k, seed)
    onehot = sparse.csr_matrix(
        (np.ones(len(table)), (np.arange(len(table)), text_labels)), shape=(len(table), len(centroids))
    )
    return np.asarray((counts @ onehot).toarray()), centroids


def _clusters(unit: np.ndarray, n_clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded k-means labels, renumbered by falling size then centroid; never more clusters than distinct points."""
    if len(unit) == 0:
        return np.zeros(0, dtype=int), np.zeros((0, unit.shape[1]))
    k = min(n_clusters, len(np.unique(unit, axis=0)))  # k-means cannot split identical points
    raw, centres = _kmeans(unit, k, seed)
    sizes = np.bincount(raw, minlength=k)
    order = sorted(range(k), key=lambda c: (-sizes[c], tuple(np.round(centres[c], 12))))
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    return rank[raw], centres[order]


def _kmeans(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits
    except ImportError:
        return _numpy_kmeans(x, k, seed)
    # One thread: on a busy machine OpenMP's spinning workers made a 610-user fit 20x slower (3.7 s vs 0.18 s).
    with threadpool_limits(limits=1):
        fit = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    return fit.labels_.astype(int), fit.cluster_centers_


def _numpy_kmeans(
    x: np.ndarray, k: int, seed: int, n_init: int = 10, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ starts, the best of n_init by inertia; used where sklearn is absent."""
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(n_init):
        centres = x[[int(rng.integers(len(x)))]]
        while len(centres) < k:
            d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1).min(1)
            centres = np.vstack([centres, x[int(rng.choice(len(x), p=d2 / d2.sum()))]])
        for _ in range(max_iter):
            labels = ((x[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
            moved = np.array([x[labels == c].mean(0) if (labels == c).any() else centres[c] for c in range(k)])
            if np.allclose(moved, centres):
                break
            centres = moved
        inertia = float(((x - centres[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels, centres)
    assert best is not None
    return best[1], best[2]


def _utc(ts: pd.Series) -> pd.Series:
    """A ts column as UTC; naive timestamps are read as UTC, the canonical log's zone."""
    values = pd.to_datetime(ts)
    return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")


def _utc_cutoff(cutoff: object) -> pd.Timestamp:
    try:
        cut = pd.Timestamp(cutoff)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"cutoff {cutoff!r} is not a timestamp; fix: pass e.g. pd.Timestamp('2024-03-01', "
            "tz='UTC') or the log's ts.min()"
        ) from exc
    if pd.isna(cut):
        raise InputError("cutoff is missing (NaT); fix: pass the log's earliest impression ts, log['ts'].min()")
    return cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
