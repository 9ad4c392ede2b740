"""Calibration of the scorer's logits into probabilities, fitted on the val split (temperature or isotonic)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression

EPS = 1e-12  # no probability is exactly 0 or 1: downstream takes logs and bins


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


@dataclass(frozen=True)
class Calibrator:
    """logits -> P(outcome). kind "none" is the plain sigmoid; `fitted` is False when val could not support a fit."""

    kind: str
    temperature: float = 1.0
    fitted: bool = False
    isotonic: IsotonicRegression | None = field(default=None, repr=False, compare=False)

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        p = sigmoid(np.asarray(logits, dtype=np.float64) / self.temperature)
        if self.isotonic is not None:
            p = self.isotonic.predict(p)
        return np.clip(p, EPS, 1.0 - EPS)


def fit_calibrator(logits: np.ndarray, labels: np.ndarray, kind: str) -> Calibrator:
    """Fit on val logits and 0/1 labels; with one class (or no rows) there is nothing to fit: the plain sigmoid."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if kind == "none" or y.size == 0 or np.unique(y).size < 2:
        return Calibrator(kind=kind)
    if kind == "temperature":
        # One parameter, so it cannot reorder rows: AUC and NDCG are unchanged, only the probabilities move.
        def nll(log_t: float) -> float:
            p = np.clip(sigmoid(z / np.exp(log_t)), EPS, 1.0 - EPS)
            return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())

        best = minimize_scalar(nll, bounds=(np.log(0.02), np.log(50.0)), method="bounded")
        return Calibrator(kind=kind, temperature=float(np.exp(best.x)), fitted=True)
    if kind == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(sigmoid(z), y)
        return Calibrator(kind=kind, fitted=True, isotonic=iso)
    raise ValueError(f"calibration must be 'temperature', 'isotonic' or 'none'; got {kind!r}")
