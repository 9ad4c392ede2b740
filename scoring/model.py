"""Relevance networks (backbone with a linear or yes/no head, LoRA; frozen-embedding head) and their LightningModule."""

from __future__ import annotations

import time

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from scoring.metrics import auc

Batch = dict[str, Tensor]  # model inputs by name, plus "label" (B,)


def pool(hidden: Tensor, attention_mask: Tensor, kind: str) -> Tensor:
    """(B, T, H) -> (B, H): mean of the unpadded token states, or the state of the last unpadded token."""
    if kind == "last":
        # Right padding: the last real token sits at (number of real tokens - 1).
        last = attention_mask.long().sum(dim=1).clamp(min=1) - 1  # (B,)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, H)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (B, H)


def _bias_init(layer: nn.Linear | nn.Parameter, prior: float | None) -> None:
    if prior is None:
        return
    value = float(np.log(prior / (1.0 - prior)))
    # Start at the base rate's log-odds so early steps learn the ranking, not the (tiny) click rate.
    with torch.no_grad():
        (layer.bias if isinstance(layer, nn.Linear) else layer).fill_(value)


class RelevanceNet(nn.Module):
    """One logit per row from its tokens: pooled backbone states and a linear head, or the LM's yes/no logits.

    head="yes_no" (TALLRec): the backbone is a causal LM asked "... Answer:"; the logit is
    logit("Yes") - logit("No") at the last token, plus a learned bias. Only the two rows of the LM head are used.
    """

    def __init__(
        self,
        backbone: PreTrainedModel,
        prior: float | None = None,
        pooling: str = "mean",
        head: str = "linear",
        yes_no_ids: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.pooling = pooling
        self.head_kind = head
        if head == "yes_no":
            if yes_no_ids is None:
                raise ValueError("head='yes_no' needs the token ids of 'Yes' and 'No'")
            lm_head = backbone.get_output_embeddings()
            if lm_head is None:
                raise ValueError(
                    f"head='yes_no' needs a causal LM with an output layer; {type(backbone).__name__} has none; "
                    "pass a decoder-only model directory (GPT-2, Llama, Qwen ...) or head='linear'"
                )
            self.backbone = backbone.base_model  # the transformer body; the LM head is applied to one token only
            self.lm_head = lm_head
            self.register_buffer("yes_no", torch.tensor(list(yes_no_ids), dtype=torch.long), persistent=False)
            self.bias = nn.Parameter(torch.zeros(()))
            _bias_init(self.bias, prior)
        else:
            self.backbone = backbone
            self.head = nn.Linear(int(backbone.config.hidden_size), 1)
            _bias_init(self.head, prior)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        pooled = pool(hidden, attention_mask, "last" if self.head_kind == "yes_no" else self.pooling)  # (B, H)
        # The head runs in float32 even under bf16 autocast: bf16 logits carry ~3 digits and would tie many scores.
        with torch.autocast(device_type=pooled.device.type, enabled=False):
            if self.head_kind == "yes_no":
                rows = self.lm_head.weight[self.yes_no].float()  # (2, H): the "Yes" and "No" rows only
                two = pooled.float() @ rows.T  # (B, 2)
                return two[:, 0] - two[:, 1] + self.bias  # (B,)
            return self.head(pooled.float()).squeeze(-1)  # (B, 1) -> (B,)


YES_NO_PROMPT = "Will the user like this item? Answer:"


def yes_no_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    """Token ids of " Yes" and " No" (their last piece, as the answer's first token), or an error naming the fix."""
    ids = []
    for word in ("Yes", "No"):
        found = None
        for form in (f" {word}", word):
            pieces = tokenizer(form, add_special_tokens=False)["input_ids"]
            if pieces and pieces[-1] != tokenizer.unk_token_id:
                found = int(pieces[-1])
                break
        if found is None:
            raise ValueError(
                f"head='yes_no' needs a {word!r} token in the backbone's vocabulary, found none; use head='linear'"
            )
        ids.append(found)
    return ids[0], ids[1]


def apply_lora(backbone: PreTrainedModel, r: int) -> nn.Module:
    """Wrap every linear layer of the transformer body in rank-r LoRA adapters (peft); the base weights freeze."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ImportError("mode='lora' needs peft: pip install 'recdo[lora]' (peft 0.21)") from exc
    config = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear", bias="none")
    return get_peft_model(backbone, config)


class EmbeddingHead(nn.Module):
    """One logit per row from frozen user-side and item-side embeddings: an MLP over [u, i, u*i]."""

    def __init__(self, width: int, hidden: int = 128, prior: float | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3 * width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
        _bias_init(self.mlp[-1], prior)

    def forward(self, user_vec: Tensor, item_vec: Tensor) -> Tensor:
        u, i = F.normalize(user_vec.float(), dim=-1), F.normalize(item_vec.float(), dim=-1)  # (B, H) each
        return self.mlp(torch.cat([u, i, u * i], dim=-1)).squeeze(-1)  # (B, 3H) -> (B,)


def freeze_unused(net: nn.Module, inputs: dict[str, Tensor]) -> list[str]:
    """Freeze the trainable parameters that a forward/backward on `inputs` leaves without a gradient; their names.

    DDP fails on a trainable parameter the loss never reaches (a BERT pooler: the scorer pools token states
    itself). Frozen, such parameters leave DDP's all-reduce; AdamW skipped them already, so training is unchanged.
    """
    trainable = [(name, p) for name, p in net.named_parameters() if p.requires_grad]  # grads are None: not yet trained
    with torch.random.fork_rng(devices=[]):  # dropout in the probe must not shift the training run's random stream
        net(**inputs).float().sum().backward()
    unused = [name for name, p in trainable if p.grad is None]
    for name, p in trainable:
        p.grad = None
        if name in unused:
            p.requires_grad_(False)
    return unused


class ScorerModule(L.LightningModule):
    """Steps, logging and the optimizer for a relevance network under binary cross-entropy.

    Records training throughput (samples/s, and tokens/s when the batches carry an attention mask). Under DDP the
    val AUC and the predictions are gathered from every device, so each rank sees the same whole-split numbers.
    """

    def __init__(self, net: nn.Module, learning_rate: float, pos_weight: float | None = None) -> None:
        """pos_weight > 1 up-weights positives in the loss (and shifts every logit up by log(pos_weight))."""
        super().__init__()
        self.net = net
        self.learning_rate = learning_rate
        self.pos_weight = pos_weight
        self._val_logits: list[Tensor] = []
        self._val_labels: list[Tensor] = []
        self._val_rows: list[Tensor] = []
        self._pred_logits: list[Tensor] = []
        self._pred_rows: list[Tensor] = []
        self.predicted = np.empty(0)  # logits of every predict row in row order, after a predict epoch
        self.samples_seen = 0
        self.samples_all_devices = 0  # summed over devices at the end of training, like tokens_all_devices
        self.tokens_all_devices = 0
        self.tokens_seen = 0
        self.train_seconds = 0.0
        self._step_started = 0.0

    def forward(self, **inputs: Tensor) -> Tensor:
        return self.net(**inputs)

    @staticmethod
    def _inputs(batch: Batch) -> dict[str, Tensor]:
        return {k: v for k, v in batch.items() if k not in ("label", "row")}

    def _loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        weight = None if self.pos_weight is None else logits.new_tensor(self.pos_weight)
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), pos_weight=weight)

    def on_train_batch_start(self, batch: Batch, batch_idx: int) -> None:
        self._step_started = time.perf_counter()

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        labels = batch["label"]
        loss = self._loss(self(**self._inputs(batch)), labels)
        self.log("train_loss", loss, prog_bar=True, batch_size=labels.shape[0])
        return loss

    def on_train_batch_end(self, outputs, batch: Batch, batch_idx: int) -> None:
        self.train_seconds += time.perf_counter() - self._step_started
        self.samples_seen += int(batch["label"].shape[0])
        if "attention_mask" in batch:
            self.tokens_seen += int(batch["attention_mask"].sum())

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        labels = batch["label"]
        logits = self(**self._inputs(batch))
        self.log("val_loss", self._loss(logits, labels), prog_bar=True, batch_size=labels.shape[0], sync_dist=True)
        self._val_logits.append(logits.detach().float())
        self._val_labels.append(labels.detach())
        self._val_rows.append(batch["row"])

    def on_validation_epoch_end(self) -> None:
        # AUC is a ranking over the whole split, so it is computed once per epoch over every device's rows, not
        # averaged over batches or devices; every rank computes the same value, so early stopping agrees.
        if self._val_labels:
            _, (labels, logits) = self._gather_rows(self._val_rows, self._val_labels, self._val_logits)
            # sync_dist with max: the values are already equal; it only tells Lightning they are global.
            self.log("val_auc", auc(labels, logits), prog_bar=True, sync_dist=True, reduce_fx="max")
        for kept in (self._val_logits, self._val_labels, self._val_rows):
            kept.clear()

    def on_train_end(self) -> None:
        counts = torch.tensor([self.samples_seen, self.tokens_seen], device=self.device)
        seen = self.all_gather(counts)  # (W, 2) or (2,)
        self.samples_all_devices, self.tokens_all_devices = (int(v) for v in seen.reshape(-1, 2).sum(dim=0))

    def on_predict_epoch_start(self) -> None:
        self._pred_logits.clear()
        self._pred_rows.clear()

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        logits = self(**self._inputs(batch)).float()  # (B,)
        self._pred_logits.append(logits)
        self._pred_rows.append(batch["row"])
        return logits.cpu()

    def on_predict_epoch_end(self) -> None:
        rows, (logits,) = self._gather_rows(self._pred_rows, self._pred_logits)
        if not np.array_equal(rows, np.arange(rows.size)):
            raise RuntimeError(
                f"predictions gathered from {self.trainer.world_size} devices cover {rows.size} rows but not rows "
                f"0..{rows.size - 1}; the predict loader must serve every row"
            )
        self.predicted = logits.astype(np.float64)
        self._pred_logits.clear()
        self._pred_rows.clear()

    def _gather_rows(self, rows: list[Tensor], *columns: list[Tensor]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Concatenate this device's batches, gather every device's, keep one copy of each row, in row order."""
        # all_gather needs equal shapes on every rank (the shards are padded to be) and device tensors (NCCL).
        gathered = [self.all_gather(torch.cat(c).to(self.device)).reshape(-1).cpu().numpy() for c in (rows, *columns)]
        _, first = np.unique(gathered[0], return_index=True)  # padding repeats a few rows on a second rank
        return gathered[0][first], [c[first] for c in gathered[1:]]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.parameters() if p.requires_grad]  # frozen or LoRA backbones: the trainable part
        return torch.optim.AdamW(params, lr=self.learning_rate)
