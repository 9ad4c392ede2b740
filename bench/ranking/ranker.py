"""The history-aware ranker: frozen text embeddings of a user's recent items and of the candidate, a trained head.

Used where every item must be ranked for every user (the MovieLens benchmark): the user side is an attention
pooling over the newest history items (each: projected text embedding + learned item embedding + slot + rating),
the item side the same item vector, and the logit their dot product plus an item bias. Trained on every observed
next item, by default with a softmax cross-entropy over the whole catalogue (or BCE against sampled unrated items),
with early stopping on the val items' full-ranking NDCG@10 (or AUC).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor, nn

from scoring.metrics import RankMetrics, target_rank_metrics


@dataclass(frozen=True)
class RankerConfig:
    """Shape and training budget of the ranker; every field is checked on construction."""

    dim: int = 64
    max_history: int = 30
    # "softmax": cross-entropy of the next item against every catalogue item, the full-ranking task itself;
    # "bce": the next item against `negatives` uniformly drawn unrated items (cheaper per row, but mostly learns
    # to beat the long tail: on ml-latest-small its test NDCG@10 was 0.035 against the softmax's 0.056).
    loss: Literal["softmax", "bce"] = "softmax"
    negatives: int = 8
    batch_size: int = 512
    max_epochs: int = 20
    patience: int = 3
    # The val metric that stops training and picks the epoch: NDCG@10 is what the baselines' knobs are tuned on.
    select_on: Literal["ndcg", "auc"] = "ndcg"
    learning_rate: float = 4e-3
    weight_decay: float = 1e-5
    dropout: float = 0.2
    use_item_ids: bool = True  # False: items are known only through their text (a text-only ablation)
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("dim", "max_history", "negatives", "batch_size", "max_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        if self.loss not in ("softmax", "bce"):
            raise ValueError(f"loss must be 'softmax' or 'bce'; got {self.loss!r}")
        if self.select_on not in ("ndcg", "auc"):
            raise ValueError(f"select_on must be 'ndcg' or 'auc'; got {self.select_on!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1); got {self.dropout!r}; use e.g. 0.2")


class HistoryRanker(nn.Module):
    """Logits of candidate items for users given by their newest-first history (item index, rating); pad = n_items."""

    def __init__(self, text: Tensor, dim: int, max_history: int, dropout: float, use_item_ids: bool) -> None:
        super().__init__()
        n_items = text.shape[0]
        self.pad = n_items
        text = F.normalize(text.float(), dim=-1)
        self.register_buffer("text", torch.cat([text, text.new_zeros(1, text.shape[1])]))  # (I + 1, E), pad row 0
        self.text_proj = nn.Linear(text.shape[1], dim)
        self.item_id = nn.Embedding(n_items + 1, dim, padding_idx=n_items) if use_item_ids else None
        if self.item_id is not None:
            nn.init.normal_(self.item_id.weight, std=0.01)  # items with no training rows stay close to their text
            with torch.no_grad():
                self.item_id.weight[n_items].zero_()
        self.item_bias = nn.Embedding(n_items + 1, 1)
        nn.init.zeros_(self.item_bias.weight)
        self.slot = nn.Embedding(max_history, dim)
        self.rating = nn.Embedding(11, dim)  # half-stars 0.5..5 -> 1..10; 0 = padding
        self.attend = nn.Linear(dim, 1)
        self.drop = nn.Dropout(dropout)
        self.user_mlp = nn.Sequential(nn.Linear(2 * dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def item_table(self) -> Tensor:
        """(I + 1, D): every item's vector (text projection + learned embedding)."""
        table = self.text_proj(self.text)
        if self.item_id is not None:
            table = table + self.item_id.weight
        return table

    def users(self, history: Tensor, rating: Tensor, table: Tensor) -> Tensor:
        """(B, L) newest-first items and (B, L) rating codes -> (B, D) user vectors."""
        mask = history != self.pad  # (B, L)
        h = table[history] + self.slot.weight[: history.shape[1]] + self.rating(rating)  # (B, L, D)
        h = self.drop(h)
        a = self.attend(torch.tanh(h)).squeeze(-1).masked_fill(~mask, float("-inf"))  # (B, L)
        a = torch.softmax(a, dim=1).nan_to_num(0.0)  # an empty history pools to 0
        pooled = (a.unsqueeze(-1) * h).sum(dim=1)  # (B, D)
        return self.user_mlp(torch.cat([pooled, h[:, 0]], dim=-1))  # (B, 2D) -> (B, D)

    def forward(self, history: Tensor, rating: Tensor, candidates: Tensor) -> Tensor:
        """(B, L), (B, L), (B, C) -> (B, C) logits."""
        table = self.item_table()
        u = self.users(history, rating, table)  # (B, D)
        return (u.unsqueeze(1) * table[candidates]).sum(-1) + self.item_bias(candidates).squeeze(-1)  # (B, C)

    def all_logits(self, history: Tensor, rating: Tensor) -> Tensor:
        """(B, L), (B, L) -> (B, I) logits of every catalogue item (with gradients: the softmax loss uses it)."""
        table = self.item_table()
        u = self.users(history, rating, table)
        return u @ table[: self.pad].T + self.item_bias.weight[: self.pad, 0]

    @torch.no_grad()
    def score_all(self, history: Tensor, rating: Tensor) -> Tensor:
        """(B, L), (B, L) -> (B, I) logits of every catalogue item, for ranking."""
        return self.all_logits(history, rating)


def rating_code(r: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(r, dtype=np.float64) * 2), 0, 10).astype(np.int64)


def history_windows(items: np.ndarray, ratings: np.ndarray, length: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """For each position t of one user's sequence: the `length` items before t, newest first, padded.

    Returns ((n, length) items, (n, length) rating codes); row t never contains items[t] or anything after it.
    """
    n = items.size
    padded_items = np.concatenate([np.full(length, pad, np.int64), items.astype(np.int64)])
    padded_r = np.concatenate([np.zeros(length, np.int64), rating_code(ratings)])
    win_i = sliding_window_view(padded_items, length)[:n, ::-1]  # row t: items[t-length .. t-1], reversed
    win_r = sliding_window_view(padded_r, length)[:n, ::-1]
    return np.ascontiguousarray(win_i), np.ascontiguousarray(win_r)


class TrainPairs:
    """Epoch-seeded batches of (history, rating, [positive, negatives...]) with negatives drawn from unrated items."""

    def __init__(
        self,
        histories: list[np.ndarray],
        ratings: list[np.ndarray],
        known: list[np.ndarray],
        n_items: int,
        config: RankerConfig,
    ) -> None:
        hs, rs, pos, users = [], [], [], []
        for u, (h, r) in enumerate(zip(histories, ratings)):
            if h.size < 2:
                continue
            wi, wr = history_windows(h, r, config.max_history, n_items)
            hs.append(wi[1:])  # targets are positions 1..n-1: each has at least one item before it
            rs.append(wr[1:])
            pos.append(h[1:])
            users.append(np.full(h.size - 1, u))
        self.history = np.concatenate(hs)
        self.rating = np.concatenate(rs)
        self.positive = np.concatenate(pos)
        self.user = np.concatenate(users)
        # (user, item) keys a negative may not hit: everything the user rated in what the model may see
        self.known = np.unique(np.concatenate([u * n_items + k for u, k in enumerate(known)]))
        self.n_items = n_items
        self.config = config
        self.epoch = 0
        self.sampler = self  # Lightning calls dataloader.sampler.set_epoch(epoch) before each epoch
        self.batch_sampler = None  # Lightning inspects loaders for a shuffling sampler

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.positive.size // self.config.batch_size)

    def _negatives(self, rng: np.random.Generator) -> np.ndarray:
        if self.config.loss == "softmax":  # every other item is a negative: nothing to draw
            return np.zeros((self.positive.size, 0), np.int64)
        neg = rng.integers(0, self.n_items, size=(self.positive.size, self.config.negatives))
        for _ in range(20):  # redraw the few that hit a rated item; 20 rounds leave none in practice
            keys = self.user[:, None] * self.n_items + neg
            pos = np.searchsorted(self.known, keys).clip(max=self.known.size - 1)
            hit = self.known[pos] == keys
            if not hit.any():
                break
            neg[hit] = rng.integers(0, self.n_items, size=int(hit.sum()))
        return neg

    def __iter__(self):
        rng = np.random.default_rng([self.config.seed, self.epoch])
        order = rng.permutation(self.positive.size)
        neg = self._negatives(rng)
        labels = np.zeros((1, 1 + neg.shape[1]), np.float32)
        labels[0, 0] = 1.0
        for start in range(0, order.size, self.config.batch_size):
            idx = order[start : start + self.config.batch_size]
            cand = np.concatenate([self.positive[idx, None], neg[idx]], axis=1)  # (B, 1 + k)
            yield {
                "history": torch.from_numpy(self.history[idx]),
                "rating": torch.from_numpy(self.rating[idx]),
                "candidates": torch.from_numpy(cand),
                "label": torch.from_numpy(np.repeat(labels, idx.size, axis=0)),
            }


@dataclass(frozen=True)
class RankQueries:
    """Users to rank all items for: newest-first history, the target item and the items excluded (already seen)."""

    history: np.ndarray  # (U, L)
    rating: np.ndarray  # (U, L)
    target: np.ndarray  # (U,)
    seen: list[np.ndarray]  # per user: items not ranked (the history)


def rank_queries(
    histories: list[np.ndarray], ratings: list[np.ndarray], targets: np.ndarray, n_items: int, length: int
) -> RankQueries:
    hist, rat = [], []
    for h, r in zip(histories, ratings):
        wi, wr = history_windows(np.append(h, 0), np.append(r, 0), length, n_items)
        hist.append(wi[-1])  # the window before the (dummy) next position: all of h, newest first
        rat.append(wr[-1])
    return RankQueries(np.stack(hist), np.stack(rat), np.asarray(targets), [np.asarray(h) for h in histories])


def evaluate_scores(scores: np.ndarray, queries: RankQueries, k: int = 10) -> RankMetrics:
    """Full-ranking metrics of (U, I) scores: each user's target against every item outside their history."""
    greater = np.empty(len(queries.target), np.int64)
    tied = np.empty_like(greater)
    n = np.empty_like(greater)
    for u, (row, target, seen) in enumerate(zip(scores, queries.target, queries.seen)):
        allowed = np.ones(row.size, bool)
        allowed[seen] = False
        allowed[target] = True  # the target is ranked even if it also appeared earlier (a re-rating)
        s = row[allowed]
        greater[u] = int((s > row[target]).sum())
        tied[u] = int((s == row[target]).sum()) - 1
        n[u] = int(allowed.sum())
    return target_rank_metrics(greater, tied, n, k)


class RankerModule(L.LightningModule):
    """Softmax or BCE steps per row (see RankerConfig.loss); the val epoch ranks every item for every val user."""

    def __init__(self, net: HistoryRanker, config: RankerConfig, val: RankQueries | None) -> None:
        super().__init__()
        self.net = net
        self.config = config
        self.val = val
        self.samples_seen = 0

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        if self.config.loss == "softmax":
            logits = self.net.all_logits(batch["history"], batch["rating"])  # (B, I)
            loss = F.cross_entropy(logits, batch["candidates"][:, 0])
        else:
            logits = self.net(batch["history"], batch["rating"], batch["candidates"])  # (B, 1 + k)
            loss = F.binary_cross_entropy_with_logits(logits, batch["label"])
        self.log("train_loss", loss, prog_bar=True, batch_size=logits.shape[0])
        self.samples_seen += int(logits.numel())
        return loss

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        pass  # the whole val ranking happens once per epoch below

    def on_validation_epoch_end(self) -> None:
        if self.val is None:
            return
        scores = score_users(self.net, self.val, self.device)
        metrics = evaluate_scores(scores, self.val)
        self.log("val_auc", metrics.auc, prog_bar=True)
        self.log("val_ndcg", metrics.ndcg, prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.config.learning_rate, weight_decay=self.config.weight_decay)


def score_users(
    net: HistoryRanker, queries: RankQueries, device: torch.device | str = "cpu", chunk: int = 256
) -> np.ndarray:
    was = net.training
    net.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(queries.target), chunk):
            h = torch.from_numpy(queries.history[s : s + chunk]).to(device)
            r = torch.from_numpy(queries.rating[s : s + chunk]).to(device)
            out.append(net.score_all(h, r).float().cpu().numpy())
    net.train(was)
    return np.concatenate(out)


class RankerData(L.LightningDataModule):
    """Train batches from TrainPairs; one dummy val batch so Lightning runs the val epoch (which ranks everything)."""

    def __init__(self, pairs: TrainPairs) -> None:
        super().__init__()
        self.pairs = pairs

    def train_dataloader(self):
        return self.pairs

    def val_dataloader(self):
        return [torch.zeros(1)]


@dataclass(frozen=True)
class FitResult:
    net: HistoryRanker
    epochs: int  # epochs trained (early stopping included)
    best_epoch: int  # 1-based epoch whose weights were kept
    best_val_auc: float
    best_val_ndcg: float
    seconds: float
    samples_per_s: float


def fit_ranker(
    text: np.ndarray,
    histories: list[np.ndarray],
    ratings: list[np.ndarray],
    val: RankQueries,
    config: RankerConfig,
    accelerator: str = "cpu",
) -> FitResult:
    """Train on the histories (targets: every item after the first), early-stop on the val metric; the best weights."""
    from lightning.pytorch.callbacks import EarlyStopping

    from scoring.config import resolve_precision

    L.seed_everything(config.seed, workers=True, verbose=False)
    n_items = text.shape[0]
    net = HistoryRanker(torch.from_numpy(text), config.dim, config.max_history, config.dropout, config.use_item_ids)
    pairs = TrainPairs(histories, ratings, histories, n_items, config)
    module = RankerModule(net, config, val)
    best = _KeepBest(f"val_{config.select_on}")
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=resolve_precision(accelerator),
        max_epochs=config.max_epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=config.progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[EarlyStopping(f"val_{config.select_on}", mode="max", patience=config.patience), best],
    )
    started = time.perf_counter()
    trainer.fit(module, datamodule=RankerData(pairs))
    seconds = time.perf_counter() - started
    net.load_state_dict(best.state)
    return FitResult(
        net, trainer.current_epoch, best.epoch, best.auc, best.ndcg, seconds, module.samples_seen / max(seconds, 1e-9)
    )


class _KeepBest(L.Callback):
    """Keeps an in-memory copy of the weights with the best val metric (the ranker is a few MB)."""

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.best = float("-inf")
        self.epoch = 0
        self.auc = float("nan")
        self.ndcg = float("nan")
        self.state: dict[str, Tensor] = {}

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # on_validation_end runs after the module logged its val metrics
        # (callbacks' epoch-end hooks run before the module's)
        value = float(trainer.callback_metrics.get(self.monitor, float("nan")))
        if value > self.best:
            self.best = value
            self.epoch = trainer.current_epoch + 1
            self.auc = float(trainer.callback_metrics.get("val_auc", float("nan")))
            self.ndcg = float(trainer.callback_metrics.get("val_ndcg", float("nan")))
            self.state = {k: v.detach().clone() for k, v in module.net.state_dict().items()}
