"""The relevance network (backbone + masked mean pooling + linear head) and its LightningModule."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PreTrainedModel

from scoring.metrics import auc

Batch = tuple[Tensor, Tensor, Tensor]  # input_ids (B, T), attention_mask (B, T), label (B,)


class RelevanceNet(nn.Module):
    """One click logit per row from its tokens: mean of the backbone's unpadded token states, then a linear head."""

    def __init__(self, backbone: PreTrainedModel, prior: float | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(int(backbone.config.hidden_size), 1)
        if prior is not None:
            # Start at the base rate's log-odds so early steps learn the ranking, not the (tiny) click rate.
            nn.init.constant_(self.head.bias, float(np.log(prior / (1.0 - prior))))

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (B, H)
        # The head runs in float32 even under bf16 autocast: bf16 logits carry ~3 digits and would tie many scores.
        with torch.autocast(device_type=pooled.device.type, enabled=False):
            logit = self.head(pooled.float())  # (B, 1)
        return logit.squeeze(-1)  # (B,)


class ScorerModule(L.LightningModule):
    """Steps, logging and the optimizer for RelevanceNet under binary cross-entropy."""

    def __init__(self, net: RelevanceNet, learning_rate: float, pos_weight: float | None = None) -> None:
        """pos_weight > 1 up-weights positives in the loss (and shifts every logit up by log(pos_weight))."""
        super().__init__()
        self.net = net
        self.learning_rate = learning_rate
        self.pos_weight = pos_weight
        self._val_logits: list[Tensor] = []
        self._val_labels: list[Tensor] = []

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.net(input_ids, attention_mask)

    def _loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        weight = None if self.pos_weight is None else logits.new_tensor(self.pos_weight)
        return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        input_ids, attention_mask, labels = batch
        loss = self._loss(self(input_ids, attention_mask), labels)
        self.log("train_loss", loss, prog_bar=True, batch_size=labels.shape[0])
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        input_ids, attention_mask, labels = batch
        logits = self(input_ids, attention_mask)
        self.log("val_loss", self._loss(logits, labels), prog_bar=True, batch_size=labels.shape[0])
        self._val_logits.append(logits.detach().float().cpu())
        self._val_labels.append(labels.detach().cpu())

    def on_validation_epoch_end(self) -> None:
        # AUC is a ranking over the whole split, so it is computed once per epoch, not averaged over batches.
        if self._val_labels:
            labels = torch.cat(self._val_labels).numpy()
            logits = torch.cat(self._val_logits).numpy()
            self.log("val_auc", auc(labels, logits), prog_bar=True)
        self._val_logits.clear()
        self._val_labels.clear()

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        input_ids, attention_mask, _ = batch
        return self(input_ids, attention_mask).float().cpu()  # (B,), off the GPU so rows can be gathered

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.learning_rate)
